"""Score one claim against the evidence: retrieve its best window, measure coverage, run the checks.

Coverage is the weighted share of the claim's content words found in the best evidence window
(up to `window` sentences, chosen greedily for new coverage). Numbers and names weigh more than
ordinary words, because they are what a fabricated answer gets wrong; generic and very common
words weigh less, because they are the ones a paraphrase swaps. Words the question already
holds are presupposed and count as covered. A short claim must also have what it says about its
names in the evidence, not only the names (`check_predicate`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from skilldeck.tools.deadline import check as check_deadline
from skilldeck.tools.verify.checks import (Signal, check_antonyms, check_attribution, check_entities, check_negation,
                                           check_exclusive, check_numbers, check_roles,
                                           check_swapped_word)
from skilldeck.tools.verify.evidence import EvidenceSet, Sentence
from skilldeck.tools.verify.features import LOCAL_SPAN, Hits, claim_features, local_window
from skilldeck.tools.tokens import is_common
from skilldeck.tools.verify.text import (LIGHT_WORDS, NUMBER_FORMS, Terms, clip, entities, normalise_quotes,
                                         stem, stem_sequence, terms)

__all__ = ["SupportConfig", "ClaimSupport", "score_claim", "Matcher", "check_predicate", "check_scattered",
           "check_assembled_name", "check_quoted"]


@dataclass(frozen=True)
class SupportConfig:
    """Knobs of the deterministic backend, calibrated once for all data sets.

    `threshold`: coverage at or above which a claim with no failed check is supported.
    `window`: evidence sentences combined into one window; `min_gain`: weight a further sentence
    must add to join it. `*_weight`: weights of word kinds (`common_weight`: ordinary words that
    are among the few thousand most frequent, see `skilldeck.tools.tokens.is_common`).
    `contradiction_min_coverage`: negation and antonym checks only count when the window is about
    the same thing (coverage at least this).
    `predicate_min_coverage`: in a claim of at most `predicate_max_words` content words, at least
    this share of its ordinary words (what it says about its names and numbers) must be found.
    """

    threshold: float = 0.6
    window: int = 2
    min_gain: float = 0.5
    number_weight: float = 2.0
    name_weight: float = 2.5
    short_weight: float = 0.5
    light_weight: float = 0.3
    contradiction_min_coverage: float = 0.8
    predicate_min_coverage: float = 0.3
    common_weight: float = 0.6
    predicate_max_words: int = 6

    check_entities: bool = True
    check_negation: bool = True
    check_doubts: bool = True


@dataclass
class ClaimSupport:
    """The outcome for one claim: verdict, score, fired signals, and the cited evidence sentences."""

    verdict: str  # supported | unsupported | contradicted
    score: float
    coverage: float
    signals: list[Signal] = field(default_factory=list)
    citations: list[Sentence] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    features: dict[str, float] = field(default_factory=dict)
    nearby: list[Sentence] = field(default_factory=list)  # the best run of adjacent sentences


class Matcher:
    """Maps a claim word to the evidence words that count as the same word (exact stem or shared prefix)."""

    def __init__(self, evidence: EvidenceSet) -> None:
        self.evidence = evidence
        self._by_prefix: dict[str, list[str]] = {}
        for s in evidence.stems:
            if len(s) >= 5:
                self._by_prefix.setdefault(s[:4], []).append(s)
        self._cache: dict[str, frozenset[str]] = {}

    def variants(self, word: str) -> frozenset[str]:
        hit = self._cache.get(word)
        if hit is not None:
            return hit
        out = {word} if word in self.evidence.stems else set()
        if NUMBER_FORMS.get(word) in self.evidence.stems:
            out.add(NUMBER_FORMS[word])  # "twenty" and "20"
        if len(word) >= 5:
            # "america"/"american", "found"/"founder": one stem is a prefix of the other.
            for cand in self._by_prefix.get(word[:4], ()):
                if cand != word and min(len(cand), len(word)) >= 5 and (cand.startswith(word) or word.startswith(cand)):
                    out.add(cand)
        result = frozenset(out)
        self._cache[word] = result
        return result


_LIGHT = frozenset(stem(w) for w in LIGHT_WORDS)
# What a call past its time limit is told, by every loop over the evidence's sentences.
_DEADLINE = ("Verifying the answer", "Each claim is checked against all the evidence: verify fewer claims or less "
             "evidence at once.")


def _kind(s: str, claim_terms: Terms) -> str:
    """What a claim word is: number, name, light (generic), short, or word (ordinary content)."""
    if s[:1].isdigit():
        return "number"
    if s in claim_terms.capitalised:
        return "name"
    if s in _LIGHT:
        return "light"
    return "short" if len(s) <= 3 else "word"


def _weights(claim_terms: Terms, config: SupportConfig) -> dict[str, float]:
    kinds = {"number": config.number_weight, "name": config.name_weight, "light": config.light_weight,
             "short": config.short_weight, "word": 1.0}
    weights = {s: kinds[_kind(s, claim_terms)] for s in claim_terms.stems}
    if config.common_weight != 1.0:
        for s, w in weights.items():
            if w == 1.0 and is_common(claim_terms.surface[s]):
                weights[s] = config.common_weight
    return weights


def check_predicate(claim_terms: Terms, needed: dict[str, float], covered: set[str],
                    config: SupportConfig) -> list[Signal]:
    """A short claim whose ordinary words are mostly absent: its names are there, what it says of them is not.

    "R. Adams Cowley was an astronaut" against evidence about Cowley the surgeon. Long claims are
    left to coverage: they paraphrase more, so one check on a few words would misfire.
    """
    if len(needed) > config.predicate_max_words:
        return []
    # A capitalised opener ("Joseph Strauss was ...") is a name, not part of the predicate.
    plain = [w for w in needed if _kind(w, claim_terms) == "word" and not claim_terms.surface[w][:1].isupper()]
    if not plain:
        return []
    found = [w for w in plain if w in covered]
    if len(found) >= config.predicate_min_coverage * len(plain):
        return []
    absent = ", ".join(repr(claim_terms.surface[w]) for w in plain if w not in covered)
    return [Signal("predicate_absent", f"what the claim says ({absent}) is not in the evidence")]


def score_claim(claim: str, evidence: EvidenceSet, matcher: Matcher, config: SupportConfig,
                given: frozenset[str] = frozenset()) -> ClaimSupport:
    """Score `claim` against `evidence`; `given` holds stems presupposed by the question."""
    claim = evidence.truecase(claim)
    ct = terms(claim)
    weights = _weights(ct, config)
    needed = {w: weights[w] for w in ct.stems if w not in given}
    total = math.fsum(needed.values())
    variants = {w: matcher.variants(w) for w in ct.stems}
    # Words the question holds still guide retrieval, a little, so the cited sentence is the one
    # that says the whole thing rather than any sentence naming the answer.
    guide = {w: needed.get(w, 0.2 * weights[w]) for w in ct.stems}
    hits = _hits(variants, evidence.sentences)
    window = _best_window(guide, hits, config.window, config.min_gain)
    covered = {w for w in needed if any(variants[w] & s.terms.stems for s in window)}
    coverage = _share(needed, covered, total)
    signals = _checks(claim, window, evidence, lambda w: w in given or bool(variants.get(w) or matcher.variants(w)),
                      coverage, config)
    signals += check_predicate(ct, needed, covered, config)
    if not any(s.name.startswith("number_") for s in signals):
        # The number check matched every number (perhaps "about 2,700" against "2,737"): count them covered.
        covered |= {w for w in needed if w[:1].isdigit()}
        coverage = _share(needed, covered, total)
    missing = [ct.surface[w] for w in needed if w not in covered]
    verdict = _verdict(signals, coverage, config, bool(evidence.sentences))
    against = [s for s in signals if not s.doubt]
    score = coverage if verdict == "supported" else min(coverage, config.threshold) * (0.5 if against else 1.0)
    kinds = {w: _kind(w, ct) for w in needed}
    local = local_window(hits, needed)
    features = claim_features(claim, ct, needed, kinds, variants, covered, coverage, hits, against, verdict, local)
    if config.check_doubts and verdict == "supported":  # doubts are asked only of what the lean supports
        texts = [s.text for s in window]
        signals += (check_quoted(claim, evidence, given) or check_swapped_word(claim, texts)
                    or check_roles(claim, texts, evidence.text) or check_scattered(window, features["local"], coverage,
                                                                    added=len((covered - local[1]) & needed.keys()))
                    or check_assembled_name(claim, evidence)
                    or check_subject_bound(claim, [hits.sentences[i] for i in sorted(hits.by_position)]))
    return ClaimSupport(verdict, round(score, 4), round(coverage, 4), signals, window, missing, features, local[0])


def check_scattered(window: list[Sentence], local: float, coverage: float, added: int = 2) -> list[Signal]:
    """A claim supported only by joining two sentences far apart in one source, which no run of
    adjacent sentences supports as well: how a summary moves a name or a number to another event
    ("Princess Eugenie is working in New York for the second day in a row", from a sentence about
    her job and another, paragraphs later, about what she wore). A doubt (see `Signal`).

    `added`: the claim's words that only the far sentences hold. One word from elsewhere is how an
    answer about a document paraphrases ("explicitly" where the rule's sentence says "clearly");
    a phrase moved from another event is at least two."""
    if len(window) < 2 or window[0].item is not window[1].item or local >= coverage - 1e-6 or added < 2:
        return []
    gap = abs(window[0].position - window[1].position)
    if gap <= LOCAL_SPAN:
        return []
    return [Signal("scattered_support", f"supported only by joining sentences {gap} apart in "
                                        f"{window[0].item.id!r}; no run of adjacent sentences says it", doubt=True)]


def check_assembled_name(claim: str, evidence: EvidenceSet) -> list[Signal]:
    """A name of the claim whose words the evidence holds, but never together: "Lake Erie State
    Park" from "Presque Isle State Park ... juts into Lake Erie", "Lukas Hitzlsperger" from "Lukas
    Podolski" and "Thomas Hitzlsperger". Names are seldom paraphrased, so a name put together from
    parts is how an answer conflates two things. A doubt (see `Signal`)."""
    for name in entities(claim):
        parts = [w for w in stem_sequence(name) if len(w) > 1]
        need = set(parts)
        if len(need) < 2 or name[:1].isdigit() or not need <= evidence.stems:
            continue  # a word the evidence lacks is the entity check's business
        if not any(need <= s.terms.stems and _together(parts, stem_sequence(s.text)) for s in evidence.sentences):
            return [Signal("name_assembled", f"the evidence never names {name!r}: its words stand apart",
                           doubt=True)]
    return []


# A quotation: double quotes, or single quotes that open before a word and are not a tokenised
# "'s" or "'t" ("britain 's ability ... '"), closing before a non-word character.
_QUOTED = re.compile(r"\"([^\"\n]{1,300}?)\"|(?<![\w'])'(?![st]\s)(?=\w)([^'\n]{1,200}?)(?<=[\w.!?,])'(?!\w)")


def check_quoted(claim: str, evidence: EvidenceSet, given: frozenset[str] = frozenset()) -> list[Signal]:
    """A quotation in the claim that no evidence sentence says in those words:
    "the council said it was 'devastated'" where the article never has the word, or a title the
    evidence gives otherwise. Quotation marks promise the source's own words, so a quote made up
    or paraphrased is how a summary puts words into someone's mouth. Word forms and stopwords are
    forgiven ("the rules" for "rule"); a quote the question holds is the question's. A doubt
    (see `Signal`)."""
    for m in _QUOTED.finditer(normalise_quotes(claim)):
        quote = stem_sequence(m.group(1) or m.group(2))
        need = set(quote)
        if not quote or need <= given:
            continue
        if not need <= evidence.stems or not _quoted_in(quote, evidence.sentences):
            shown = m.group(1) or m.group(2)
            return [Signal("quote_absent", f"the evidence never says {clip(shown, 80)!r} in those words", doubt=True)]
    return []


def _quoted_in(quote: tuple[str, ...], sentences: list[Sentence]) -> bool:
    """Whether `quote` stands word for word in one evidence sentence (only those holding all its
    words are read in order, so a quote against megabytes of evidence stays cheap)."""
    need, first, n = set(quote), quote[0], len(quote)
    for i, s in enumerate(sentences):
        if i % 512 == 511:
            check_deadline(*_DEADLINE)
        if need <= s.terms.stems:
            words = stem_sequence(s.text)
            if any(words[k:k + n] == quote for k, w in enumerate(words) if w == first):
                return True
    return False


def _together(parts: list[str], sequence: tuple[str, ...]) -> bool:
    """Whether every word of `parts` stands in one run of len(parts) + 1 words of `sequence` (one
    word more than the name: "Barack Hussein Obama" names "Barack Obama")."""
    need, reach = set(parts), len(parts) + 1
    return any(word in need and need <= set(sequence[i:i + reach]) for i, word in enumerate(sequence))


def _hits(variants: dict[str, frozenset[str]], sentences: list[Sentence]) -> Hits:
    useful = {w: v for w, v in variants.items() if v}
    by_position: dict[int, frozenset[str]] = {}
    if useful:
        for i, s in enumerate(sentences):
            if i % 512 == 511:
                check_deadline(*_DEADLINE)
            stems = s.terms.stems
            got = frozenset(w for w, v in useful.items() if not v.isdisjoint(stems))
            if got:
                by_position[i] = got
    return Hits(by_position, sentences)


def _share(needed: dict[str, float], covered: set[str], total: float) -> float:
    # fsum: exact, so the result does not depend on set order (hash seed) and ties stay ties.
    return math.fsum(needed[w] for w in covered) / total if total else 1.0


def _verdict(signals: list[Signal], coverage: float, config: SupportConfig, has_evidence: bool) -> str:
    if any(s.contradicts for s in signals):
        return "contradicted"
    if any(not s.doubt for s in signals) or coverage < config.threshold or not has_evidence:
        return "unsupported"
    return "supported"


LIST_WINDOW = 6   # sentences a window may hold when they are items of one list
LIST_REACH = 12   # ... within this many sentences of the first


def _list_item(sentence: Sentence) -> bool:
    return _LIST_ITEM.match(sentence.text) is not None


_LIST_ITEM = re.compile(r"\s*(?:[-*•+]\s|\d{1,2}[.)]\s|\|)")


def _best_window(needed: dict[str, float], hits: Hits, size: int, min_gain: float) -> list[Sentence]:
    """Greedy: the sentence covering most claim weight, then those adding the most new weight. An
    answer that gathers the items of a list ("goals updated, constraints tightened, humans able to
    intervene") may take up to `LIST_WINDOW` items of that list (one bullet is one sentence)."""
    window: list[Sentence] = []
    covered: set[str] = set()
    first = -1
    for n in range(LIST_WINDOW):
        if n >= size and not (window and all(_list_item(s) for s in window)):
            break
        # A further sentence must add at least one full word of support to be worth citing.
        best, best_gain = None, (min_gain if window else 0.0)
        for i, got in hits.by_position.items():
            if n >= size and not (_list_item(hits.sentences[i]) and abs(i - first) <= LIST_REACH):
                continue
            gain = math.fsum(needed[w] for w in got - covered)
            if gain > best_gain:
                best, best_gain = (i, got), gain
        if best is None:
            break
        window.append(hits.sentences[best[0]])
        covered |= best[1]
        first = best[0] if n == 0 else first
    return window


def _checks(claim: str, window: list[Sentence], evidence: EvidenceSet, found: Callable[[str], bool],
            coverage: float, config: SupportConfig) -> list[Signal]:
    window_numbers = [n for s in window for n in s.numbers]
    signals = check_numbers(claim, window_numbers, evidence.number_values, evidence.stems, evidence.number_units)
    if config.check_entities:
        signals += check_entities(claim, found)
    if window and coverage >= config.contradiction_min_coverage:
        top = window[0].text
        if config.check_negation:
            signals += check_negation(claim, top)
        signals += check_antonyms(claim, top)
    if window and coverage >= config.threshold:
        # A rival nationality or month is a contradiction even where it costs the coverage gate.
        signals += check_exclusive(claim, [s.text for s in window])
    signals += check_attribution(claim, evidence.lowered, evidence.stems)
    return signals


def _opening_name(text: str) -> str:
    """The name a sentence opens with (its subject, most often), or "": a capitalised first word
    belongs to it ("Hot Rod", "Cooking Light", whose first words alone read as ordinary ones)."""
    text = normalise_quotes(text).lstrip(" \"'([")
    names = entities(text[:300])
    opens = re.match(rf"(?:the\s+)?((?:[A-Z][\w'.-]*\s+){{0,2}}{re.escape(names[0])})\b", text) if names else None
    return opens.group(1) if opens else ""


def check_subject_bound(claim: str, sentences: list[Sentence]) -> list[Signal]:
    """The claim says of its subject what the evidence says of another name: "Hot Rod was founded
    in 1987" where the evidence has "Cooking Light is a magazine founded in 1987. Hot Rod is a car
    magazine". Every word is found, in adjacent sentences, so coverage passes; but no sentence
    holds the subject with what is said of it, and the sentence that holds most of it opens with
    a name the claim does not use. A doubt (see `Signal`). `sentences`: those holding any of the
    claim's words, in document order."""
    opener = _opening_name(claim)
    subject = {w for w in stem_sequence(opener) if len(w) > 1}
    named = subject | {w for name in entities(claim) for w in stem_sequence(name)}
    said = {w for w in stem_sequence(claim) if w not in named and any(w in s.terms.stems for s in sentences)}
    if not subject or not said:
        return []
    need = max(1, (len(said) + 1) // 2)
    best, best_got = None, 0
    for i, s in enumerate(sentences):
        if i % 512 == 511:
            check_deadline(*_DEADLINE)
        got = len(said & s.terms.stems)
        if got >= need and subject <= s.terms.stems:
            return []  # a sentence says it of the subject
        if got > best_got:
            best, best_got = s, got
    if best is None or best_got < need:
        return []
    other = _opening_name(best.text)
    if not other or set(stem_sequence(other)) & named:
        return []
    return [Signal("subject_unbound", f"the evidence says this of {clip(other, 60)!r}, not of {clip(opener, 60)!r}",
                   doubt=True)]
