"""Routing rules: descriptions that say when to use the skill, in the third person, without XML,
and pairs of skills whose descriptions overlap so much that a router will confuse them."""

from __future__ import annotations

import heapq
import math
import re
from collections.abc import Iterator

from skilldeck.tools.skills.lint.model import Finding
from skilldeck.tools.skills.lint.source import SkillSource
from skilldeck.tools.skills.terms import terms

__all__ = ["check_description", "description_terms", "overlapping_pairs"]

_WHEN = re.compile(r"\b(when|whenever|trigger\w*|use (it |this (skill )?)?(for|to|if|on|with|before|during|after)|"
                   r"if (the )?(user|someone|asked|you)|asks? (for|to|about))\b", re.I)
_PERSON = re.compile(r"\b(I|I'm|I'll|I've|me|my|mine|we|we're|we'll|our|ours|us|you|you're|you'll|your|yours)\b")
_QUOTED = re.compile(r"\"[^\"]*\"|“[^”]*”|«[^»]*»|`[^`]*`")
_COMMON = 200  # a term held by more skills than this does not make two skills candidates for overlap
_XML = re.compile(r"</?[A-Za-z][\w:.-]*(\s+[\w:-]+(=(\"[^\"]*\"|'[^']*'|[^\s>]+))?)*\s*/?>")
# Words nearly every description uses; they say nothing about which skill fits.
_GENERIC = frozenset(terms("""create creates build make use used help helps file files task tasks work tool tools
data new existing any other various etc including such like want need way also provide provides guide guidance
support supports skill skills user users request requests ask asks"""))


def check_description(src: SkillSource) -> list[Finding]:
    desc = src.fields.get("description")
    if not isinstance(desc, str) or not desc.strip():
        return []  # the spec rules report it
    line = src.line_of("description")
    out = []
    if not _WHEN.search(desc):
        out.append(Finding("description-when", "warning", "the description never says when to use the skill; "
                           "end it with 'Use when ...' naming the tasks, files or words that should trigger it",
                           line=line))
    unquoted = _QUOTED.sub(" ", desc)  # quoted user requests ("make me a gif") are fine
    people = sorted({m.group(0) for m in _PERSON.finditer(unquoted) if m.group(0) != "US"}, key=str.lower)
    if people:
        out.append(Finding("description-person", "warning", f"the description speaks in the first or second "
                           f"person ({', '.join(people)}); write it in the third person ('Extracts tables "
                           "from PDFs. Use when ...'): it is read as part of the agent's system prompt", line=line))
    tags = sorted({m.group(0) for m in _XML.finditer(desc)})
    if tags:
        out.append(Finding("description-xml", "error", f"XML tags in the description ({', '.join(tags[:3])}); "
                           "clients reject them; describe the content in words", line=line))
    return out


def description_terms(name: str, description: str) -> set[str]:
    return {t for t in terms(name.replace("-", " ") + " " + description) if t not in _GENERIC}


def overlapping_pairs(sources: list[tuple[str, SkillSource]], threshold: float, limit: int = 500) -> list[dict]:
    """Pairs of skills whose name + description terms have a cosine similarity of `threshold` or more,
    most similar first; each pair carries the indices of its two skills in `sources`.

    Candidates come from an inverted index over terms held by at most `_COMMON` skills, so a large
    collection is not compared pair by pair; two skills that share only very common terms are not
    compared (they would need many of them to reach the threshold).
    """
    vectors = []
    for name, src in sources:
        desc = src.fields.get("description")
        vectors.append(description_terms(name, desc if isinstance(desc, str) else ""))
    holders: dict[str, list[int]] = {}
    for i, terms_i in enumerate(vectors):
        for term in terms_i:
            holders.setdefault(term, []).append(i)
    common = max(_COMMON, len(vectors) // 20)

    def similar() -> Iterator[tuple[float, int, int, set[str]]]:
        for i, terms_i in enumerate(vectors):
            candidates = {j for t in terms_i if len(holders[t]) <= common for j in holders[t] if j > i}
            for j in candidates:
                shared = terms_i & vectors[j]
                similarity = len(shared) / math.sqrt(len(terms_i) * len(vectors[j]))
                if similarity >= threshold:
                    yield round(similarity, 2), i, j, shared

    # Only the best `limit` pairs are held: 10,000 skills in groups of 500 alike make 2.5 million
    # pairs, and building them all took 2 GB before the cut.
    best = heapq.nsmallest(limit, similar(), key=lambda p: (-p[0], [sources[p[1]][0], sources[p[2]][0]]))
    return [{"skills": [sources[i][0], sources[j][0]], "paths": [str(sources[i][1].dir), str(sources[j][1].dir)],
             "similarity": similarity, "shared_terms": sorted(shared), "index": (i, j)}
            for similarity, i, j, shared in best]


def overlap_finding(pair: dict, side: int, src: SkillSource) -> Finding:
    other = pair["skills"][1 - side]
    return Finding("description-overlap", "warning", f"description overlaps with skill {other!r} (similarity "
                   f"{pair['similarity']}; shared: {', '.join(pair['shared_terms'][:12])}); a router will confuse "
                   "them: say what sets each apart, or merge them", line=src.line_of("description"))
