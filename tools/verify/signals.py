"""Answer-level signals (F.A.C.T.): Fabricated specifics, Authority with no source, Context drift, Time words.

These look at the whole answer, not one claim: a precise number or a DOI that the evidence
never mentions, "studies show" with no study, an answer that does not address the question,
and "recently" or "the latest" with no date to anchor it.
"""

from __future__ import annotations

import re

from skilldeck.tools.verify.checks import Signal, check_attribution
from skilldeck.tools.verify.evidence import EvidenceSet
from skilldeck.tools.verify.text import QUESTION_WORDS, entities, numbers, stem, terms

__all__ = ["fabricated_specifics", "unsourced_authority", "drift", "unanchored_time", "expected_answer_type"]

_URL = re.compile(r"https?://[^\s)\]>\"']+|\bwww\.[^\s)\]>\"']+", re.IGNORECASE)
_DOI = re.compile(r"\b10\.\d{4,9}/[^\s\"<>]+", re.IGNORECASE)
_CITATION = re.compile(r"\(([A-Z][A-Za-z'-]+(?: et al\.?| and [A-Z][A-Za-z'-]+)?),? (\d{4})\)|"
                       r"\b([A-Z][A-Za-z'-]+ et al\.?),? \(?(\d{4})\)?")
_TIME_WORDS = re.compile(r"\b(?:recently|recent|lately|the latest|latest|newest|currently|current|nowadays|"
                         r"these days|right now|as of now|as of today|to date|this (?:year|month|week|quarter)|"
                         r"last (?:year|month|week)|next (?:year|month)|today|now|up-to-date|just (?:released|"
                         r"announced|launched))\b", re.IGNORECASE)
_DATE_ANCHOR = re.compile(r"\b(?:1[5-9]\d\d|20\d\d)\b|\b(?:january|february|march|april|may|june|july|august|september|"
                          r"october|november|december)\b", re.IGNORECASE)


def fabricated_specifics(answer: str, evidence: EvidenceSet, question: str = "") -> list[Signal]:
    """Precise numbers, names, citations, URLs and DOIs in the answer that neither evidence nor question holds."""
    known = evidence.lowered + "\n" + question.lower()
    out: list[Signal] = []
    for m in list(_URL.finditer(answer)) + list(_DOI.finditer(answer)):
        if m.group().rstrip(".,;").lower() not in known:
            out.append(Signal("fabricated_link", f"{m.group().rstrip('.,;')!r} is not in the evidence"))
    for m in _CITATION.finditer(answer):
        author = (m.group(1) or m.group(3) or "").split()[0].lower()
        if author not in known:
            out.append(Signal("fabricated_citation", f"citation {m.group()!r} is not in the evidence"))
    q_numbers = {round(v, 6) for v, _, _ in numbers(question)}
    for value, kind, surface in numbers(answer):
        if surface.isalpha() or round(value, 6) in evidence.number_values or round(value, 6) in q_numbers:
            continue
        out.append(Signal("fabricated_number", f"{surface!r} is not in the evidence"))
    q_stems = terms(question).stems
    for name in entities(answer):
        words = [stem(w.lower()) for w in re.findall(r"[\w'-]+", name)]
        words = [w for w in words if w not in q_stems]
        if words and all(w not in evidence.stems for w in words):
            out.append(Signal("fabricated_name", f"{name!r} is not in the evidence"))
    return _unique(out)


def unsourced_authority(answer: str, evidence: EvidenceSet) -> list[Signal]:
    """Attributions ("according to a 2023 FDA paper", "studies show") with no traceable source in the evidence."""
    return _unique(check_attribution(answer, evidence.lowered, evidence.stems))


_YES_NO_START = re.compile(r"^\s*(?:is|are|was|were|do|does|did|can|could|should|would|will|has|have|had|may|must)\b",
                           re.IGNORECASE)
_WH = re.compile(r"\b(how (?:many|much|long|far|old|big|tall|large|often)|when|who|whom|whose|where|why|what|which|"
                 r"how)\b", re.IGNORECASE)
_QUANTITY_NOUN = re.compile(r"^(?:\w+ ){0,3}?(?:length|population|number|size|height|distance|age|amount|"
                            r"percentage|cost|price|capacity|weight|speed|depth|width|total|budget|salary|score)\b")
_TIME_NOUN = re.compile(r"^(?:\w+ ){0,2}?(?:year|date|time|decade|century|month|day|era|period)\b")
_PLACE_NOUN = re.compile(r"^(?:\w+ ){0,2}?(?:city|country|state|place|town|region|continent|county|province|island|"
                         r"location|village|district)\b")


def expected_answer_type(question: str) -> str:
    """The kind of answer a question asks for: quantity, time, person, place, reason, yes_no, choice, name, other.

    The opening question word decides ("What is the length of the track where ..." asks for a quantity).
    """
    q = question.strip().lower()
    if _YES_NO_START.match(q):
        return "choice" if re.search(r"\bor\b", q) else "yes_no"
    found = list(_WH.finditer(q))
    if not found:
        return "other"
    # A question that opens with its question word asks that; otherwise the last one is the real
    # ask ("... a driver who retired in what year?").
    m = found[0] if found[0].start() == 0 else found[-1]
    word, rest = m.group(1), q[m.end():].strip()
    rest = re.sub(r"^(?:is|was|are|were|the|a|an|of)\s+", "", re.sub(r"^(?:is|was|are|were)\s+", "", rest))
    if word.startswith("how ") or (word in ("what", "which") and _QUANTITY_NOUN.match(rest)):
        return "quantity"
    if word == "when" or (word in ("what", "which") and _TIME_NOUN.match(rest)):
        return "time"
    if word in ("who", "whom", "whose"):
        return "person"
    if word == "where" or (word in ("what", "which") and _PLACE_NOUN.match(rest)):
        return "place"
    if word == "why":
        return "reason"
    return "name" if word in ("what", "which") else "other"


def _has_type(answer: str, kind: str) -> bool:
    if kind == "quantity":
        return bool(numbers(answer))
    if kind == "time":
        return bool(_DATE_ANCHOR.search(answer) or numbers(answer) or _TIME_WORDS.search(answer) or entities(answer)
                    or re.search(r"\b(?:era|age|century|decade|period|dynasty|reign)\b", answer, re.IGNORECASE))
    if kind in ("person", "place"):
        return bool(entities(answer)) or bool(re.match(r"\s*[A-Z]", answer))
    if kind == "reason":
        return bool(re.search(r"\b(?:because|due to|since|as a result|so that|in order to|caused by|reason)\b",
                              answer, re.IGNORECASE))
    if kind == "choice":
        return True  # picking one of the options is judged by the overlap below
    if kind == "yes_no":
        return bool(re.search(r"\b(?:yes|no|not|never|can|cannot|can't|should|shouldn't|does|doesn't|do|don't|is|"
                              r"isn't|are|aren't|was|wasn't|will|won't)\b", answer, re.IGNORECASE))
    return True


def drift(answer: str, question: str) -> list[Signal]:
    """The answer misses the question: few of its key terms and not the kind of answer it asks for."""
    if not question.strip():
        return []
    q_terms = {s for s in terms(question).stems if s not in QUESTION_WORDS}
    a_terms = terms(answer).stems
    overlap = len(q_terms & a_terms) / len(q_terms) if q_terms else 1.0
    kind = expected_answer_type(question)
    typed = _has_type(answer, kind)
    if kind == "yes_no" and re.match(r"\s*(?:yes|no)\b", answer, re.IGNORECASE):
        drifted = False  # a plain yes or no answers a yes/no question
    elif kind in ("yes_no", "reason", "choice"):
        # A relevant answer to these repeats some of the question's terms (or names an option).
        drifted = not typed or overlap == 0
    else:
        drifted = not typed and overlap < 0.5
    if not drifted:
        return []
    detail = (f"answer does not address the question: {overlap:.0%} of its key terms appear and the "
              f"expected {kind.replace('_', '/')} answer is {'present' if typed else 'missing'}")
    return [Signal("drift", detail)]


def unanchored_time(text: str) -> list[Signal]:
    """Time words ("recently", "the latest", "this year") in a sentence that carries no date."""
    out: list[Signal] = []
    for m in _TIME_WORDS.finditer(text):
        start = max(text.rfind(".", 0, m.start()), text.rfind("\n", 0, m.start())) + 1
        end_dot = text.find(".", m.end())
        sentence = text[start: end_dot if end_dot >= 0 else len(text)]
        if not _DATE_ANCHOR.search(sentence):
            out.append(Signal("unanchored_time", f"{m.group()!r} has no date to anchor it"))
    return _unique(out)


def _unique(signals: list[Signal]) -> list[Signal]:
    seen: set[tuple[str, str]] = set()
    out = []
    for s in signals:
        if (s.name, s.detail) not in seen:
            seen.add((s.name, s.detail))
            out.append(s)
    return out
