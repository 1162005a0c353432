"""Benchmark the skills server as a client meets it: over stdio, in a subprocess.

Prints, with the machine's details: cold start (spawn to answered initialize + tools/list) next to
a bare MCPServer with one tool; start-up context in tokens (instructions + the full tools/list JSON)
at the given corpus and at 1,000 and 10,000 synthetic skills; use_skill p50/p95; find_skills p50 at
10,000 skills; time to page through all of resources/list at 10,000 skills; hot-reload latency
(file write to list_changed received); peak memory at 10,000.

    python bench/skills_bench.py --skills ../shared/data/skills/anthropic [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import queue
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

from skilldeck.tools.tokens import count_tokens

BARE_SERVER = textwrap.dedent("""
    from mcp.server.mcpserver import MCPServer
    mcp = MCPServer("bare")

    @mcp.tool()
    def echo(text: str) -> str:
        \"\"\"Echo the text back.\"\"\"
        return text

    mcp.run()
""")


class RawClient:
    """A minimal JSON-RPC-over-stdio MCP client that timestamps every message it receives."""

    def __init__(self, cmd: list[str], cwd: Path, env: dict[str, str]) -> None:
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     cwd=cwd, env=env, text=True, bufsize=1)
        self.inbox: queue.Queue[tuple[float, dict]] = queue.Queue()
        self.next_id = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            if line.strip():
                self.inbox.put((time.perf_counter(), json.loads(line)))

    def send(self, message: dict) -> None:
        self.proc.stdin.write(json.dumps(message) + "\n")
        self.proc.stdin.flush()

    def request(self, method: str, params: dict | None = None, timeout: float = 120) -> dict:
        self.next_id += 1
        self.send({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params or {}})
        deadline = time.monotonic() + timeout
        while True:
            _, msg = self.inbox.get(timeout=max(0.01, deadline - time.monotonic()))
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg["result"]

    def wait_notification(self, method: str, timeout: float = 30) -> float:
        deadline = time.monotonic() + timeout
        while True:
            at, msg = self.inbox.get(timeout=max(0.01, deadline - time.monotonic()))
            if msg.get("method") == method:
                return at

    def initialize(self) -> dict:
        result = self.request("initialize", {"protocolVersion": "2025-06-18", "capabilities": {},
                                             "clientInfo": {"name": "skills-bench", "version": "1"}})
        self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        return result

    def call(self, tool: str, **arguments) -> tuple[float, str]:
        start = time.perf_counter()
        result = self.request("tools/call", {"name": tool, "arguments": arguments})
        elapsed = time.perf_counter() - start
        if result.get("isError"):
            raise RuntimeError(f"{tool} failed: {result['content'][0]['text']}")
        return elapsed, result["content"][0]["text"]

    def peak_rss_mb(self) -> float:
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        return int(re.search(r"VmHWM:\s+(\d+)", status).group(1)) / 1024

    def close(self) -> None:
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def skilldeck_cmd(skills: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "skilldeck.server.cli", "serve", "--skills", str(skills), "--no-user-skills",
            "--no-bundled-skills", *extra]


def synthesize(source: Path, count: int, dest: Path) -> Path:
    """`count` skills made from copies of the source corpus's SKILL.md files, renamed."""
    if dest.exists() and len(list(dest.iterdir())) == count:
        return dest
    shutil.rmtree(dest, ignore_errors=True)
    originals = [(p.parent.name, p.read_text(encoding="utf-8")) for p in sorted(source.glob("*/SKILL.md"))]
    for i in range(count):
        name, text = originals[i % len(originals)]
        new = f"{name}-{i:05d}"
        folder = dest / new
        folder.mkdir(parents=True)
        (folder / "SKILL.md").write_text(re.sub(r"^name:.*$", f"name: {new}", text, count=1, flags=re.M),
                                         encoding="utf-8")
    return dest


def cold_start(cmd: list[str], cwd: Path, env: dict[str, str], repeats: int,
               fresh_home: bool = False) -> tuple[float, dict, dict]:
    """Median seconds from spawn to answered initialize + tools/list (a new SKILLDECK_HOME per run
    with `fresh_home`, so no state from an earlier run is reused)."""
    times = []
    for _ in range(repeats):
        run_env = dict(env, SKILLDECK_HOME=tempfile.mkdtemp(prefix="skilldeck-home-")) if fresh_home else env
        client = RawClient(cmd, cwd, run_env)
        init = client.initialize()
        tools = client.request("tools/list")
        times.append(time.perf_counter() - client.started)
        client.close()
        if fresh_home:
            shutil.rmtree(run_env["SKILLDECK_HOME"], ignore_errors=True)
    return statistics.median(times), init, tools


def startup_tokens(init: dict, tools: dict) -> int:
    return count_tokens(init.get("instructions") or "") + count_tokens(json.dumps(tools))


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def machine() -> str:
    cpu = "unknown cpu"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    import mcp  # noqa: F401 - only for its version
    from importlib.metadata import version
    return (f"{platform.system()} {platform.release()}, {cpu}, {os.cpu_count()} cores, Python "
            f"{platform.python_version()}, mcp {version('mcp')}")


def hot_reload(client: RawClient, skill_md: Path, repeats: int) -> list[float]:
    latencies = []
    original = skill_md.read_text(encoding="utf-8")
    for i in range(repeats):
        time.sleep(0.5)  # let the previous reload settle so each measurement stands alone
        while not client.inbox.empty():
            client.inbox.get_nowait()
        text = original.replace("description:", f"description: (edit {i})", 1)
        start = time.perf_counter()
        skill_md.write_text(text, encoding="utf-8")
        latencies.append(client.wait_notification("notifications/tools/list_changed") - start)
    skill_md.write_text(original, encoding="utf-8")
    return latencies


def walk_resources(client: RawClient) -> tuple[float, int, int]:
    """Seconds to page through all of resources/list, with the number of pages and resources."""
    start = time.perf_counter()
    cursor, pages, count = None, 0, 0
    while True:
        result = client.request("resources/list", {"cursor": cursor} if cursor else {})
        pages += 1
        count += len(result["resources"])
        cursor = result.get("nextCursor")
        if not cursor:
            return time.perf_counter() - start, pages, count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skills", type=Path, required=True, help="a skills corpus (e.g. shared/data/skills/anthropic)")
    parser.add_argument("--queries", type=Path, help="JSONL with {query: ...} lines for find_skills (optional)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "skilldeck-bench")
    args = parser.parse_args()
    if not args.skills.is_dir():
        parser.error(f"--skills {args.skills}: no such folder (relative paths start at {Path.cwd()})")
    if args.queries is not None and not args.queries.is_file():
        parser.error(f"--queries {args.queries}: no such file")

    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "SKILLDECK_HOME": str(work / "home")}
    corpus = work / "corpus"  # a private copy: the hot-reload test edits a file
    shutil.rmtree(corpus, ignore_errors=True)
    shutil.copytree(args.skills, corpus)
    n_corpus = len(list(corpus.glob("*/SKILL.md")))
    big = {n: synthesize(args.skills, n, work / f"synthetic-{n}") for n in (1000, 10000)}
    bare = work / "bare_server.py"
    bare.write_text(BARE_SERVER)

    print(f"machine: {machine()}")
    print(f"corpus: {args.skills} ({n_corpus} skills); synthetic copies of its SKILL.md files at 1,000 and 10,000")
    configs = {"bare MCPServer, one tool": [sys.executable, str(bare)]}
    for label, path in ((f"{n_corpus} skills", corpus), ("1,000 skills", big[1000]), ("10,000 skills", big[10000])):
        configs[f"skilldeck, {label}"] = skilldeck_cmd(path, "--no-watch")
    for cmd in configs.values():
        cold_start(cmd, work, env, 1, fresh_home=True)  # warm the page cache; not counted
    # Interleaved rounds, so drift in the machine's speed touches every configuration alike.
    times: dict[str, list[float]] = {label: [] for label in configs}
    context: dict[str, int] = {}
    for _ in range(args.repeats):
        for label, cmd in configs.items():
            secs, init, tools = cold_start(cmd, work, env, 1, fresh_home=True)
            times[label].append(secs)
            context[label] = startup_tokens(init, tools)
    bare_s = statistics.median(times["bare MCPServer, one tool"])
    print(f"\ncold start (spawn -> initialize + tools/list answered), median of {args.repeats} interleaved rounds:")
    for label, values in times.items():
        secs = statistics.median(values)
        extra = "" if label.startswith("bare") else (f"  (+{(secs - bare_s) * 1000:.0f} ms over bare); "
                                                     f"start-up context {context[label]} tokens")
        print(f"  {label:<31}{secs * 1000:7.0f} ms{extra}")

    queries = ["make an animated gif for slack", "write a status update for the team", "build an MCP server",
               "test my web app in a browser", "design a poster", "create a new skill", "apply our brand colours"]
    if args.queries:
        queries = [json.loads(line)["query"] for line in args.queries.read_text().splitlines() if line.strip()]

    client = RawClient(skilldeck_cmd(corpus), work, env)
    client.initialize()
    names = [t for t in re.findall(r"^- ([\w-]+):", client.request("tools/list")["tools"][0]["description"], re.M)]
    use = [client.call("use_skill", name=random.choice(names))[0] for _ in range(200)]
    print(f"\nuse_skill over stdio, {n_corpus} skills, 200 calls: p50 {pct(use, .5) * 1000:.2f} ms, "
          f"p95 {pct(use, .95) * 1000:.2f} ms")
    reload_small = hot_reload(client, next(corpus.glob("*/SKILL.md")), args.repeats)
    client.close()

    client = RawClient(skilldeck_cmd(big[10000]), work, env)
    client.initialize()
    client.request("tools/list")
    first, _ = client.call("find_skills", task=queries[0])
    find = [client.call("find_skills", task=random.choice(queries), limit=5)[0] for _ in range(100)]
    listing = walk_resources(client)
    reload_big = hot_reload(client, next(big[10000].glob("*/SKILL.md")), args.repeats)
    peak = client.peak_rss_mb()
    client.close()
    print(f"find_skills over stdio, 10,000 skills, 100 calls: p50 {pct(find, .5) * 1000:.2f} ms, "
          f"p95 {pct(find, .95) * 1000:.2f} ms (first call {first * 1000:.0f} ms, includes index build if not ready)")
    print(f"resources/list over stdio, 10,000 skills: all {listing[1]} pages ({listing[2]} resources) in "
          f"{listing[0] * 1000:.0f} ms")
    print(f"hot reload (write -> tools/list_changed received), median of {args.repeats}: "
          f"{statistics.median(reload_small) * 1000:.0f} ms at {n_corpus} skills, "
          f"{statistics.median(reload_big) * 1000:.0f} ms at 10,000 skills (debounce 150 ms included)")
    print(f"peak memory (VmHWM) of the server at 10,000 skills: {peak:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
