"""Benchmark what the MCP Skills extension (SEP-2640) costs: cold start next to a bare MCPServer (digests
are computed on first request, so start-up should not move), then the first and the cached walk of
skills/list (which hashes every file), a skills/get, and a hot-reloaded file's fresh digest.

    python bench/sep2640_bench.py [--skills 1000] [--files 3] [--repeats 5]

Synthetic skills from the bundled ones, each with `--files` reference files of about 4 KB.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from skills_bench import BARE_SERVER, RawClient, cold_start, machine, skilldeck_cmd  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def synthesize(count: int, files: int, dest: Path) -> Path:
    shutil.rmtree(dest, ignore_errors=True)
    originals = [p.read_text(encoding="utf-8") for p in sorted((REPO / "skills").glob("*/SKILL.md"))]
    for i in range(count):
        name = f"skill-{i:05d}"
        folder = dest / name / "references"
        folder.mkdir(parents=True)
        text = originals[i % len(originals)]
        head, _, rest = text.partition("\nname:")
        (dest / name / "SKILL.md").write_text(f"{head}\nname: {name}\n{rest.partition(chr(10))[2]}", encoding="utf-8")
        for k in range(files):
            (folder / f"ref-{k}.md").write_text(f"# Reference {k} of {name}\n" + "lorem ipsum dolor\n" * 220)
    return dest


def walk_skills(client: RawClient) -> tuple[float, int, int]:
    start = time.perf_counter()
    cursor, pages, skills = None, 0, 0
    while True:
        result = client.request("skills/list", {"cursor": cursor} if cursor else {}, timeout=600)
        pages += 1
        skills += len(result["skills"])
        cursor = result.get("nextCursor")
        if not cursor:
            return time.perf_counter() - start, pages, skills


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skills", type=int, default=1000)
    parser.add_argument("--files", type=int, default=3, help="reference files per skill")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="skilldeck-sep2640-bench-"))
    try:
        corpus = synthesize(args.skills, args.files, work / "skills")
        bare = work / "bare_server.py"
        bare.write_text(BARE_SERVER)
        env = {"PATH": "/usr/bin:/bin", "SKILLDECK_EMBEDDINGS": "off", "SKILLDECK_HOME": str(work / "home")}
        configs = {"bare MCPServer, one tool": [sys.executable, str(bare)],
                   f"skilldeck, {args.skills:,} skills": skilldeck_cmd(corpus, "--no-watch")}
        print(f"machine: {machine()}")
        for cmd in configs.values():
            cold_start(cmd, work, env, 1, fresh_home=True)  # warm the page cache; not counted
        times: dict[str, list[float]] = {label: [] for label in configs}
        for _ in range(args.repeats):  # interleaved, so drift in the machine's speed touches both alike
            for label, cmd in configs.items():
                times[label].append(cold_start(cmd, work, env, 1, fresh_home=True)[0])
        bare_s = statistics.median(times["bare MCPServer, one tool"])
        print(f"cold start (spawn -> initialize + tools/list answered), median of {args.repeats} interleaved rounds:")
        for label, values in times.items():
            secs = statistics.median(values)
            extra = "" if label.startswith("bare") else f"  (+{(secs - bare_s) * 1000:.0f} ms over bare)"
            print(f"  {label:<31}{secs * 1000:7.0f} ms{extra}")

        client = RawClient(skilldeck_cmd(corpus), work, env)
        client.initialize()
        first = walk_skills(client)
        cached = walk_skills(client)
        files = args.skills * (args.files + 1)
        print(f"skills/list, all {first[2]:,} skills in {first[1]} pages ({files:,} files digested): first walk "
              f"{first[0]:.2f} s, cached walk {cached[0]:.2f} s")
        start = time.perf_counter()
        for i in range(100):
            client.request("skills/get", {"uri": f"skill://skill-{i * 7 % args.skills:05d}/SKILL.md"})
        print(f"skills/get (cached digests): {(time.perf_counter() - start) * 10:.2f} ms per call")
        edited = corpus / "skill-00000" / "references" / "ref-0.md"
        edited.write_text("edited\n")
        start = time.perf_counter()
        deadline = start + 30
        while time.perf_counter() < deadline:
            entry = client.request("skills/get", {"uri": "skill://skill-00000/SKILL.md"})["skill"]
            sizes = {r["uri"]: r["size"] for r in entry["resources"]}
            if sizes["skill://skill-00000/references/ref-0.md"] == len("edited\n"):
                print(f"an edited file's new digest is served {time.perf_counter() - start:.2f} s after the write")
                break
            time.sleep(0.05)
        client.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
