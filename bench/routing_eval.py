"""Routing quality of skill search: top-1 / top-3 hit rates and query latency.

    python bench/routing_eval.py --skills ../shared/data/skills/anthropic \
        --queries ../shared/data/skills/dev_queries.jsonl [--hybrid] [--pad 10000] [--misses]

Each query line is ``{"query": "...", "expected": ["<root>/<skill-name>", ...]}`` where <root> is
the name of the --skills folder; a query hits top-1 if the first result is any expected skill,
top-3 if any expected skill is among the first three. --pad N adds N renamed copies of the
skills (in memory) and reports latency at that size too. --hybrid blends in embedding scores
(needs the `embeddings` extra) and waits for the vectors before measuring.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
import time
from pathlib import Path

from skilldeck.tools.skills.catalog import SkillCatalog
from skilldeck.tools.skills.search import SkillSearch, skill_text
from skilldeck.tools.skills.skill import Skill, SkillRoot


def load(dirs: list[Path]) -> tuple[list[Skill], dict[str, str]]:
    """Skills from every folder and a map from skill name to its "<root>/<name>" key."""
    catalog = SkillCatalog([SkillRoot(d, d.name) for d in dirs])
    skills = [s for s in catalog.skills if s.model_invocable]
    return skills, {s.name: f"{s.root.label}/{s.name}" for s in skills}


def padded(skills: list[Skill], count: int) -> list[Skill]:
    """`count` renamed copies of `skills` (same text, so they only add work, not answers)."""
    out = []
    for i in range(count):
        src = skills[i % len(skills)]
        out.append(dataclasses.replace(src, name=f"{src.name}-copy-{i:05d}", _headings=list(src.headings)))
    return out


def semantic_for(skills: list[Skill], wait_s: float):
    from skilldeck.tools.skills.embeddings import SemanticIndex, embeddings_available

    if not embeddings_available():
        sys.exit("--hybrid needs the embeddings extra: pip install 'skilldeck[embeddings]'")
    index = SemanticIndex(skills)
    if not index.wait(wait_s):
        sys.exit(f"embeddings not ready after {wait_s:.0f} s ({index.error or 'still computing'})")
    return index


def evaluate(index: SkillSearch, keys: dict[str, str], queries: list[dict], show_misses: bool
             ) -> tuple[float, float, float]:
    """Top-1 and top-3 hit rates, and the median latency of each query's first search (no warm caches)."""
    top1 = top3 = 0
    first = []
    for q in queries:
        start = time.perf_counter()
        hits = index.search(q["query"], limit=3)
        first.append((time.perf_counter() - start) * 1000)
        got = [keys.get(h.skill.name, h.skill.name) for h in hits]
        expected = set(q["expected"])
        top1 += bool(got[:1] and got[0] in expected)
        top3 += bool(expected & set(got))
        if show_misses and not (got[:1] and got[0] in expected):
            print(f"  miss: {q['query']!r}\n        expected {sorted(expected)}, got {got}")
            for h in hits:
                print(f"        {h.skill.name}: {h.score:.2f} {h.why}")
    return top1 / len(queries), top3 / len(queries), statistics.median(first)


def latency_ms(index: SkillSearch, queries: list[dict], rounds: int) -> tuple[float, float]:
    times = []
    for _ in range(rounds):
        for q in queries:
            start = time.perf_counter()
            index.search(q["query"], limit=5)
            times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skills", type=Path, action="append", required=True, metavar="DIR")
    parser.add_argument("--queries", type=Path, required=True, metavar="FILE")
    parser.add_argument("--hybrid", action="store_true", help="blend in embedding scores")
    parser.add_argument("--pad", type=int, default=0, metavar="N", help="also time search over N extra copies")
    parser.add_argument("--rounds", type=int, default=20, help="timing rounds over the query set")
    parser.add_argument("--misses", action="store_true", help="print every query whose top-1 is wrong")
    args = parser.parse_args()

    queries = [json.loads(line) for line in args.queries.read_text().splitlines() if line.strip()]
    skills, keys = load(args.skills)
    semantic = semantic_for(skills, 600) if args.hybrid else None
    start = time.perf_counter()
    index = SkillSearch(skills, semantic=semantic)
    build_s = time.perf_counter() - start
    top1, top3, cold = evaluate(index, keys, queries, args.misses)
    p50, p95 = latency_ms(index, queries, args.rounds)
    mode = "hybrid (BM25F + all-MiniLM-L6-v2)" if semantic else "lexical (BM25F)"
    print(f"{mode}: {len(skills)} skills, {len(queries)} queries from {args.queries}")
    print(f"top-1 {top1:.3f}  top-3 {top3:.3f}  search p50 {p50:.2f} ms  p95 {p95:.2f} ms, first search of each "
          f"query p50 {cold:.2f} ms  (index built in {build_s * 1000:.0f} ms; {os.cpu_count()} CPUs)")
    if args.pad:
        many = skills + padded(skills, args.pad)
        texts = [skill_text(s) for s in many]
        start = time.perf_counter()
        big_semantic = semantic_for(many, 1200) if args.hybrid else None
        big = SkillSearch(many, semantic=big_semantic, texts=texts)
        build_s = time.perf_counter() - start
        _, _, cold = evaluate(big, keys, queries, False)
        p50, p95 = latency_ms(big, queries, max(1, args.rounds // 4))
        print(f"at {len(many)} skills: search p50 {p50:.2f} ms  p95 {p95:.2f} ms, first search of each query p50 "
              f"{cold:.2f} ms  (index built in {build_s:.2f} s, file names and headings read beforehand)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
