"""Per-record checks of instruction data: vague instructions, output formats, labels, tokens."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

from skilldeck.tools.finetune.errors import DatasetError
from skilldeck.tools.finetune.records import Record

__all__ = ["is_vague", "output_format", "token_stats", "label_counts"]

_VAGUE = re.compile(
    r"^\s*(please\s+)?(handle|do|fix|process|deal with|take care of|work on|look at|sort out|help with)"
    r"\s+(this|that|it|the thing|these|stuff|things?|everything)\b"
    r"|^\s*(do|make|fix)\s+(it|the thing|something)\b"
    r"|^\s*(you know what to do|as usual|same as before|the usual|whatever|something|stuff|etc\.?)\s*[.!?]?\s*$",
    re.IGNORECASE)
MAX_TOKENIZER_BYTES = 256_000_000  # the largest tokenizer.json files are tens of MB
_LIST_LINE = re.compile(r"^\s*([-*•]|\d+[.)])\s+\S")


def is_vague(record: Record) -> bool:
    """True for instructions that do not say what to do: "handle this", "do the thing", one word."""
    text = record.instruction.strip()
    if _VAGUE.search(text):
        return True
    # Two words or fewer and no input to give them meaning ("Summarise." is fine with an input).
    return len(text.split()) <= 2 and not record.input.strip() and len(record.prompt) <= 1 and len(text) < 20


def output_format(text: str) -> str:
    """Classify an output: json, json-invalid (looks like JSON, does not parse), code, list, or prose."""
    s = text.strip()
    if s[:1] in "{[":
        try:
            json.loads(s)
            return "json"
        except ValueError:
            return "json-invalid"
    if s.startswith("```"):
        return "code"
    lines = [ln for ln in s.splitlines() if ln.strip()]
    if len(lines) >= 2 and sum(bool(_LIST_LINE.match(ln)) for ln in lines) >= 0.6 * len(lines):
        return "list"
    return "prose"


def label_counts(records: Sequence[Record]) -> Counter[str] | None:
    """Output counts when a task looks like classification (few short distinct outputs), else None."""
    outputs = Counter(r.completion.strip().lower() for r in records)
    if len(records) < 20 or len(outputs) > 20 or len(outputs) < 2:
        return None
    if any(len(o) > 40 for o in outputs) or len(outputs) > 0.2 * len(records):
        return None
    return outputs


def _percentile(sorted_values: Sequence[int], q: float) -> int:
    if not sorted_values:
        return 0
    return sorted_values[min(len(sorted_values) - 1, int(q * (len(sorted_values) - 1) + 0.5))]


def token_stats(lengths: Sequence[int], max_seq_len: int, counter: str) -> dict:
    """Summary of per-example token counts."""
    values = sorted(lengths)
    return {"count": len(values), "min": values[0] if values else 0, "median": _percentile(values, 0.5),
            "p95": _percentile(values, 0.95), "max": values[-1] if values else 0,
            "mean": round(sum(values) / len(values), 1) if values else 0.0,
            "over_limit": sum(v > max_seq_len for v in values), "max_seq_len": max_seq_len, "counter": counter}


def make_counter(tokenizer_path: str | None,
                 within: Sequence[Path] | None = None) -> tuple[Callable[[str], int], str]:
    """A token counter: the model's own tokenizer.json when given, else the cl100k estimate.
    The file is read as a regular file of at most MAX_TOKENIZER_BYTES (inside `within`, when given)."""
    if tokenizer_path:
        # `tokenizers` is light (a Rust extension, no torch); imported here since it is optional.
        from tokenizers import Tokenizer

        from skilldeck.tools.finetune.gguf import find_gguf, tokenizer_folder
        from skilldeck.tools.fs import is_within, read_limited, real_path

        path = Path(tokenizer_path)
        gguf = find_gguf(path)
        if gguf is not None:
            if within and not is_within(real_path(gguf), [real_path(w) for w in within]):
                raise DatasetError(f"tokenizer {str(gguf)!r} lies outside the allowed model folders.")
            # The GGUF's own vocabulary, converted once by transformers into skilldeck's cache (which the
            # server writes itself, so it is read without the caller's folders).
            path, within = tokenizer_folder(gguf), None
        file = path / "tokenizer.json" if path.is_dir() else path
        try:
            data = read_limited(file, MAX_TOKENIZER_BYTES, within or (), what="tokenizer")
            tok = Tokenizer.from_str(data.decode("utf-8"))
        except Exception as exc:  # noqa: BLE001 - refusals, bad UTF-8, and the Rust parser's plain Exception
            raise DatasetError(f"cannot use tokenizer {str(file)!r}: {str(exc)[:300]}; pass a model folder with "
                               "a tokenizer.json, or leave tokenizer out for the cl100k estimate.") from None
        return (lambda text: len(tok.encode(text, add_special_tokens=False).ids)), f"tokenizer {path.name}"
    from skilldeck.tools.tokens import count_tokens

    return count_tokens, "cl100k estimate"
