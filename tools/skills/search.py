"""Ranking skills for a task description: BM25F over weighted fields, plus optional semantic scores.

Fields, by weight: the description (what authors write for routing) and the name count most,
then ``when_to_use``, SKILL.md's headings and the names of the skill's other files. Words are
stemmed and names split (see `terms`), adjacent query words also match as a phrase and as one
word ("web app" finds ``webapp``), a compact synonym table widens the query at a fraction of an
exact match's weight, and an unknown long word may match a known word sharing its first letters.

The index is built once per catalog generation; a query touches only the postings of its
terms, with every document's BM25 weight precomputed, so it stays fast at 10,000 skills.

With a semantic scorer (see `embeddings`, installed with the ``embeddings`` extra; the catalog
passes one when its ``semantic`` factory is set), lexical and cosine scores are blended; until
its vectors are ready, search is lexical.
"""

from __future__ import annotations

import heapq
import math
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from skilldeck.tools.skills.skill import SKILL_FILE, Skill
from skilldeck.tools.skills.terms import STOP_WORDS, compound_words, stem, synonyms, terms, words

__all__ = ["SearchHit", "SkillSearch", "SemanticScorer", "tokenize", "skill_text", "file_names"]

# Field weights: a term in the description counts three times one in a heading.
FIELDS = (("name", 3.0), ("description", 3.0), ("when_to_use", 2.5), ("headings", 1.0), ("files", 0.75))
PHRASE_FIELDS = frozenset({"name", "description", "when_to_use", "headings"})
PHRASE_WEIGHT = 0.5      # an adjacent pair of words, on top of the two words themselves
SYNONYM_WEIGHT = 0.4     # a synonym is worth this share of the word the query used
PREFIX_WEIGHT = 0.3      # an unknown word matched through a shared prefix
PREFIX_LEN = 5
SEMANTIC_SHARE = 0.5     # weight of the semantic score in a hybrid ranking
SEMANTIC_FLOOR = 0.2     # cosine below which a skill is not a semantic match at all
SEMANTIC_CEILING = 0.6   # cosine of a clear match with all-MiniLM-L6-v2: scores above count fully
_GENERIC_PARTS = frozenset("""references reference refs scripts script assets asset templates template examples
example docs doc core lib src readme index license md txt py js ts sh json yaml yml html css""".split())


def tokenize(text: str) -> list[str]:
    """Stems of the meaningful words of `text` (camelCase and hyphenated names split)."""
    return terms(text)


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
    ``references/`` and extensions dropped): ``reference/node_mcp_server.md`` -> ``node mcp server``."""
    found: list[str] = []
    stack = [(str(folder), 0, "")]
    while stack and len(found) < limit:
        path, depth, prefix = stack.pop()
        try:
            entries = sorted(os.scandir(path), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            name = entry.name
            if name.startswith(".") or name == SKILL_FILE or name.upper().startswith("LICENSE"):
                continue
            try:
                is_dir = entry.is_dir()
            except OSError:
                continue
            if is_dir and depth < 2 and name not in ("node_modules", "__pycache__"):
                stack.append((entry.path, depth + 1, f"{prefix}{name}/"))
            elif not is_dir:
                found.append(f"{prefix}{name}")
    return found


def _file_words(names: Iterable[str]) -> str:
    kept: dict[str, None] = {}
    for name in names:
        for part in name.replace("/", " ").rsplit(".", 1)[0].split():
            for word in words(part):
                if word not in _GENERIC_PARTS:
                    kept[word] = None
    return " ".join(kept)


def skill_text(skill: Skill, with_files: bool = True) -> dict[str, str]:
    """The searchable text of a skill, by field."""
    return {"name": skill.name.replace("-", " ").replace("_", " "), "description": skill.description,
            "when_to_use": skill.when_to_use, "headings": "\n".join(skill.headings),
            "files": _file_words(file_names(skill.dir)) if with_files else ""}


@dataclass(frozen=True)
class SearchHit:
    skill: Skill
    score: float
    why: str


def _pairs(stems: list[str]) -> list[str]:
    return [f"{a} {b}" for a, b in zip(stems, stems[1:])]


def _field_terms(field: str, text: str) -> list[str]:
    if not text:
        return []
    if field == "headings":
        # Pairs must not straddle two headings.
        out: list[str] = []
        for line in text.split("\n"):
            stems = terms(line)
            out += stems + _pairs(stems)
        return out
    stems = terms(text)
    if field == "files":
        return list(dict.fromkeys(stems))  # many files on one topic are not many mentions
    joined = [stem(w) for w in compound_words(text) if w not in STOP_WORDS]
    return stems + joined + (_pairs(stems) if field in PHRASE_FIELDS else [])


class SkillSearch:
    """Usage::

        index = SkillSearch(catalog_skills)
        for hit in index.search("make a looping gif for slack", limit=5):
            print(hit.skill.name, round(hit.score, 2), hit.why)
    """

    k1 = 1.8
    b = 0.6

    def __init__(self, skills: list[Skill], semantic: SemanticScorer | None = None,
                 texts: list[dict[str, str]] | None = None) -> None:
        self.skills = list(skills)
        self._texts = texts
        docs = [self._document(i) for i in range(len(self.skills))]
        self._build(docs)
        self._order = {i: rank for rank, i in enumerate(sorted(range(len(self.skills)),
                                                              key=lambda i: self.skills[i].name))}
        self.semantic = semantic

    def _fields(self, i: int) -> dict[str, str]:
        return self._texts[i] if self._texts is not None else skill_text(self.skills[i])

    def _document(self, i: int) -> Counter[str]:
        doc: Counter[str] = Counter()
        fields = self._fields(i)
        for field, weight in FIELDS:
            for term in _field_terms(field, fields.get(field, "")):
                doc[term] += weight * (PHRASE_WEIGHT if " " in term else 1.0)
        return doc

    def _build(self, docs: list[Counter[str]]) -> None:
        n = len(docs)
        lengths = [sum(w for t, w in d.items() if " " not in t) for d in docs]
        avg = (sum(lengths) / n) if n else 1.0
        df: Counter[str] = Counter()
        for doc in docs:
            df.update(doc.keys())
        idf = {t: math.log(1 + (n - c + 0.5) / (c + 0.5)) * (self.k1 + 1) for t, c in df.items()}
        self.postings: dict[str, tuple[list[int], list[float]]] = {t: ([], []) for t in df}
        postings = self.postings
        for i, doc in enumerate(docs):
            norm = self.k1 * (1 - self.b + self.b * lengths[i] / (avg or 1.0))
            for term, tf in doc.items():
                ids, weights = postings[term]
                ids.append(i)
                weights.append(idf[term] * tf / (tf + norm))
        self._merged_cache: dict[tuple[tuple[str, float], ...], tuple[list[int], list[float]]] = {}
        self._prefixes: dict[str, list[str]] = {}
        for term in self.postings:
            if " " not in term and len(term) >= PREFIX_LEN:
                self._prefixes.setdefault(term[:PREFIX_LEN], []).append(term)

    # -- querying ------------------------------------------------------------------------------
    def _query_groups(self, query: str) -> list[tuple[str, list[tuple[str, float]]]]:
        """(word the user wrote, [(index term, weight), ...]) for each meaningful query word and phrase."""
        raw = [w for w in words(query) if len(w) > 1 and w not in STOP_WORDS]
        groups: dict[str, tuple[str, list[tuple[str, float]]]] = {}
        for word in raw:
            term = stem(word)
            if term in groups:
                continue
            options = [(term, 1.0)] if term in self.postings else []
            options += [(s, SYNONYM_WEIGHT) for s in sorted(synonyms(term)) if s in self.postings]
            if term not in self.postings and len(term) >= PREFIX_LEN:
                # Only a word that starts another ("screen", "screenshot"), never a shared stub ("gener").
                near = [t for t in self._prefixes.get(term[:PREFIX_LEN], []) if t.startswith(term) or term.startswith(t)]
                options += [(t, PREFIX_WEIGHT) for t in sorted(near, key=len)[:3]]
            if options:
                groups[term] = (word, options)
        stems = [stem(w) for w in raw]
        for (w1, w2), pair in zip(zip(raw, raw[1:]), _pairs(stems)):
            if pair in self.postings:
                groups.setdefault(pair, (f"{w1} {w2}", [(pair, 1.0)]))
            joined = stem(w1 + w2)
            if joined in self.postings and joined not in groups:
                groups[joined] = (w1 + w2, [(joined, 1.0)])
        return list(groups.values())

    def _merged(self, options: list[tuple[str, float]]) -> tuple[list[int], list[float]]:
        """One posting list for a word and its alternatives: each skill counts the best-matching form
        once. Cached: a query reuses the lists of words seen before."""
        key = tuple(options)
        cached = self._merged_cache.get(key)
        if cached is not None:
            return cached
        best: dict[int, float] = {}
        for term, weight in options:
            ids, impacts = self.postings[term]
            for i, impact in zip(ids, impacts):
                value = weight * impact
                if value > best.get(i, 0.0):
                    best[i] = value
        merged = (list(best), list(best.values()))
        if len(self._merged_cache) > 4096:
            self._merged_cache.clear()
        self._merged_cache[key] = merged
        return merged

    def _lexical(self, groups: list[tuple[str, list[tuple[str, float]]]]) -> tuple[list[float], set[int]]:
        scores = [0.0] * len(self.skills)
        touched: set[int] = set()
        for _, options in groups:
            if len(options) == 1 and options[0][1] == 1.0:
                ids, impacts = self.postings[options[0][0]]
            else:
                ids, impacts = self._merged(options)
            touched.update(ids)
            for i, impact in zip(ids, impacts):
                scores[i] += impact
        return scores, touched

    def search(self, query: str, limit: int = 5) -> list[SearchHit]:
        """The `limit` best skills for `query`, best first, each with the reason it matched."""
        if limit <= 0 or not self.skills:
            return []
        groups = self._query_groups(query)
        scores, touched = self._lexical(groups)
        cosines = self.semantic.scores(query) if self.semantic is not None else None
        if cosines is None:
            ranked = heapq.nlargest(limit, touched, key=lambda i: (scores[i], -self._order[i]))
            return [SearchHit(self.skills[i], scores[i], self._why(i, groups, None)) for i in ranked]
        return self._hybrid(scores, touched, cosines, groups, limit)

    def _hybrid(self, scores: list[float], touched: set[int], cosines, groups, limit: int) -> list[SearchHit]:
        lexical_pool = heapq.nlargest(50, touched, key=scores.__getitem__)
        top_lex = (scores[lexical_pool[0]] if lexical_pool else 0.0) or 1.0
        semantic_pool = _top_indices(cosines, 50)
        pool = set(lexical_pool) | set(semantic_pool)
        blended = {}
        for i in pool:
            # An absolute scale: a weak best match stays weak instead of being stretched to 1.
            sem = min(1.0, max(0.0, float(cosines[i]) - SEMANTIC_FLOOR) / (SEMANTIC_CEILING - SEMANTIC_FLOOR))
            lex = scores[i] / top_lex
            if lex or sem:
                blended[i] = (1 - SEMANTIC_SHARE) * lex + SEMANTIC_SHARE * sem
        ranked = heapq.nlargest(limit, blended.items(), key=lambda kv: (kv[1], -self._order[kv[0]]))
        return [SearchHit(self.skills[i], s, self._why(i, groups, float(cosines[i]))) for i, s in ranked]

    def _why(self, i: int, groups, cosine: float | None) -> str:
        """Which query words matched which fields, e.g. ``gif (name, description); looping≈animated (description)``."""
        fields = self._fields(i)
        seen: dict[str, dict[str, str]] = {}  # field -> stem -> first word with that stem
        for field, _ in FIELDS:
            text = fields.get(field, "")
            found: dict[str, str] = {}
            for word in words(text) + compound_words(text):
                found.setdefault(stem(word), word)
            seen[field] = found
        parts = []
        for word, options in groups:
            best = None
            for term, weight in options:
                head = term.split(" ")
                hit = [f for f, _ in FIELDS if all(h in seen[f] for h in head)]
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
