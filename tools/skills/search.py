"""In-process lexical ranking of skills for a task description (BM25 over weighted fields)."""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

from skilldeck.tools.skills.skill import Skill

__all__ = ["SearchHit", "SkillSearch", "tokenize"]

_WORD = re.compile(r"[a-z0-9]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_STOP = frozenset("""a an and are as at be but by can do for from has have how i in into is it its me my of on
or our so that the their them then there these this to use used uses using want was we what when where which
who will with you your should would could any all also via skill skills""".split())
# Field weights: the description is what authors write for routing, so it counts most.
_FIELDS = (("name", 2.0), ("description", 3.0), ("when_to_use", 2.5), ("headings", 1.0))


def _stem(word: str) -> str:
    for suffix, keep in (("ies", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not word.endswith("ss"):
            return word[: len(word) - len(suffix)] + keep
    return word


def tokenize(text: str) -> list[str]:
    """Lower-case word stems without stop words; camelCase and hyphenated names are split."""
    words = _WORD.findall(_CAMEL.sub(" ", text).lower())
    return [_stem(w) for w in words if w not in _STOP and len(w) > 1]


@dataclass(frozen=True)
class SearchHit:
    skill: Skill
    score: float
    why: str


class SkillSearch:
    """BM25 over each skill's name, description, when_to_use and headings."""

    k1 = 1.2
    b = 0.5

    def __init__(self, skills: list[Skill]) -> None:
        self.skills = skills
        self.docs: list[Counter[str]] = []
        lengths = []
        for skill in skills:
            doc: Counter[str] = Counter()
            texts = {"name": skill.name.replace("-", " "), "description": skill.description,
                     "when_to_use": skill.when_to_use, "headings": " ".join(skill.headings)}
            for fname, weight in _FIELDS:
                for term in tokenize(texts[fname]):
                    doc[term] += weight
            self.docs.append(doc)
            lengths.append(sum(doc.values()))
        self.avg_len = (sum(lengths) / len(lengths)) if lengths else 1.0
        self.lengths = lengths
        df: Counter[str] = Counter()
        for doc in self.docs:
            df.update(doc.keys())
        n = len(self.docs)
        self.idf = {t: math.log(1 + (n - c + 0.5) / (c + 0.5)) for t, c in df.items()}
        self.postings: dict[str, list[int]] = {}
        for i, doc in enumerate(self.docs):
            for term in doc:
                self.postings.setdefault(term, []).append(i)

    def search(self, query: str, limit: int = 5) -> list[SearchHit]:
        terms = list(dict.fromkeys(tokenize(query)))
        scores: dict[int, float] = {}
        matched: dict[int, list[str]] = {}
        for term in terms:
            idf = self.idf.get(term)
            if idf is None:
                continue
            for i in self.postings[term]:
                tf = self.docs[i][term]
                norm = tf * (self.k1 + 1) / (tf + self.k1 * (1 - self.b + self.b * self.lengths[i] / self.avg_len))
                scores[i] = scores.get(i, 0.0) + idf * norm
                matched.setdefault(i, []).append(term)
        best = sorted(scores.items(), key=lambda kv: (-kv[1], self.skills[kv[0]].name))[: max(0, limit)]
        return [SearchHit(self.skills[i], s, "matched terms: " + ", ".join(matched[i])) for i, s in best]
