"""Split an answer into atomic, checkable claims with character offsets.

Units are sentences, bullet lines and table rows; a sentence is split further at ";" and at
", and" / ", but" when both sides state a separate fact. Lines that cannot be checked
(questions, hedges, opinions, meta lines such as "Note:" or "TL;DR") are kept and marked with
the reason instead of being scored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from skilldeck.tools.verify.text import split_sentences, terms

__all__ = ["Claim", "split_claims"]


@dataclass(frozen=True)
class Claim:
    """One claim: its text, where it sits in the answer, and whether it can be checked."""

    index: int
    text: str
    start: int
    end: int
    check_worthy: bool = True
    reason: str = ""  # why it is not check-worthy

    def to_dict(self) -> dict:
        return {"index": self.index, "text": self.text, "start": self.start, "end": self.end,
                "check_worthy": self.check_worthy, **({"reason": self.reason} if self.reason else {})}


_BULLET = re.compile(r"^\s*(?:[-*•+]|\d{1,3}[.)]|[a-z][.)])\s+")
_HEADING = re.compile(r"^\s*#{1,6}\s+")
# Matched against a stripped line; possessive runs, so a long line that is not a rule fails at once.
_TABLE_RULE = re.compile(r"\|?+\s*+:?+-{2,}+:?+\s*+(?:\|\s*+:?+-{2,}+:?+\s*+)*+\|?+")
_META = re.compile(r"^\s*(?:\**)(?:note|tl;?dr|disclaimer|summary|assumption|caveat|edit|update|p\.?s\.?|"
                   r"sources?|references?|in summary|in conclusion)\b\s*\**\s*[:\-]", re.IGNORECASE)
_PARTICLE = re.compile(r"^\W*(?:yes|yeah|yep|no|nope|not really|not quite|not exactly|not at all)\W*$", re.IGNORECASE)
_HEDGE = re.compile(r"\b(?:i think|i believe|i guess|i'm not sure|i am not sure|not sure|maybe|perhaps|possibly|"
                    r"might be|may be|could be|it seems|seems to|i don't know|i do not know|unclear|"
                    r"it is possible|probably)\b", re.IGNORECASE)
_OPINION = re.compile(r"\b(?:in my opinion|i feel|i recommend|i suggest|we recommend|you should|you can|you may|"
                      r"let me|i hope|i'd|i would|feel free|great question|happy to help|hope this helps|"
                      r"best of luck|good luck)\b", re.IGNORECASE)
# A run of spaces starts a match only at its first space, so a long run costs one pass, not one per space.
_CLAUSE_SPLIT = re.compile(r";\s+|,\s+(?:and|but|while|whereas)\s+|(?<!\s)\s+(?:whereas|while)\s+|"
                           r"(?<!\s)\s+and\s+(?=(?:he|she|it|they|we|his|her|its|their|this|these|those|the)\s)",
                           re.IGNORECASE)
# A clause states its own fact when it has a finite verb of its own.
_VERB = re.compile(r"\b(?:is|are|was|were|has|have|had|will|would|can|could|did|does|do|became|become|"
                   r"won|lost|made|began|led|went|came|took|gave|held|wrote|said|told|found|built|"
                   r"[a-z]{3,}ed|[a-z]{3,}s)\b")


_STRONG_VERB = re.compile(r"\b(?:is|are|was|were|has|have|had|will|would|can|could|did|does|became|won|lost|made|"
                          r"began|led|went|came|took|gave|held|wrote|said|told|found|built|[a-z]{3,}ed)\b")


def split_claims(text: str) -> list[Claim]:
    """Split `text` into claims with offsets into `text`; mark the ones that cannot be checked."""
    claims: list[Claim] = []
    for start, end in _units(text):
        for clause in _clauses(text, start, end):
            for a, b in _bounded(text, *clause):
                piece = text[a:b]
                reason = _not_check_worthy(piece)
                claims.append(Claim(len(claims), piece, a, b, not reason, reason))
    return claims


# A claim is scored against every evidence sentence by each of its words: one "claim" of 50,000
# characters and thousands of words against 4 MB of evidence took 3.7 GB and ran 21 s past its
# time limit. Longer runs are checked as pieces of at most this many characters, cut between words.
MAX_CLAIM_CHARS = 600


def _bounded(text: str, a: int, b: int) -> list[tuple[int, int]]:
    """(a, b) as pieces of at most MAX_CLAIM_CHARS characters, each ending at a space where there is one."""
    pieces = []
    while b - a > MAX_CLAIM_CHARS:
        cut = text.rfind(" ", a + MAX_CLAIM_CHARS // 2, a + MAX_CLAIM_CHARS)
        cut = cut if cut > a else a + MAX_CLAIM_CHARS
        pieces.append((a, cut))
        a = cut
        while a < b and text[a] == " ":
            a += 1
    if a < b:
        pieces.append((a, b))
    return pieces


def _units(text: str) -> list[tuple[int, int]]:
    """Spans of lines (bullets, table rows, headings) and of the sentences inside prose lines."""
    spans: list[tuple[int, int]] = []
    pos = 0
    paragraph: list[tuple[int, int]] = []
    for line in text.splitlines(keepends=True):
        a, b = pos, pos + len(line.rstrip("\r\n"))
        pos += len(line)
        stripped = line.strip()
        structured = bool(_BULLET.match(line) or _HEADING.match(line) or stripped.startswith("|"))
        if not stripped or structured:
            spans += _flush(text, paragraph)
            paragraph = []
        if not stripped or _TABLE_RULE.fullmatch(stripped):
            continue
        if structured:
            marker = _BULLET.match(line) or _HEADING.match(line)
            a += marker.end() if marker else 0
            if stripped.startswith("|"):
                spans += _cells_as_row(text, a, b)
                continue
            spans += [(a + x, a + y) for x, y in split_sentences(text[a:b])]
        else:
            paragraph.append((a, b))
    spans += _flush(text, paragraph)
    return spans


def _flush(text: str, lines: list[tuple[int, int]]) -> list[tuple[int, int]]:
    if not lines:
        return []
    a, b = lines[0][0], lines[-1][1]
    return [(a + x, a + y) for x, y in split_sentences(text[a:b])]


def _cells_as_row(text: str, a: int, b: int) -> list[tuple[int, int]]:
    # A table row is one claim; offsets cover the row without its outer pipes.
    row = text[a:b]
    inner_a = a + len(row) - len(row.lstrip(" |"))
    inner_b = b - (len(row) - len(row.rstrip(" |")))
    return [(inner_a, inner_b)] if inner_b > inner_a else []


_PAUSE = re.compile(r"[,:;(\u2013\u2014]")


def _clauses(text: str, a: int, b: int) -> list[tuple[int, int]]:
    """Split a sentence at clause boundaries where both sides carry their own verb."""
    piece = text[a:b]
    cuts = [m for m in _CLAUSE_SPLIT.finditer(piece) if piece.count("(", 0, m.start()) <= piece.count(")", 0, m.start())]
    if not cuts:
        return [(a, b)]
    out: list[tuple[int, int]] = []
    start = 0
    for m in cuts:
        left, right = piece[start:m.start()], piece[m.end():].split(";")[0]
        # A bare "and" needs an unmistakable verb on its right before the next pause: "and the arts" is
        # a list, not a clause, and so is "by BetterUp Labs and the Stanford Lab: output that has ...".
        bare_and = m.group().strip().lower() == "and"
        if _is_clause(left) and _is_clause(right) and (not bare_and or _STRONG_VERB.search(_PAUSE.split(right, maxsplit=1)[0])):
            out.append((start, m.start()))
            start = m.end()
    out.append((start, len(piece)))
    return [(a + x, a + y) for x, y in out if piece[x:y].strip()]


def _is_clause(piece: str) -> bool:
    return len(piece.split()) >= 3 and bool(_VERB.search(piece))


def _not_check_worthy(piece: str) -> str:
    stripped = piece.strip().strip("*_")
    if not terms(stripped).stems:
        return "no content words"
    if stripped.endswith("?"):
        return "question"
    if _META.match(stripped):
        return "meta line"
    if _PARTICLE.match(stripped):
        return "a bare yes or no"  # checked as the question's statement when the question asks yes or no
    if stripped.endswith(":") and len(stripped.split()) <= 8:
        return "heading or lead-in"
    if _HEDGE.search(stripped):
        return "hedged"
    if _OPINION.search(stripped):
        return "opinion or advice"
    return ""
