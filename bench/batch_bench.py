"""Batching benchmark against the local mock provider, through the real job mechanism.

    python bench/batch_bench.py [TASKS.jsonl] [--seconds 60] [--binding itpm] [--faults default|none|SPEC]

Limits are scaled from the plan so the binding limit makes the run last about --seconds.
Prints: tasks per minute achieved / theoretical ceiling, the share of requests answered 429,
tasks lost, retry token overhead, and input tokens saved by batching.

The ceiling for a run of T seconds that starts with full buckets (as real providers do) is
    b * min_d((cap_d + rate_d * T) / cost_d, C * T / L)
(b tasks per request, cost_d the mean per-request use of limit d: 1 request, x input tokens,
y output tokens; C concurrency, L mean latency). The issue's steady-state ceiling
min(RPM, ITPM/x, OTPM/y, 60*C/L) is printed too, with the rate achieved once the initial
bucket is spent.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
from collections import Counter
from pathlib import Path

from skilldeck.tools.batch import PlanOptions, PromptSpec, RateLimits, RunSpec, load_tasks, make_plan
from skilldeck.tools.batch.mock_provider import (MockConfig, expected_answer, mock_answer, parse_faults,
                                                  serve_in_thread)
from skilldeck.tools.batch.prompt import build_prompt
from skilldeck.tools.tokens import count_tokens

DEFAULT_FAULTS = "error_500=0.003,reset=0.003,hang=0.002,malformed=0.004,truncate=0.003,missing=0.005"
WORDS = ("battery screen strap charger sound bass fit comfort price delivery colour sturdy flimsy bright quiet "
         "loud warm cold light heavy quick slow broken perfect decent awful lovely cheap pricey solid").split()


def synthetic_tasks(path: Path, n: int, seed: int) -> None:
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(n):
            review = " ".join(rng.choice(WORDS) for _ in range(rng.randint(12, 40)))
            fh.write(json.dumps({"id": f"r{i:05d}", "product": f"item-{rng.randint(1, 500)}", "review": review}) + "\n")


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("tasks", nargs="?", help="JSONL task file with a 'product' field (default: synthetic reviews)")
    ap.add_argument("--n", type=int, default=3000, help="synthetic task count")
    ap.add_argument("--seconds", type=float, default=60.0, help="target run length")
    ap.add_argument("--binding", choices=["rpm", "itpm", "otpm"], default="itpm")
    ap.add_argument("--faults", default="default", help="'default', 'none' or e.g. error_500=0.01,missing=0.02")
    ap.add_argument("--api", choices=["openai-compatible", "anthropic"], default="openai-compatible")
    ap.add_argument("--batch-size", type=int, default=20)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--latency", type=float, default=0.25, help="mock seconds per response")
    ap.add_argument("--seed", type=int, default=1)
    return ap.parse_args()


def scaled_limits(tasks: list, spec: PromptSpec, args: argparse.Namespace) -> tuple[dict[str, float], object]:
    """Per-minute limits that make the binding one last about --seconds (others get 60% slack)."""
    plan = make_plan(tasks, spec, PlanOptions(batch_size=args.batch_size))
    item_schema = {"type": "object", "properties": {"answer": {"type": "string"}}}
    prompts = [build_prompt(spec, b.tasks) for b in plan.batches]
    totals = {"rpm": len(prompts), "itpm": sum(p.input_tokens for p in prompts),
              "otpm": sum(count_tokens(mock_answer(p.user, item_schema)) for p in prompts)}
    scale = 1.0 + args.seconds / 60.0          # a full bucket plus T seconds of refill
    limits = {k: v / scale * 1.6 for k, v in totals.items()}
    limits["otpm"] = max(limits["otpm"], 1.6 * sum(p.max_tokens for p in prompts) / scale)  # room for max_tokens
    limits[args.binding] = totals[args.binding] / scale
    return limits, plan


def run_job(path: Path, spec: PromptSpec, limits: dict[str, float], faults: dict[str, float],
            args: argparse.Namespace):
    """Run the tasks as a batch job against the mock; return (job info, mock stats, mock answer counts)."""
    from skilldeck.tools.batch.service import start_run
    from skilldeck.tools.home import home_dir
    from skilldeck.tools.jobs import JobManager

    config = MockConfig(limits=RateLimits(limits["rpm"], limits["itpm"], limits["otpm"]), latency_s=args.latency,
                        faults=faults, seed=args.seed, hang_s=30.0)
    jobs = JobManager(home_dir() / "jobs")
    with serve_in_thread(config) as mock:
        run_spec = RunSpec(tasks_path=str(path), provider=args.api, model="gpt-4o-mini", base_url=mock.base_url,
                           instructions=spec.instructions, output_tokens_per_task=spec.output_tokens_per_task,
                           batch_size=args.batch_size, rpm=limits["rpm"], itpm=limits["itpm"], otpm=limits["otpm"],
                           concurrency=args.concurrency, timeout_s=3.0, max_attempts=6, backoff_base_s=0.25,
                           backoff_cap_s=4.0)
        info = start_run(jobs, run_spec)
        done = jobs.wait(info.id, timeout_s=args.seconds * 4 + 120)
        return done, dict(mock.stats), Counter(mock.answered)


def report(tasks: list, plan, limits: dict[str, float], done, stats: dict, answered_by_mock: Counter,
           args: argparse.Namespace) -> int:
    from skilldeck.tools.batch.job import JOURNAL

    summary = done.result or {}
    records = [json.loads(line) for line in (done.dir / JOURNAL).read_text().splitlines() if line.strip()]
    results = [r for r in records if r.get("type") == "result"]
    ok = [r for r in records if r.get("type") == "request" and r["status"] == "ok"]
    requests = [r for r in records if r.get("type") == "request"]
    by_id = Counter(r["id"] for r in results)
    lost = sum(1 for t in tasks if t.id not in by_id)
    fields = {t.id: t.fields for t in tasks}
    wrong = sum(1 for r in results if r["status"] == "ok" and r["output"] != {
        "answer": expected_answer(r["id"], fields[r["id"]]["product"], 8)})
    t_first = min(r["t"] - r["latency_s"] for r in requests)
    t_last = max(r["t"] for r in requests)
    wall = t_last - t_first
    x, y = (sum(r[k] for r in ok) / len(ok) for k in ("input_tokens", "output_tokens"))
    latency = sum(r["latency_s"] for r in ok) / len(ok)
    b = len(tasks) / len(plan.batches)
    cost = {"rpm": 1.0, "itpm": x, "otpm": y}
    run_ceiling = b * min([(limits[d] * (1 + wall / 60.0)) / cost[d] for d in cost]
                          + [args.concurrency * wall / latency])
    steady = b * min([limits[d] / cost[d] for d in cost] + [60.0 * args.concurrency / latency])
    achieved = sum(1 for r in results if r["status"] != "failed")
    # Steady state: the second half of the run, after the initial full bucket was spent (a window
    # estimate, so it can read a little over 1).
    mid = t_first + wall / 2
    steady_achieved = 60.0 * sum(r["accepted"] for r in ok if r["t"] >= mid) / (t_last - mid)
    share_429 = stats.get("rate_limited", 0) / max(1, stats.get("requests", 0))
    saved = plan.summary()
    print(f"job {done.id}: {done.status.value} in {wall:.1f} s; mock saw {stats}")
    print(f"throughput: {60 * achieved / wall:.0f} tasks/min, ceiling for this run {60 * run_ceiling / wall:.0f} "
          f"-> achieved/ceiling = {achieved / run_ceiling:.3f}")
    print(f"steady state: {steady_achieved:.0f} tasks/min vs min(RPM, ITPM/x, OTPM/y, 60C/L)*b = {steady:.0f} "
          f"(x={x:.0f}, y={y:.0f}, L={latency:.2f}s, b={b:.1f}) -> {steady_achieved / steady:.3f}")
    print(f"429 share: {share_429:.2%} ({stats.get('rate_limited', 0)} of {stats.get('requests', 0)} requests)")
    print(f"tasks lost: {lost}; answered twice: {sum(1 for c in by_id.values() if c > 1)}; wrong-id outputs: "
          f"{wrong}; failed: {summary.get('failed')}; mock answered a task twice: "
          f"{sum(1 for c in answered_by_mock.values() if c > 1)}")
    print(f"retry token overhead: {summary.get('retry_token_overhead', 0):.2%} (requests by outcome "
          f"{summary.get('requests_by_outcome')}; repaired answers {summary.get('repaired_answers')})")
    print(f"input tokens saved by batching: {saved['input_tokens_saved']:,} of {saved['unbatched_input_tokens']:,} "
          f"({saved['input_tokens_saved'] / saved['unbatched_input_tokens']:.1%}) against one request per task")
    print(f"cost at gpt-4o-mini prices: ${summary.get('cost', {}).get('cost_usd')}")
    return 0 if done.status.value == "succeeded" and lost == 0 else 1


def main() -> int:
    args = parse_args()
    work = Path(tempfile.mkdtemp(prefix="batch-bench-"))
    os.environ["SKILLDECK_HOME"] = str(work / "home")
    path = Path(args.tasks) if args.tasks else work / "tasks.jsonl"
    if not args.tasks:
        synthetic_tasks(path, args.n, args.seed)
    tasks = load_tasks(path)
    faults = {} if args.faults == "none" else parse_faults(DEFAULT_FAULTS if args.faults == "default" else args.faults)
    spec = PromptSpec(instructions="Write a one-line summary of each product review.", output_tokens_per_task=40)
    limits, plan = scaled_limits(tasks, spec, args)
    print(f"{len(tasks)} tasks, {len(plan.batches)} batches of <= {args.batch_size}; limits rpm {limits['rpm']:.1f}, "
          f"itpm {limits['itpm']:.0f}, otpm {limits['otpm']:.0f} (binding {args.binding}); concurrency "
          f"{args.concurrency}; api {args.api}; faults {faults or 'none'}", flush=True)
    done, stats, answered = run_job(path, spec, limits, faults, args)
    return report(tasks, plan, limits, done, stats, answered, args)


if __name__ == "__main__":
    sys.exit(main())
