"""Ranking skills for a task description: BM25F over weighted fields, plus optional semantic scores.

Fields, by weight: the name and the description (what authors write for routing) count most, then
``when_to_use``, the first section of the body (the first of its own words: sentences that several
skills share, a collection's template, are left out), SKILL.md's headings, the rest of the body's
start (its procedure and examples, where a request told as a situation finds its words), and the
names and titles of the skill's other files; a name is also found by its initials ("FMEA" for
perform-failure-modes-effects-analysis). Each field is normalised by its own average length (BM25F), so a catch-all
skill with a long list of domain words does not win every query. Words are stemmed and names split
(see `terms`); the full stop list drops filler words; a negated clause ("never bullet points",
"not for signup forms") is not evidence for its words, in a skill's text or in the query; adjacent
query words also match as a phrase and as one word ("web app" finds ``webapp``); a compact synonym
table widens the query at a fraction of an exact match's weight; a word only one or two skills
contain (a tool or product name) counts extra; a skill's score is scaled by the share of the
request it holds (its confidence, below), so that one holding most of the request's words beats
one that repeats a few of them; and skilldeck's own bundled skills need a clearer
match to rank above a user's skills.

Every hit carries a confidence: the share of the query's informative weight (IDF of each word,
unknown words included) that the skill matched, each word counted by how firmly the skill holds it
(a mention in the description fully, one only in a heading about half). Below `FIT_THRESHOLD` (or, in a hybrid ranking,
with a low cosine as well) the hit is marked as not fitting, so find_skills can say that nothing fits.

The index is built once per catalog generation; a query touches only the postings of its
terms, with every document's BM25F weight precomputed, so it stays fast at 10,000 skills.

With a semantic scorer (see `embeddings`, installed with the ``embeddings`` extra; the catalog
passes one when its ``semantic`` factory is set), lexical and cosine scores are blended; until
its vectors are ready, search is lexical and `ranking()` says how far the vectors are.
"""

from __future__ import annotations

import heapq
import math
import re
import threading
from array import array
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, Protocol

from skilldeck.tools.skills.files import markdown_heading, open_skill_file, walk_files
from skilldeck.tools.skills.skill import SKILL_FILE, Skill, read_body
from skilldeck.tools.skills.terms import (BASIC_STOP_WORDS, STOP_WORDS, compound_words, initialisms, stem, synonyms,
                                          without_negated, words)
from skilldeck.tools.tokens import is_common

__all__ = ["SearchHit", "SearchTuning", "SkillSearch", "SemanticScorer", "skill_text", "skill_texts",
           "BodyText", "body_intro", "body_intros", "body_texts", "file_names", "FIT_THRESHOLD"]

# (field, weight, b): a term in the description counts three times one in a heading; b is how much
# the field's length (against its average) discounts it.
FIELDS = (("name", 3.0, 0.3), ("description", 3.0, 0.75), ("when_to_use", 2.5, 0.75), ("intro", 1.0, 0.75),
          ("headings", 1.0, 0.5), ("body", 0.75, 0.75), ("files", 0.75, 0.5), ("titles", 0.75, 0.5))
PHRASE_FIELDS = frozenset({"name", "description", "when_to_use", "headings", "intro"})
PHRASE_WEIGHT = 0.5      # an adjacent pair of words, on top of the two words themselves
SYNONYM_WEIGHT = 0.4     # a synonym is worth this share of the word the query used
PREFIX_WEIGHT = 0.3      # an unknown word matched through a shared prefix
PREFIX_LEN = 5
RARE_DF = 2              # a name-like word (capitalised mid-sentence, with a digit, camelCase) at most
                         # this many skills contain ...
RARE_BOOST = 1.6         # ... weighs this much more (in a collection of 20 skills or more)
BUNDLED_WEIGHT = 0.7     # skilldeck's bundled skills: lexical score multiplier
UNKNOWN_SHARE = 0.6      # an unknown query word's share of the rarest known word's weight (confidence)
COVERAGE_EXPONENT = 0.5  # score * confidence ** this (dev split of the suite, lexical top-1: 0 -> 0.736,
                         # 0.3 -> 0.739, 0.5 -> 0.752, 1.0 -> 0.752)
STRENGTH_REF = 3.0 / (3.0 + 1.8)  # saturated weight of one mention in the description
FIT_THRESHOLD = 0.4      # confidence below which a lexical hit does not fit (dev split of the 524-skill suite:
                         # 6 % of right answers withheld, 1 of the 32 off-topic requests presented)
SEMANTIC_FIT = 0.35      # cosine from which a hybrid hit fits whatever its words (dev: the off-topic requests'
                         # best cosines reach 0.26; right answers that only the model finds start at 0.1)
SEMANTIC_SHARE = 0.5     # weight of the semantic score in a hybrid ranking
SEMANTIC_SHARE_UNSETTLED = 0.65  # ... when none of the first five lexical hits fits (dev: 0.60-0.70 alike)
SEMANTIC_FLOOR = 0.2     # cosine below which a skill is not a semantic match at all
SEMANTIC_CEILING = 0.6   # cosine of a clear match with all-MiniLM-L6-v2: scores above count fully
REQUEST_WEIGHT = 0.5     # a word only the user's own request holds, against one of the task the agent named
INTRO_CHARS = 800        # how much of the body's first section is searched
_GENERIC_PARTS = frozenset("""references reference refs scripts script assets asset templates template examples
example docs doc core lib src readme index license md txt py js ts sh json yaml yml html css""".split())


@dataclass(frozen=True)
class SearchTuning:
    """Which parts of the ranking are on; all are by default. ``bench/routing_eval.py --ablate``
    switches each off in turn::

        SkillSearch(skills, tuning=SearchTuning(negation=False))
    """

    stop_list: bool = True        # the full stop list (off: the short list used before)
    negation: bool = True         # negated clauses of a skill's text are not evidence
    field_norm: bool = True       # BM25F: each field normalised by its own average length
    rare_terms: bool = True       # a product or tool name only one or two skills contain counts extra
    body_intro: bool = True       # the first section of the body is searched
    body_rest: bool = True        # so is the rest of the body's start (`BODY_SCAN_CHARS`)
    file_titles: bool = True      # the titles of reference files are searched
    bundled_modesty: bool = True  # bundled skills need a clearer match to rank first
    initials: bool = True         # a name is found by its initials ("fmea")
    template_text: bool = True    # sentences several skills share are left out of the body's text
    field_strength: bool = True   # a word held only in a heading counts less towards confidence
    coverage_rank: bool = True    # the score is scaled by the share of the request a skill holds
    semantic_lead: bool = True    # hybrid: the semantic score weighs more when no lexical hit fits
    whole_names: bool = True      # a request's camelCase names stay whole ("WordPress" is not "press")


def _terms(text: str, stops: frozenset[str]) -> list[str]:
    return [stem(w) for w in words(text) if len(w) > 1 and w not in stops]


def _top_indices(values, k: int) -> list[int]:
    """Indices of the `k` largest values; numpy arrays (from the embeddings extra) take a fast path."""
    if hasattr(values, "argpartition") and len(values) > k:
        return [int(i) for i in values.argpartition(-k)[-k:]]
    return heapq.nlargest(k, range(len(values)), key=values.__getitem__)


class SemanticScorer(Protocol):
    """Cosine similarity of a query to each skill, in the order the skills were given."""

    def scores(self, query: str) -> Sequence[float] | None:
        """Return one score per skill (a list or a numpy array), or None while the vectors are not ready."""


def file_names(folder: Path, limit: int = 80) -> list[str]:
    """Names of a skill's other files, two folder levels deep, as words (containers like
    ``references/`` and extensions dropped): ``reference/node_mcp_server.md`` -> ``node mcp server``.
    Walked by `files.walk_files`, with its bounds: symlinked folders are not entered."""
    found: list[str] = []
    for rel, _ in walk_files(folder, max_depth=2):
        name = rel.rsplit("/", 1)[-1]
        if name == SKILL_FILE or name.upper().startswith("LICENSE"):
            continue
        found.append(rel)
        if len(found) >= limit:
            break
    return found


def _file_words(names: Iterable[str]) -> str:
    kept: dict[str, None] = {}
    for name in names:
        for part in name.replace("/", " ").rsplit(".", 1)[0].split():
            for word in words(part):
                if word not in _GENERIC_PARTS:
                    kept[word] = None
    return " ".join(kept)


def _file_titles(skill: Skill, names: Iterable[str], limit: int = 20) -> str:
    """The first heading of each markdown reference file (its first 2 KB, read through the same
    confined opener as every other skill file)."""
    titles = []
    for rel in [n for n in names if n.lower().endswith(".md")][:limit]:
        try:
            _, f = open_skill_file(skill.files_dir, rel, hardlinks=skill.trusted)
            with f:
                head = f.read(2048).decode("utf-8", "replace")
        except Exception:  # noqa: BLE001 - an unreadable reference only loses its title for search
            continue
        found = next((h for h in map(markdown_heading, head.split("\n")) if h and h[0] <= 2), None)
        if found:
            titles.append(found[1][:120])
    return "\n".join(titles)


# Words written like names: capitalised after a lower-case word, with a digit, or camelCase.
_NAME_LIKE = re.compile(r"(?<=[a-z,;:(] )[A-Z][A-Za-z0-9]+|\b[A-Za-z]+\d[A-Za-z0-9]*\b|\b[a-z]+[A-Z][A-Za-z0-9]*")


def name_like(text: str) -> set[str]:
    """Stems of the words of `text` written like product or tool names ("use Camoufox", "GA4", "FastMCP")."""
    return {stem(w) for m in _NAME_LIKE.findall(text) for w in words(m)} | {stem(w.lower()) for w in
                                                                         _NAME_LIKE.findall(text)}


_FENCE = re.compile(r"```.*?(```|$)", re.DOTALL)
_COMMENT = re.compile(r"<!--.*?(-->|$)", re.DOTALL)
_SENTENCE_END = re.compile(r"(?<=[.!?:])\s+|\n")
_LINK_TARGET = re.compile(r"\]\([^)]*\)")
SHARED_SENTENCE_SKILLS = 3  # a sentence this many skills' bodies hold is a template's, not the skill's own
BODY_SCAN_CHARS = 4000      # how much of a body's start is searched and split into sentences to find template
                            # text (dev split of the suite, lexical top-1 with the rest of the body weighed 0.6:
                            # 2,500 characters 0.672, 4,000 0.739, 10,000 0.739)


def _sections(body: str) -> list[str]:
    """The body's sections after the title, headings and code left out (code is not prose)."""
    text = _COMMENT.sub(" ", _FENCE.sub(" ", body.lstrip()[:BODY_SCAN_CHARS]))
    lines = text.splitlines()
    if lines and lines[0].startswith("#"):
        lines = lines[1:]
    sections, current = [], []
    for line in lines:
        if line.startswith("#"):
            sections.append("\n".join(current))
            current = []
        else:
            current.append(line)
    sections.append("\n".join(current))
    return [sec for sec in sections if sec.strip()]


def _sentences(section: str) -> list[str]:
    return [part.strip() for part in _SENTENCE_END.split(section) if part.strip()]


def _sentence_key(sentence: str) -> str:
    return " ".join(_LINK_TARGET.sub("]", sentence).lower().split())


class BodyText(NamedTuple):
    """What search reads of a skill's body: its first section of its own (`intro`, at most
    `INTRO_CHARS`) and the own sentences of the sections after it (`rest`), template text left out."""

    intro: str
    rest: str


def _own_text(sections: Sequence[str], shared: frozenset[str] = frozenset()) -> BodyText:
    """The body's text of its own (`sections` from `_sections`). The intro is what follows the title
    up to the next heading, without the sentences in `shared` (a collection's template text); when a
    section holds nothing but template text, the next one is taken. The rest is the later sections,
    without template text."""
    def own(section: str) -> list[str]:
        return [t for t in _sentences(section) if _sentence_key(t) not in shared] if shared else [section.strip()]

    for at, section in enumerate(sections):
        first = own(section)
        if first:
            rest = [t for later in sections[at + 1:] for t in own(later)]
            return BodyText("\n".join(first)[:INTRO_CHARS], "\n".join(rest))
    return BodyText("", "")


def _body_sections(skill: Skill) -> tuple[str, ...]:
    try:
        return tuple(_sections(read_body(skill)))
    except Exception:  # noqa: BLE001 - a body that cannot be read leaves the other fields searchable
        return ()


def body_intro(skill: Skill) -> str:
    """The first section of the skill's body (see `_own_text`), or "" when the body cannot be read."""
    return _own_text(_body_sections(skill)).intro


def body_intros(skills: Sequence[Skill], leave_out_shared: bool = True) -> list[str]:
    """The intro of each skill's `body_texts`."""
    return [body.intro for body in body_texts(skills, leave_out_shared)]


def body_texts(skills: Sequence[Skill], leave_out_shared: bool = True) -> list[BodyText]:
    """The `BodyText` of each skill, with the sentences that several skills' bodies share left out.

    Collections built from a template open every body with the same paragraph ("Use this for the
    named engineering task ..."); the first section is then the same text everywhere and tells the
    ranking nothing. A sentence found in `SHARED_SENTENCE_SKILLS` or more bodies counts as template
    text, and each skill's intro is its first section of its own words. Identical bodies count once.
    Only the start of each body (`BODY_SCAN_CHARS`) is held while the collection is counted."""
    starts = [_body_sections(s) for s in skills]
    if not leave_out_shared:
        return [_own_text(sections) for sections in starts]
    seen: Counter[str] = Counter()
    for sections in set(starts):  # one skill installed in three places is still one text, not a template
        seen.update({_sentence_key(t) for sec in sections for t in _sentences(sec)})
    shared = frozenset(k for k, n in seen.items() if n >= SHARED_SENTENCE_SKILLS)
    del seen
    return [_own_text(sections, shared) for sections in starts]


def skill_text(skill: Skill, with_files: bool = True, body: BodyText | None = None) -> dict[str, str]:
    """The searchable text of a skill, by field (`body`: from `body_texts`, else read here)."""
    body = _own_text(_body_sections(skill)) if body is None else body
    names = file_names(skill.files_dir) if with_files else []
    return {"name": skill.name.replace("-", " ").replace("_", " "), "description": skill.description,
            "when_to_use": skill.when_to_use, "headings": "\n".join(skill.headings), "intro": body.intro,
            "body": body.rest, "files": _file_words(names), "titles": _file_titles(skill, names) if with_files else ""}


def skill_texts(skills: Sequence[Skill], leave_out_shared: bool = True,
                bodies: Sequence[BodyText] | None = None) -> list[dict[str, str]]:
    """`skill_text` of every skill of a collection, template sentences left out of the bodies
    (`bodies`: `body_texts(skills)` already read, e.g. with the intros shared with the semantic index)."""
    if bodies is None:
        bodies = body_texts(skills, leave_out_shared)
    return [skill_text(s, body=body) for s, body in zip(skills, bodies)]


class QueryTerm(NamedTuple):
    """One meaningful word or adjacent pair of a query, with the index terms it may match."""

    word: str                         # as the user wrote it ("w1 w2" for a pair)
    options: list[tuple[str, float]]  # (index term, weight): the word's stem 1.0, synonyms, prefixes
    info: float                       # informative weight (idf; 0 for a pair: its words already count)
    scale: float = 1.0                # what the term's matches count (REQUEST_WEIGHT: the request's own words)


@dataclass(frozen=True)
class SearchHit:
    skill: Skill
    score: float
    why: str
    confidence: float = 1.0       # share of the query's informative weight this skill matched
    fits: bool = True             # False: the closest skill, but not a good fit
    cosine: float | None = None   # semantic similarity, in a hybrid ranking


def _pairs(stems: list[str]) -> list[str]:
    return [f"{a} {b}" for a, b in zip(stems, stems[1:])]


def _field_terms(field: str, text: str, stops: frozenset[str], negation: bool, initials: bool = True) -> list[str]:
    if not text:
        return []
    if negation:
        text = without_negated(text)
    if field in ("headings", "titles"):
        # Pairs must not straddle two headings.
        out: list[str] = []
        for line in text.split("\n"):
            stems = _terms(line, stops)
            out += stems + _pairs(stems)
        return out
    stems = _terms(text, stops)
    if field == "files":
        return list(dict.fromkeys(stems))  # many files on one topic are not many mentions
    joined = [stem(w) for w in compound_words(text) if w not in stops]
    if field == "name" and initials:
        joined += [stem(w) for w in initialisms(text, is_common)]
    return stems + joined + (_pairs(stems) if field in PHRASE_FIELDS else [])


class SkillSearch:
    """Usage::

        index = SkillSearch(catalog_skills)
        for hit in index.search("make a looping gif for slack", limit=5):
            print(hit.skill.name, round(hit.score, 2), hit.fits, hit.why)
    """

    k1 = 1.8
    b = 0.6  # without field normalisation: one b over the whole document

    def __init__(self, skills: list[Skill], semantic: SemanticScorer | None = None,
                 texts: list[dict[str, str]] | None = None, tuning: SearchTuning | None = None) -> None:
        self.skills = list(skills)
        self.tuning = tuning or SearchTuning()
        self._stops = STOP_WORDS if self.tuning.stop_list else BASIC_STOP_WORDS
        self._fields_used = [f for f in FIELDS if (f[0] != "intro" or self.tuning.body_intro)
                             and (f[0] != "body" or self.tuning.body_rest)
                             and (f[0] != "titles" or self.tuning.file_titles)]
        self._texts = texts if texts is not None else skill_texts(self.skills, self.tuning.template_text)
        self._names: set[str] = set()
        self._build([self._document(i) for i in range(len(self.skills))])
        self._order = {i: rank for rank, i in enumerate(sorted(range(len(self.skills)),
                                                              key=lambda i: self.skills[i].name))}
        self._bundled = [i for i, s in enumerate(self.skills) if s.root.label == "bundled"]
        self.semantic = semantic

    def _fields(self, i: int) -> dict[str, str]:
        return self._texts[i]

    def _document(self, i: int) -> list[tuple[float, float, Counter[str]]]:
        """(weight, b, term counts) per field."""
        fields = self._fields(i)
        if self.tuning.rare_terms:
            self._names |= name_like(" ".join(fields.get(f, "") for f in ("description", "when_to_use", "intro")))
            self._names |= set(_terms(fields.get("name", ""), self._stops))
        return [(weight, b, Counter(_field_terms(name, fields.get(name, ""), self._stops, self.tuning.negation,
                                                 self.tuning.initials)))
                for name, weight, b in self._fields_used]

    def _build(self, docs: list[list[tuple[float, float, Counter[str]]]]) -> None:
        n = len(docs)
        lengths = [[sum(c for t, c in counts.items() if " " not in t) for _, _, counts in doc] for doc in docs]
        per_field = [(sum(ls[f] for ls in lengths) / n if n else 1.0) or 1.0 for f in range(len(self._fields_used))]
        whole = [sum(w * ls[f] for f, (w, _, _) in enumerate(doc)) for doc, ls in zip(docs, lengths)]
        avg = (sum(whole) / n if n else 1.0) or 1.0
        # Each document's counts, then its weights, are dropped once read, so that building the index
        # of 10,000 skills does not hold all three forms at once.
        combined: list[dict[str, float] | None] = []
        for at, (ls, size) in enumerate(zip(lengths, whole)):
            doc, docs[at] = docs[at], []
            tfs: dict[str, float] = {}
            for f, (weight, b, counts) in enumerate(doc):
                norm = (1 - b + b * ls[f] / per_field[f]) if self.tuning.field_norm else 1.0
                for term, count in counts.items():
                    tf = weight * count * (PHRASE_WEIGHT if " " in term else 1.0) / norm
                    tfs[term] = tfs.get(term, 0.0) + tf
            if not self.tuning.field_norm:
                scale = 1 - self.b + self.b * size / avg
                tfs = {t: tf / scale for t, tf in tfs.items()}
            combined.append(tfs)
        df: Counter[str] = Counter()
        for tfs in combined:
            df.update(tfs.keys())
        rare = self.tuning.rare_terms and n >= 20
        self.idf = {t: math.log(1 + (n - c + 0.5) / (c + 0.5)) * (self.k1 + 1)
                    * (RARE_BOOST if rare and c <= RARE_DF and t in self._names else 1.0) for t, c in df.items()}
        self._unknown_idf = math.log(1 + (n + 0.5) / 0.5) * (self.k1 + 1) * UNKNOWN_SHARE
        # Typed arrays: 12 bytes a posting instead of about 70 as Python ints and floats in lists
        # (the index of 10,000 skills with long bodies holds a few million postings).
        self.postings: dict[str, tuple[array, array]] = {t: (array("i"), array("d")) for t in df}
        postings, idf, k1 = self.postings, self.idf, self.k1
        for i in range(n):
            tfs, combined[i] = combined[i], None
            for term, tf in tfs.items():
                ids, weights = postings[term]
                ids.append(i)
                weights.append(idf[term] * tf / (tf + k1))
        self._merged_cache: dict[tuple[tuple[str, float], ...], tuple[list[int], list[float], list[float]]] = {}
        self._why_cache: dict[int, dict[str, dict[str, str]]] = {}
        self._why_lock = threading.Lock()
        self._prefixes: dict[str, list[str]] = {}
        for term in self.postings:
            if " " not in term and len(term) >= PREFIX_LEN:
                self._prefixes.setdefault(term[:PREFIX_LEN], []).append(term)

    # -- querying ------------------------------------------------------------------------------
    def _query_groups(self, query: str) -> list[QueryTerm]:
        """A `QueryTerm` for each meaningful query word and adjacent pair."""
        # A request's camelCase name is one word: "WordPress" is not "word" + "press", nor "HealthKit"
        # RDKit's "kit" (a skill's "FastMCP" is indexed whole as well as split, see `compound_words`).
        raw = [w for w in words(query, split_case=not self.tuning.whole_names) if len(w) > 1 and w not in self._stops]
        groups: dict[str, QueryTerm] = {}
        for word in raw:
            term = stem(word)
            if term in groups:
                continue
            options = [(term, 1.0)] if term in self.postings else []
            options += [(s, SYNONYM_WEIGHT) for s in sorted(synonyms(word)) if s in self.postings and s != term]
            if term not in self.postings and len(term) >= PREFIX_LEN:
                # Only a word that starts another ("screen", "screenshot"), never a shared stub ("gener").
                near = [t for t in self._prefixes.get(term[:PREFIX_LEN], []) if t.startswith(term) or term.startswith(t)]
                options += [(t, PREFIX_WEIGHT) for t in sorted(near, key=len)[:3]]
            groups[term] = QueryTerm(word, options, self.idf.get(term, self._unknown_idf))
        stems = [stem(w) for w in raw]
        for (w1, w2), pair in zip(zip(raw, raw[1:]), _pairs(stems)):
            if pair in self.postings:
                groups.setdefault(pair, QueryTerm(f"{w1} {w2}", [(pair, 1.0)], 0.0))
            joined = stem(w1 + w2)
            if joined in self.postings and joined not in groups:
                groups[joined] = QueryTerm(w1 + w2, [(joined, 1.0)], 0.0)
        return list(groups.values())

    def _terms_of(self, task: str, request: str | None) -> list[QueryTerm]:
        """The task's terms, then those only the user's own request holds, at REQUEST_WEIGHT.

        An agent names the task in its domain's words ("batch correction of single-cell data");
        the user's story ("my runs cluster by run, not by cell type") still carries words a skill
        may use, but less surely. Measured with tasks an agent wrote, without seeing the skills,
        for the suite's requests (bench/routing_eval.py --agent-tasks)."""
        terms = self._query_groups(task)
        if request:
            known = {stem(w) for t in terms for w in t.word.split()}
            terms += [t._replace(info=t.info * REQUEST_WEIGHT, scale=REQUEST_WEIGHT)
                      for t in self._query_groups(request) if not {stem(w) for w in t.word.split()} <= known]
        return terms

    def _merged(self, options: list[tuple[str, float]]) -> tuple[list[int], list[float], list[float]]:
        """One posting list for a word and its alternatives: each skill counts the best-matching form
        once (its impact, and the weight of the form). Cached: a query reuses lists seen before."""
        key = tuple(options)
        cached = self._merged_cache.get(key)
        if cached is not None:
            return cached
        best: dict[int, tuple[float, float]] = {}
        for term, weight in options:
            ids, impacts = self.postings[term]
            per = self._strength_per_impact(term)
            for i, impact in zip(ids, impacts):
                value = weight * impact
                if value > best.get(i, (0.0, 0.0))[0]:
                    best[i] = (value, weight * (min(1.0, impact * per) if per else 1.0))
        merged = (list(best), [v for v, _ in best.values()], [w for _, w in best.values()])
        if len(self._merged_cache) > 4096:
            self._merged_cache.clear()
        self._merged_cache[key] = merged
        return merged

    def _strength_per_impact(self, term: str) -> float:
        """How firmly a skill holds `term` is min(1, impact * this): one mention in its description
        counts fully, one in a heading or the body's intro about half (the saturated field weight
        against the former). 0 when field strength is off: every holder counts fully."""
        return 1.0 / (self.idf[term] * STRENGTH_REF) if self.tuning.field_strength else 0.0

    def _lexical(self, groups, total: float) -> tuple[list[float], set[int], dict[int, float]]:
        """Scores, the skills any term touched, and each touched skill's matched informative weight (of
        `total`, the query's)."""
        scores = [0.0] * len(self.skills)
        matched: dict[int, float] = {}
        for _, options, info, scale in groups:
            if not options:
                continue
            if len(options) == 1 and options[0][1] == 1.0:
                ids, impacts = self.postings[options[0][0]]
                forms = None
            else:
                ids, impacts, forms = self._merged(options)
            for i, impact in zip(ids, impacts):
                scores[i] += impact * scale
            if info:
                if forms is None:
                    per = info * self._strength_per_impact(options[0][0])
                    for i, impact in zip(ids, impacts):
                        matched[i] = matched.get(i, 0.0) + (min(info, impact * per) if per else info)
                else:
                    for i, form in zip(ids, forms):
                        matched[i] = matched.get(i, 0.0) + info * form
        if self.tuning.bundled_modesty:
            for i in self._bundled:
                scores[i] *= BUNDLED_WEIGHT
        if self.tuning.coverage_rank:
            # A skill that holds most of the request beats one that holds a few of its words often.
            for i, got in matched.items():
                scores[i] *= min(1.0, got / total) ** COVERAGE_EXPONENT
        return scores, set(matched) | {i for i in self._bundled if scores[i]}, matched

    def ranking(self) -> str:
        """Which ranking answers now: ``hybrid``, ``hybrid (descriptions; full vectors 412/1,000)``,
        ``lexical``, or ``lexical (semantic index 412/1,000)``."""
        if self.semantic is None:
            return "lexical"
        progress = getattr(self.semantic, "progress", None)
        if getattr(self.semantic, "ready", True):
            if getattr(self.semantic, "complete", True) or progress is None:
                return "hybrid"
            done, total = progress()
            return f"hybrid (descriptions; full vectors {done:,}/{total:,})"
        if progress is None:
            return "lexical (semantic index loading)"
        done, total = progress()
        return f"lexical (semantic index {done:,}/{total:,})"

    def search(self, query: str, limit: int = 5, request: str | None = None) -> list[SearchHit]:
        """The `limit` best skills for `query` (the task), best first, each with the reason it
        matched and whether it fits; `request`, the user's own words, counts less (`_terms_of`)."""
        if limit <= 0 or not self.skills:
            return []
        groups = self._terms_of(query, request)
        total = sum(t.info for t in groups) or 1.0
        scores, touched, matched = self._lexical(groups, total)
        text = f"{query}. {request}" if request else query
        cosines = self.semantic.scores(text) if self.semantic is not None else None
        if cosines is None:
            ranked = heapq.nlargest(limit, touched, key=lambda i: (scores[i], -self._order[i]))
            return [self._hit(i, scores[i], groups, matched.get(i, 0.0) / total, None) for i in ranked if scores[i]]
        return self._hybrid(scores, touched, cosines, groups, matched, total, limit)

    def _hit(self, i: int, score: float, groups, confidence: float, cosine: float | None) -> SearchHit:
        fits = confidence >= FIT_THRESHOLD or (cosine is not None and cosine >= SEMANTIC_FIT)
        return SearchHit(self.skills[i], score, self._why(i, groups, cosine), round(min(confidence, 1.0), 3),
                         fits, cosine)

    def _hybrid(self, scores, touched, cosines, groups, matched, total, limit: int) -> list[SearchHit]:
        lexical_pool = heapq.nlargest(50, touched, key=scores.__getitem__)
        top_lex = (scores[lexical_pool[0]] if lexical_pool else 0.0) or 1.0
        semantic_pool = _top_indices(cosines, 50)
        pool = set(lexical_pool) | set(semantic_pool)
        # When no lexical hit fits, the words do not settle the request (a situation told in other
        # words): the semantic score then decides more.
        settled = any(matched.get(i, 0.0) / total >= FIT_THRESHOLD for i in lexical_pool[:5])
        share = SEMANTIC_SHARE if settled or not self.tuning.semantic_lead else SEMANTIC_SHARE_UNSETTLED
        blended = {}
        for i in pool:
            # An absolute scale: a weak best match stays weak instead of being stretched to 1.
            sem = min(1.0, max(0.0, float(cosines[i]) - SEMANTIC_FLOOR) / (SEMANTIC_CEILING - SEMANTIC_FLOOR))
            lex = scores[i] / top_lex
            if lex or sem:
                blended[i] = (1 - share) * lex + share * sem
        ranked = heapq.nlargest(limit, blended.items(), key=lambda kv: (kv[1], -self._order[kv[0]]))
        return [self._hit(i, s, groups, matched.get(i, 0.0) / total, float(cosines[i])) for i, s in ranked]

    def _field_words(self, i: int) -> dict[str, dict[str, str]]:
        """Per field, each stem of skill `i` and the first word written with it (kept for the skills
        hits recently named: a query's hits are often the last query's)."""
        with self._why_lock:
            seen = self._why_cache.get(i)
        if seen is None:
            fields = self._fields(i)
            seen = {}
            for field, _, _ in self._fields_used:
                text = fields.get(field, "")
                found: dict[str, str] = {}
                extra = initialisms(text, is_common) if field == "name" and self.tuning.initials else []
                for word in words(text) + compound_words(text) + extra:
                    found.setdefault(stem(word), word)
                seen[field] = found
            with self._why_lock:  # searches run in the server's worker threads
                if len(self._why_cache) >= 512:
                    self._why_cache.pop(next(iter(self._why_cache)))
                self._why_cache[i] = seen
        return seen

    def _why(self, i: int, groups, cosine: float | None) -> str:
        """Which query words matched which fields, e.g. ``gif (name, description); looping≈animated (description)``."""
        seen = self._field_words(i)
        parts = []
        for word, options, _, _ in groups:
            best = None
            for term, weight in options:
                head = term.split(" ")
                hit = [f for f, _, _ in self._fields_used if all(h in seen[f] for h in head)]
                if hit and (best is None or weight > best[1]):
                    best = (term, weight, hit)
            if best is None:
                continue
            term, weight, hit = best
            label = word
            if weight == SYNONYM_WEIGHT and " " not in term:
                label = f"{word}≈{next(seen[f][term] for f in hit)}"
            elif weight == PREFIX_WEIGHT:
                label = f"{word}~{next(seen[f][term] for f in hit)}"
            elif " " in term:
                label = f"'{word}'"
            parts.append(f"{label} ({', '.join(hit)})")
        why = "matched " + "; ".join(parts) if parts else ""
        if cosine is not None:
            why = (why + "; " if why else "") + f"semantic similarity {cosine:.2f}"
        return why or "no term matched"
