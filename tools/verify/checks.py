"""Hard checks that lexical overlap misses: numbers, names, negation, antonyms, exclusive terms, attribution.

Each check looks at one claim against the evidence and returns the signals it fired. A
signal is a short name plus a human-readable detail; `contradicts=True` means the evidence
says something different (not merely nothing).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass

from skilldeck.tools.tokens import is_common
from skilldeck.tools.verify.text import (NEGATION_CUES, SELF_SOURCES, STOPWORDS, content_words, entities,
                                         normalise_quotes, numbers, quantities, stem, terms)

__all__ = ["Signal", "check_numbers", "check_entities", "check_negation", "check_antonyms", "check_exclusive",
           "check_attribution", "check_swapped_word", "check_roles",
           "attribution_sources", "VAGUE_AUTHORITY"]


@dataclass(frozen=True)
class Signal:
    """One fired check: `name` (stable identifier), `detail` (for people), and whether it contradicts.

    `doubt`: the check casts doubt without being evidence against the claim (a swapped word may be
    a paraphrase). It keeps the claim from being settled as supported (it is unsure, for a judge
    to decide) but leaves the lexical lean and the calibrated probability as they were."""

    name: str
    detail: str
    contradicts: bool = False
    doubt: bool = False

    def to_dict(self) -> dict:
        return {"name": self.name, "detail": self.detail, **({"contradicts": True} if self.contradicts else {}),
                **({"doubt": True} if self.doubt else {})}


_APPROX = re.compile(r"\b(?:about|around|approximately|approx\.?|nearly|roughly|almost|some|circa|c\.|~)\s*$",
                     re.IGNORECASE)
_AT_LEAST = re.compile(r"\b(?:over|more than|above|at least|exceeding|upwards of)\s*$", re.IGNORECASE)
_AT_MOST = re.compile(r"\b(?:under|less than|fewer than|below|at most|up to)\s*$", re.IGNORECASE)


_CENTURY = re.compile(r"(?:st|nd|rd|th)?[\s-]++century\b", re.IGNORECASE)


def _matches(value: float, kind: str, surface: str, claim: str, ev_numbers: set[float]) -> bool:
    if round(value, 6) in ev_numbers:
        return True
    pos = claim.find(surface)
    before = claim[:pos] if pos >= 0 else ""
    if pos >= 0 and _CENTURY.match(claim, pos + len(surface)) and value == int(value):
        # "the 16th century" holds the years 1501-1600 ("1570", "the 1500s").
        return any((value - 1) * 100 <= e <= value * 100 for e in ev_numbers)
    if _AT_LEAST.search(before):
        return any(value < e <= value * 1.5 for e in ev_numbers)  # "over 400" fits 440, not 4,000
    if _AT_MOST.search(before):
        return any(value * 0.5 <= e < value for e in ev_numbers)
    if _APPROX.search(before):
        # "about 6 km" is consistent with 6.213 km: compare at the claim's own precision.
        decimals = len(surface.split(".")[1]) if "." in surface else 0
        tolerance = 0.5 * 10 ** -decimals if decimals else max(0.5, abs(value) * 0.05)
        return any(abs(e - value) <= tolerance for e in ev_numbers)
    return False


_ORDINAL_WORD = re.compile(r"first|second|third|[a-z]+th")


def check_numbers(claim: str, window_numbers: list[tuple[float, str, str]], evidence_numbers: set[float],
                  evidence_stems: frozenset[str], evidence_units: dict[float, set[str]] | None = None) -> list[Signal]:
    """Every number, quantity or date in the claim must appear in the evidence.

    A quantity matches only a value in the same unit ("240 miles" is not "300 km"). A number
    absent from all evidence is `number_absent`; when the best evidence window holds a
    different number of the same kind (a year for a year, a percentage for a percentage) it is
    `number_mismatch`, a contradiction. A number written as a word ("first", "three") that the
    evidence lacks, where the best window holds no other number of its kind (or it is an ordinal),
    is `number_word_absent`: such words are often implied rather than stated ("13 years since I was
    on a stage" for "her first appearance in 13 years", three names listed for "the three
    applicants"), so it counts against the claim like a missing word, not as a fabricated specific:
    the rest of the evidence decides between unsure and not supported.
    """
    signals: list[Signal] = []
    claim_units = {round(v, 6): unit for v, unit in quantities(claim)}
    for value, kind, surface in numbers(claim):
        unit = claim_units.get(round(value, 6))
        candidates = evidence_numbers
        if unit and evidence_units:
            # Only values given in the same unit, or in none, can match "240 miles".
            candidates = {e for e in evidence_numbers if unit in evidence_units.get(e, {unit})}
        if _matches(value, kind, surface, claim, candidates):
            continue
        if surface.isalpha() and stem(surface.lower()) in evidence_stems:
            continue  # "three" written out in both
        rivals = [s for v, k, s in window_numbers if k == kind and not s.isalpha()]
        if rivals and not surface.isalpha():
            signals.append(Signal("number_mismatch", f"claim says {surface!r}; evidence says {rivals[0]!r}", True))
        elif surface.isalpha() and (not rivals or _ORDINAL_WORD.fullmatch(surface.lower())):
            # An ordinal ranks ("her first role in 13 years"): the window's other numbers are no rival to it.
            signals.append(Signal("number_word_absent", f"{surface!r} is not in the evidence"))
        else:
            signals.append(Signal("number_absent", f"{surface!r} is not in the evidence"))
    return signals


_POSSESSIVE = re.compile(r"'s?$")
# Country abbreviations and the words that spell them out.
_SPELLED_OUT = {"us": ("united", "states"), "usa": ("united", "states"), "uk": ("united", "kingdom"),
                "un": ("united", "nations"), "eu": ("european", "union")}


def _is_alias(name: str, names: tuple[str, ...], found: Callable[[str], bool]) -> bool:
    """An acronym that abbreviates another name of the claim ("National Institutes of Health (NIH)"),
    or a country abbreviation whose spelled-out words the evidence holds ("U.S." for "United States")."""
    letters = name.replace(".", "").strip()
    if not (letters.isupper() and 2 <= len(letters) <= 6 and letters.isalpha()):
        return False
    key = letters.lower()
    if key in _SPELLED_OUT and all(found(stem(w)) for w in _SPELLED_OUT[key]):
        return True
    for other in names:
        initials = "".join(w[0] for w in re.findall(r"[A-Za-z][\w'-]*", other) if w[0].isupper())
        if other != name and initials.lower() == key:
            return True
    return False


def check_entities(claim: str, found: Callable[[str], bool]) -> list[Signal]:
    """Names in the claim (capitalised runs) whose words are not found (`found(stem)` is false)."""
    signals: list[Signal] = []
    names = entities(claim)
    for name in names:
        if _is_alias(name, names, found):
            continue
        # "Adams's" is Adams; "U-30" is "u" and "30", "MAX_RETRIES" "max" and "retries", as the coverage analysis has them.
        words = [stem(part) for w in re.findall(r"[\w.'-]+", normalise_quotes(name))
                 for part in re.split(r"[-_]", _POSSESSIVE.sub("", w.lower().strip(".,'\"")))]
        words = [w for w in words if w and w not in STOPWORDS and not w.isdigit()]
        missing = [w for w in words if not found(w)]
        if missing and (len(missing) * 2 > len(words) or len(words) == 1):
            signals.append(Signal("entity_absent", f"{name!r} is not in the evidence"))
    return signals


def check_negation(claim: str, evidence_sentence: str) -> list[Signal]:
    """A claim and its best evidence that disagree on negation ("did not win" vs "won").

    Only a negation next to a word both sides share counts: "no" in an unrelated part of
    the evidence sentence says nothing about the claim. A bare name ("Ford Fusion": no word
    that is not capitalised) asserts no predicate, so nothing in the evidence can negate it.
    """
    ct = terms(claim)
    if not ct.negations and all(ct.surface[w][:1].isupper() or w[:1].isdigit() for w in ct.stems):
        return []
    c_tokens, e_tokens = _words(claim), _words(evidence_sentence)
    shared = ({w for w in c_tokens if w not in STOPWORDS} & {w for w in e_tokens if w not in STOPWORDS}) - {_BREAK}
    c_neg, e_neg = _local_negation(c_tokens, shared), _local_negation(e_tokens, shared)
    if c_neg != e_neg and _negated(claim, c_tokens) != _negated(evidence_sentence, e_tokens):
        side = "claim" if c_neg else "evidence"
        return [Signal("negation_mismatch", f"the {side} is negated and the other is not", True)]
    return []


_BREAK = ","  # where a clause or an aside ends, in `_words`' output (a comma, semicolon, colon, bracket or dash)


def _words(text: str) -> list[str]:
    """Stems with negations as "not" ("has little substance" is "lacks substance"; "a little" is not)."""
    out: list[str] = []
    for w in re.findall(r"[A-Za-z0-9]+(?:'t)?|[,;:()\u2013\u2014]", normalise_quotes(text)):
        if not w[0].isalnum():
            out.append(_BREAK)
        elif w in _SCARCE and out[-1:] != ["a"]:
            out.append(_SCARCE_NOT)
        elif w.endswith("n't") or w.lower() == "cannot":
            out.append("not")
        else:
            out.append(stem(w.lower()))
    return out


_SCARCE = frozenset({"little", "few"})  # lowercase only: "Little Women" is a name
_SCARCE_NOT = "not:scarce"


def _negated(text: str, tokens: list[str]) -> bool:
    return terms(text).negations > 0 or _SCARCE_NOT in tokens


_NEG_STEMS = frozenset(stem(w) for w in NEGATION_CUES) | {"not", _SCARCE_NOT}


def _local_negation(tokens: list[str], shared: set[str], reach: int = 3) -> bool:
    """A negation with a shared word among the `reach` words after it, or just before it in its own
    clause: in "make override first-class, not an afterthought" the "not" is about the afterthought."""
    for i, w in enumerate(tokens):
        if w not in _NEG_STEMS:
            continue
        after = [t for t in tokens[i + 1:i + 1 + 2 * reach] if t != _BREAK][:reach]
        if any(t in shared for t in after) or (i and tokens[i - 1] in shared):
            return True
    return False


_ANTONYMS = [("increase", "decrease"), ("rise", "fall"), ("more", "less"), ("larger", "smaller"),
             ("higher", "lower"), ("before", "after"), ("first", "last"), ("won", "lost"), ("win", "lose"),
             ("north", "south"), ("east", "west"), ("male", "female"), ("older", "younger"), ("earlier", "later"),
             ("maximum", "minimum"), ("true", "false"), ("legal", "illegal"), ("safe", "unsafe"),
             ("possible", "impossible"), ("alive", "dead"), ("open", "closed"), ("accept", "reject"),
             ("allow", "forbid"), ("above", "below"), ("majority", "minority"), ("gain", "loss"),
             ("success", "failure"), ("positive", "negative"), ("born", "died")]
_OPPOSITE = {stem(a): stem(b) for a, b in _ANTONYMS} | {stem(b): stem(a) for a, b in _ANTONYMS}


def check_antonyms(claim: str, evidence_sentence: str) -> list[Signal]:
    """The claim uses a word whose opposite appears in the evidence and the word itself does not."""
    c_words = {stem(w) for w in re.findall(r"[a-z]+", claim.lower())}
    e_words = {stem(w) for w in re.findall(r"[a-z]+", evidence_sentence.lower())}
    for w in c_words & _OPPOSITE.keys():
        if _OPPOSITE[w] in e_words and w not in e_words and _OPPOSITE[w] not in c_words:
            return [Signal("antonym", f"claim says {w!r}, evidence says {_OPPOSITE[w]!r}", True)]
    return []


# Closed classes whose members exclude each other: an American director is not an English one.
_EXCLUSIVE = [frozenset(group.split()) for group in (
    "american british english scottish welsh irish canadian australian french german italian spanish portuguese "
    "dutch belgian swiss austrian swedish norwegian danish finnish polish russian ukrainian czech greek turkish "
    "chinese japanese korean indian pakistani iranian israeli egyptian mexican brazilian argentine argentinian "
    "chilean colombian peruvian cuban nigerian kenyan south-african hungarian romanian serbian croatian",
    "january february march april may june july august september october november december",
    "monday tuesday wednesday thursday friday saturday sunday",
    "red orange yellow green blue purple violet pink brown black white grey gray",
    "spring summer autumn winter",
)]


# Month names that are also ordinary words ("may", "march") are ambiguous: never evidence.
_AMBIGUOUS = frozenset({"may", "march"})


def check_exclusive(claim: str, evidence_sentences: list[str]) -> list[Signal]:
    """The claim names a member of a closed class (nationality, month, weekday, colour, season) and
    its evidence window names only other members of that class ("American" against "English")."""
    c_words = set(re.findall(r"[a-z]+(?:-[a-z]+)?", claim.lower())) - _AMBIGUOUS
    e_words = set(re.findall(r"[a-z]+(?:-[a-z]+)?", " ".join(evidence_sentences).lower())) - _AMBIGUOUS
    for group in _EXCLUSIVE:
        said = c_words & group
        if not said or said & e_words:
            continue
        rivals = (e_words & group) - c_words
        if rivals:
            return [Signal("exclusive_mismatch", f"claim says {sorted(said)[0]!r}; evidence says {sorted(rivals)[0]!r}",
                           True)]
    return []


_SWAP_ALIGNED = 0.6  # share of the claim's content words a sentence must match in order to be its source
_SWAP_MAX_WORDS = 60  # content words of a claim this check reads (a sentence, not a document)


def check_swapped_word(claim: str, evidence_sentences: list[str]) -> list[Signal]:
    """The claim copies an evidence sentence but one or two uncommon words are another's.

    "a robot that senses and acts just like a boa" against "a robot that senses and acts just
    like a honeybee": every word but the swapped one is there, in order, so coverage passes, and
    the swapped word may stand elsewhere in a long source. This is how a summary moves a name or
    a thing from one event to another. The claim must follow one window sentence (most of its
    content words matched in order), the swap must sit right after at least two matched words,
    and the swapped words must not be common ones (those are the ones a paraphrase changes:
    "said" for "confirmed", "population" for "people"), nor a form of the evidence's word.
    """
    claim_words = content_words(claim)
    stems = [s for s, _ in claim_words]
    if len(stems) > _SWAP_MAX_WORDS:
        return []
    best = None
    for sentence in evidence_sentences:
        other = content_words(sentence)[:_SWAP_MAX_WORDS * 8]  # alignment time grows with both lengths
        matcher = difflib.SequenceMatcher(None, stems, [s for s, _ in other], autojunk=False)
        matched = sum(block.size for block in matcher.get_matching_blocks())
        if best is None or matched > best[0]:
            best = (matched, other, matcher)
    if best is None or best[0] < _SWAP_ALIGNED * len(stems):
        return []
    _, other, matcher = best
    ops = matcher.get_opcodes()
    for k, (tag, i1, i2, j1, j2) in enumerate(ops):
        if tag == "replace" and i2 == len(stems):
            j2 = min(j2, j1 + i2 - i1)  # the claim ends here; the sentence may go on
        if tag != "replace" or i2 - i1 > 2 or j2 - j1 > 2:
            continue
        said, there = claim_words[i1:i2], other[j1:j2]
        if any(a.startswith(b) or b.startswith(a) for a, _ in said for b, _ in there) or \
                "".join(a for a, _ in said) == "".join(b for b, _ in there):
            continue  # "phone" / "smartphone", "predated" / "pre-dated"
        if any(word[:1].isdigit() for _, word in [*said, *there]):
            continue  # numbers and dates are the number check's
        if all(is_common(word) for _, word in said):
            continue  # common words are the ones paraphrases swap
        before = ops[k - 1][2] - ops[k - 1][1] if k and ops[k - 1][0] == "equal" else 0
        after = ops[k + 1][2] - ops[k + 1][1] if k + 1 < len(ops) and ops[k + 1][0] == "equal" else 0
        if before >= 2 and (after >= 1 or i2 == len(stems)):
            words = " ".join(word for _, word in said)
            return [Signal("word_swapped", f"the claim follows the evidence sentence but says {words!r} where it "
                                           f"has {' '.join(word for _, word in there)!r}", doubt=True)]
    return []


# Verbs that tie a work or a thing to the person or body behind it, by the role they name.
_ROLE_OF = {v: role for role, forms in {
    "direct": "directed direct directs", "write": "wrote written writes write authored",
    "found": "founded co-founded", "create": "created creates", "compose": "composed", "produce": "produced",
    "design": "designed", "develop": "developed", "invent": "invented", "discover": "discovered",
    "publish": "published", "paint": "painted", "build": "built", "own": "owned", "play": "played",
    "coach": "coached", "sing": "sung sang", "perform": "performed", "record": "recorded", "edit": "edited",
    "illustrate": "illustrated", "narrate": "narrated", "host": "hosted", "voice": "voiced", "portray": "portrayed",
}.items() for v in forms.split()}
_ROLE_VERB = "|".join(sorted(_ROLE_OF, key=len, reverse=True))
# A run of capitalised words; a period only as an initial ("J. K. Rowling"), so a span never runs
# across the end of a sentence.
_NAME_WORD = r"(?:[A-Z]\.|[A-Z][\w'’-]*)"
_NAME_SPAN = rf"({_NAME_WORD}(?:\s+(?:{_NAME_WORD}|de|van|von|da|di|del|la|le)){{0,7}})"  # bounded: linear time
_BY_AGENT = re.compile(rf"\b({_ROLE_VERB})\s+by\s+(?:the\s+)?{_NAME_SPAN}")
_AGENT_VERB = re.compile(rf"{_NAME_SPAN}\s+(?:also\s+|later\s+|has\s+|had\s+)?({_ROLE_VERB})\b")
_NAME_JOINERS = frozenset("the de van von da di del la le".split())
_ROLE_MAX_CHARS = 2_000  # of a claim: a role is stated near its start


def _agents(text: str, active: bool = False) -> dict[str, list[str]]:
    """Role -> the names the text gives it: "directed by Peter Chelsom" (and "Lucy Gordon directed")."""
    found: dict[str, list[str]] = {}
    for m in _BY_AGENT.finditer(text):
        found.setdefault(_ROLE_OF[m.group(1)], []).append(m.group(2))
    if active:
        for m in _AGENT_VERB.finditer(text):
            found.setdefault(_ROLE_OF[m.group(2)], []).append(m.group(1))
    return found


def _name_words(name: str) -> set[str]:
    return {w.lower().strip(".'’") for w in name.split()} - _NAME_JOINERS


def check_roles(claim: str, window: list[str], evidence_text: str) -> list[Signal]:
    """The claim gives a role ("Lucy Gordon directed Serendipity") to someone the evidence does not:
    its window says "directed by Peter Chelsom" and nowhere does the evidence give that role to Lucy
    Gordon. A doubt, not a contradiction: a work can have two directors and the evidence name one."""
    said = _agents(claim[:_ROLE_MAX_CHARS], active=True)
    if not said:
        return []
    stated = _agents(" ".join(window))
    anywhere: dict[str, list[str]] | None = None  # the whole evidence is read only for a candidate mismatch
    for role, names in said.items():
        if role not in stated:
            continue
        for name in names:
            words = _name_words(name)
            if not words or any(words & _name_words(other) for other in stated[role]):
                continue
            anywhere = _agents(evidence_text) if anywhere is None else anywhere
            if not any(words & _name_words(other) for other in anywhere.get(role, ())):
                return [Signal("role_mismatch", f"the claim gives '{role}' to {name!r}; the evidence gives it to "
                                                f"{stated[role][0]!r}", doubt=True)]
    return []


_ATTRIBUTION = re.compile(
    r"\baccording to (?:an? |the )?(?P<a>[^,.;:]{2,60})"
    r"|\b(?:an?|the|one) (?:(?:\d{4}|recent|new|major|landmark|peer-reviewed) )*(?:study|report|survey|paper|"
    r"analysis|review|article|trial|poll|investigation|white paper)(?: (?:by|from|of|in|at|published (?:in|by)) "
    r"(?P<b>[^,.;:]{2,60}))?"
    r"|(?<![\w.&'-])(?P<c>[A-Z][\w.&'-]*+(?: [A-Z][\w.&'-]*+){0,5}) (?:researchers|scientists|experts|officials) (?:said|say|found|"
    r"reported|report|showed|show)"
    r"|\b(?:published|reported|stated|cited) (?:in|by) (?P<d>[^,.;:]{2,60})", re.IGNORECASE)
VAGUE_AUTHORITY = re.compile(
    r"\b(?:studies|research|scientists|experts|doctors|researchers|analysts|sources|reports|surveys|data)"
    r" (?:have )?(?:show|shows|shown|suggest|suggests|say|says|agree|agrees|found|find|confirm|confirms|prove|"
    r"proves|indicate|indicates)\b|\bit is (?:widely |well |generally )?(?:known|accepted|established|"
    r"documented|proven)\b|\b(?:widely|commonly) (?:believed|reported|accepted)\b", re.IGNORECASE)


def attribution_sources(claim: str) -> list[str]:
    """The sources a claim attributes itself to ("according to the FDA" -> "the FDA"; "a 2023 study" -> "2023 study")."""
    out = []
    for m in _ATTRIBUTION.finditer(normalise_quotes(claim)):
        named = next((g for g in m.groups() if g), None)
        out.append((named or m.group()).strip())
    return out


def check_attribution(claim: str, evidence_lowered: str, evidence_stems: frozenset[str]) -> list[Signal]:
    """An attribution whose source cannot be traced in the evidence, or an appeal to vague authority."""
    signals: list[Signal] = []
    for source in attribution_sources(claim):
        if _SELF_SOURCE.fullmatch(source):
            continue  # "the article frames it as ...": the evidence itself
        words = [stem(w) for w in re.findall(r"[\w'-]+", source.lower()) if w not in STOPWORDS]
        words = [w for w in words if w not in _GENERIC_SOURCE]
        if not words:
            # A bare "a study" or "a 2023 report": traceable only if the evidence is such a document.
            words = [w for w in (stem(x) for x in re.findall(r"[a-z]+", source.lower())) if w in _GENERIC_SOURCE]
        if not words or any(w not in evidence_stems for w in words):
            signals.append(Signal("attribution_unsourced", f"attributed to {source!r}, which the evidence does not name"))
    m = VAGUE_AUTHORITY.search(claim)
    if m and m.group().lower() not in evidence_lowered:
        signals.append(Signal("vague_authority", f"{m.group()!r} names no traceable source"))
    return signals


_SELF_SOURCE = re.compile(rf"(?:the|this) (?:{'|'.join(SELF_SOURCES)})", re.IGNORECASE)
_GENERIC_SOURCE = frozenset(stem(w) for w in "study report survey paper analysis review article trial poll new "
                            "recent major landmark peer-reviewed published investigation".split())
