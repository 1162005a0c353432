"""Answer-level metrics for evaluation: exact match, JSON validity and match, ROUGE-L."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

__all__ = ["exact_match", "parse_json", "rouge_l", "score_predictions"]

_TOKEN = re.compile(r"\w+|[^\w\s]")


def _norm(text: str) -> str:
    return " ".join(text.strip().split())


def exact_match(prediction: str, reference: str) -> bool:
    """Equal after trimming and collapsing whitespace."""
    return _norm(prediction) == _norm(reference)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError("duplicate key")
    return dict(pairs)


def parse_json(text: str) -> tuple[bool, Any]:
    """(parsed?, value) for a JSON answer, tolerating a surrounding ```json fence.

    An object that repeats a key fails: json.loads would keep the last value, so
    '{"label": "a", "label": "b"}' would pass as "b" while hedging between two answers.
    """
    s = text.strip()
    if s.startswith("```"):
        s = s.strip("`")
        s = s[4:] if s.lower().startswith("json") else s
    try:
        return True, json.loads(s, object_pairs_hook=_unique_keys)
    except ValueError:
        return False, None


def _lcs(a: Sequence[str], b: Sequence[str]) -> int:
    if not a or not b:
        return 0
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b, start=1):
            cur.append(prev[j - 1] + 1 if x == y else max(prev[j], cur[j - 1]))
        prev = cur
    return prev[-1]


def rouge_l(prediction: str, reference: str) -> float:
    """ROUGE-L F1 over lower-cased word and punctuation tokens."""
    p, r = _TOKEN.findall(prediction.lower()), _TOKEN.findall(reference.lower())
    lcs = _lcs(p, r)
    if not lcs:
        return 0.0
    precision, recall = lcs / len(p), lcs / len(r)
    return 2 * precision * recall / (precision + recall)


def score_predictions(predictions: Sequence[str], references: Sequence[str]) -> dict[str, Any]:
    """Exact match and ROUGE-L for all; JSON pass rate and JSON match where references are JSON."""
    n = len(references)
    out: dict[str, Any] = {"examples": n,
                           "exact_match": round(sum(map(exact_match, predictions, references)) / max(n, 1), 4),
                           "rouge_l": round(sum(map(rouge_l, predictions, references)) / max(n, 1), 4)}
    json_refs = [(p, parse_json(r)[1]) for p, r in zip(predictions, references) if parse_json(r)[0]]
    if json_refs:
        parsed = [parse_json(p) for p, _ in json_refs]
        out["json_examples"] = len(json_refs)
        out["json_pass_rate"] = round(sum(ok for ok, _ in parsed) / len(json_refs), 4)
        matches = sum(ok and v == ref for (ok, v), (_, ref) in zip(parsed, json_refs))
        out["json_match"] = round(matches / len(json_refs), 4)
    return out
