"""What a claim's evidence looks like, as a few numbers the calibrator turns into a probability.

Lexical coverage alone is fooled by long sources: a summary sentence that moves a name or a
number from one event to another, or joins two things the article never relates, still finds
every one of its words somewhere in the article. So besides coverage over the best (possibly
scattered) window, each claim is measured against its best *local* window, a few adjacent
sentences of the document, and asked whether its names and numbers stand together there and
whether its word pairs keep their order.

    f = claim_features(...)      # {"coverage": 0.92, "local": 0.61, "names_local": 0.5, ...}
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from skilldeck.tools.verify.checks import Signal
from skilldeck.tools.verify.evidence import Sentence
from skilldeck.tools.tokens import is_common
from skilldeck.tools.verify.text import Terms, stem_sequence

__all__ = ["FEATURES", "HARD_SIGNALS", "Hits", "claim_features", "local_window"]

# Checks whose failure no judge can overrule: the evidence simply lacks the specific.
HARD_SIGNALS = frozenset({"number_mismatch", "number_absent", "entity_absent", "attribution_unsourced"})
FEATURES = ("coverage", "sentence", "local", "names_local", "pairs", "rare_missing", "size", "predicate_absent",
            "soft_signal", "lean")
# Adjacent sentences in a local window, and how far apart a claim's word pair may stand in it.
LOCAL_SPAN = 3
PAIR_REACH = 4


@dataclass(frozen=True)
class Hits:
    """The evidence sentences that hold any claim word, with the claim words each holds (by position)."""

    by_position: dict[int, frozenset[str]]
    sentences: list[Sentence]


def local_window(hits: Hits, needed: dict[str, float]) -> tuple[list[Sentence], set[str]]:
    """The run of at most `LOCAL_SPAN` adjacent sentences covering most claim weight, and what it covers."""
    best: tuple[float, int, set[str]] = (0.0, -1, set())
    for i in hits.by_position:
        got: set[str] = set()
        for j in range(i, i + LOCAL_SPAN):
            got |= hits.by_position.get(j, frozenset())
        weight = math.fsum(needed.get(w, 0.0) for w in got)
        if weight > best[0]:
            best = (weight, i, got)
    _, start, got = best
    if start < 0:
        return [], set()
    return [hits.sentences[j] for j in range(start, min(start + LOCAL_SPAN, len(hits.sentences)))
            if j in hits.by_position], got


def _share(needed: dict[str, float], covered: set[str]) -> float:
    total = math.fsum(needed.values())
    return math.fsum(needed[w] for w in covered if w in needed) / total if total else 1.0


def _pairs(claim: str, needed: dict[str, float], variants: dict[str, frozenset[str]],
           window: list[Sentence]) -> float:
    """Share of the claim's adjacent content-word pairs that stand close together in one window sentence."""
    seq = [w for w in stem_sequence(claim) if w in needed]
    pairs = [(a, b) for a, b in zip(seq, seq[1:]) if a != b]
    if not pairs:
        return 1.0
    where = [stem_sequence(s.text) for s in window]
    found = 0
    for a, b in pairs:
        va, vb = variants.get(a, frozenset()), variants.get(b, frozenset())
        for words in where:
            pa = [i for i, w in enumerate(words) if w in va]
            if pa and any(abs(i - j) <= PAIR_REACH for j, w in enumerate(words) if w in vb for i in pa):
                found += 1
                break
    return found / len(pairs)


def claim_features(claim: str, claim_terms: Terms, needed: dict[str, float], kinds: dict[str, str],
                   variants: dict[str, frozenset[str]], covered: set[str], coverage: float, hits: Hits,
                   signals: list[Signal], lean: str,
                   local_hit: tuple[list[Sentence], set[str]]) -> dict[str, float]:
    """The calibrator's inputs for one claim (names in `FEATURES`); see the module docstring.

    `local_hit`: what `local_window` returned for this claim."""
    sentence = max((_share(needed, set(got)) for got in hits.by_position.values()), default=0.0)
    local, local_got = local_hit
    specifics = [w for w in needed if kinds[w] in ("name", "number")]
    names_local = sum(w in local_got for w in specifics) / len(specifics) if specifics else 1.0
    rare = {w: v for w, v in needed.items() if kinds[w] in ("word", "name") and not is_common(claim_terms.surface[w])}
    rare_missing = _share(rare, set(rare) - covered) if rare else 0.0
    names = {s.name for s in signals}
    return {"coverage": coverage, "sentence": sentence, "local": _share(needed, local_got),
            "names_local": names_local, "pairs": _pairs(claim, needed, variants, local),
            "rare_missing": rare_missing, "size": math.log1p(len(needed)),
            "predicate_absent": float("predicate_absent" in names),
            "soft_signal": float(bool(names - HARD_SIGNALS - {"predicate_absent"})),
            "lean": float(lean == "supported")}
