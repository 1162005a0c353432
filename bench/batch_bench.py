"""Batching benchmark against the local mock provider, through the real job mechanism.

    python bench/batch_bench.py [TASKS.jsonl] [--seconds 60] [--binding itpm] [--faults default|none|SPEC]
                                [--api openai-compatible|anthropic] [--seed N] [--style loose] [--preused 0.5]
                                [--mode batch_api]
    python bench/batch_bench.py --suite [--seconds 20]     # the issue's done-when matrix, both APIs

The suite runs, for both APIs: three fault seeds, a run with many swapped ids, a provider that
ignores the schema (near-miss answers), a key already half spent by other traffic, and a
batch-API run end to end; each line says PASS when the run reached >= 0.95 of its ceiling
with at most one 429, no task lost and no result on the wrong task.

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

DEFAULT_FAULTS = "error_500=0.003,reset=0.003,hang=0.002,malformed=0.004,truncate=0.003,missing=0.005,swap=0.01"
WORDS = ("battery screen strap charger sound bass fit comfort price delivery colour sturdy flimsy bright quiet "
         "loud warm cold light heavy quick slow broken perfect decent awful lovely cheap pricey solid").split()


def synthetic_tasks(path: Path, n: int, seed: int) -> None:
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(n):
            review = " ".join(rng.choice(WORDS) for _ in range(rng.randint(12, 40)))
            fh.write(json.dumps({"id": f"r{i:05d}", "product": f"item-{rng.randint(1, 500)}", "review": review}) + "\n")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
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
    ap.add_argument("--style", choices=["strict", "loose"], default="strict", help="loose: ignores the schema")
    ap.add_argument("--preused", type=float, default=0.0, help="share of every bucket other traffic spent")
    ap.add_argument("--mode", choices=["live", "batch_api"], default="live")
    ap.add_argument("--suite", action="store_true", help="run the done-when matrix (both APIs)")
    return ap.parse_args(argv)


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
                        faults=faults, seed=args.seed, hang_s=30.0, style=args.style, preused=args.preused,
                        batch_delay_s=2.0)
    jobs = JobManager(home_dir() / "jobs")
    with serve_in_thread(config) as mock:
        run_spec = RunSpec(tasks_path=str(path), provider=args.api, model="gpt-4o-mini", base_url=mock.base_url,
                           instructions=spec.instructions, output_tokens_per_task=spec.output_tokens_per_task,
                           batch_size=args.batch_size, rpm=limits["rpm"], itpm=limits["itpm"], otpm=limits["otpm"],
                           concurrency=args.concurrency, timeout_s=3.0, max_attempts=6, backoff_base_s=0.25,
                           backoff_cap_s=4.0, mode=args.mode, poll_s=0.5, latency_s=args.latency)
        from skilldeck.tools.batch.service import dry_run

        args.estimate_s = dry_run(run_spec)["estimated_seconds"]
        info = start_run(jobs, run_spec)
        done = jobs.wait(info.id, timeout_s=args.seconds * 4 + 120)
        return done, dict(mock.stats), Counter(mock.answered)


def report(tasks: list, plan, limits: dict[str, float], done, stats: dict, answered_by_mock: Counter,
           args: argparse.Namespace) -> bool:
    """Print the run's figures; True when it meets the issue's targets."""
    from skilldeck.tools.batch.job import JOURNAL

    summary = done.result or {}
    records = [json.loads(line) for line in (done.dir / JOURNAL).read_text().splitlines() if line.strip()]
    results = [r for r in records if r.get("type") == "result"]
    ok = [r for r in records if r.get("type") == "request" and r["status"] == "ok"]
    by_id = Counter(r["id"] for r in results)
    lost = sum(1 for t in tasks if t.id not in by_id)
    fields = {t.id: t.fields for t in tasks}
    wrong = sum(1 for r in results if r["status"] == "ok" and r["output"] != {
        "answer": expected_answer(r["id"], fields[r["id"]]["product"], 8)})
    failed = sum(1 for r in results if r["status"] == "failed")
    rejected = sum(r.get("misattributed", 0) for r in ok)
    n429 = stats.get("rate_limited", 0)
    print(f"job {done.id}: {done.status.value}; mock saw {stats}")
    print(f"tasks lost: {lost}; answered twice: {sum(1 for c in by_id.values() if c > 1)}; wrong-id outputs: "
          f"{wrong}; failed: {failed}; swapped answers caught by the echo check: {rejected}; near-miss shapes "
          f"accepted: {summary.get('near_misses') or 'none'}")
    if args.mode == "batch_api":
        print(f"batch API: {len([r for r in records if r.get('type') == 'submission'])} submission(s), "
              f"{summary.get('requests')} answers read, cost ${summary.get('cost', {}).get('cost_usd')} at the "
              f"batch price (discount applied: {summary.get('cost', {}).get('batch_api_discount')})")
        return done.status.value == "succeeded" and lost == 0 and wrong == 0
    requests = [r for r in records if r.get("type") == "request"]
    t_first = min(r["t"] - r["latency_s"] for r in requests)
    t_last = max(r["t"] for r in requests)
    wall = t_last - t_first
    # What a fault-free run needs per planned batch: the first sends' mean input and output (the
    # tokens retries spend are the run's overhead, not a higher ceiling).
    first = [r for r in ok if r.get("first")] or ok
    x, y = (sum(r[k] for r in first) / len(first) for k in ("input_tokens", "output_tokens"))
    latency = sum(r["latency_s"] for r in ok) / len(ok)
    b = len(tasks) / len(plan.batches)
    cost = {"rpm": 1.0, "itpm": x, "otpm": y}
    start_level = 1.0 - args.preused  # other traffic spent part of every bucket before the run
    run_ceiling = b * min([(limits[d] * (start_level + wall / 60.0)) / cost[d] for d in cost]
                          + [args.concurrency * wall / latency])
    achieved = len(tasks) - lost - failed
    share = achieved / run_ceiling
    saved = plan.summary()
    print(f"throughput: {60 * achieved / wall:.0f} tasks/min in {wall:.1f} s, ceiling for this run "
          f"{60 * run_ceiling / wall:.0f} -> achieved/ceiling = {share:.3f}")
    print(f"plan estimate {args.estimate_s:.1f} s vs real {wall:.1f} s -> {args.estimate_s / wall - 1:+.1%}")
    print(f"429s: {n429} of {stats.get('requests', 0)} requests; retry token overhead "
          f"{summary.get('retry_token_overhead', 0):.2%}; repaired answers {summary.get('repaired_answers')}")
    print(f"input tokens saved by batching: {saved['input_tokens_saved']:,} of {saved['unbatched_input_tokens']:,} "
          f"({saved['input_tokens_saved'] / saved['unbatched_input_tokens']:.1%}); report rate "
          f"{summary.get('tasks_per_minute')} tasks/min; cost ${summary.get('cost', {}).get('cost_usd')}")
    args.figures = {"share": share, "n429": n429, "estimate_error": args.estimate_s / wall - 1}
    return done.status.value == "succeeded" and lost == 0 and wrong == 0 and n429 <= 1 and share >= 0.95


def one_run(args: argparse.Namespace, work: Path) -> bool:
    path = Path(args.tasks) if args.tasks else work / f"tasks-{args.n}-{args.seed}.jsonl"
    if not args.tasks and not path.exists():
        synthetic_tasks(path, args.n, args.seed)
    tasks = load_tasks(path)
    faults = {} if args.faults == "none" else parse_faults(DEFAULT_FAULTS if args.faults == "default" else args.faults)
    spec = PromptSpec(instructions="Write a one-line summary of each product review.", output_tokens_per_task=40)
    limits, plan = scaled_limits(tasks, spec, args)
    print(f"{len(tasks)} tasks, {len(plan.batches)} batches of <= {args.batch_size}; limits rpm {limits['rpm']:.1f}, "
          f"itpm {limits['itpm']:.0f}, otpm {limits['otpm']:.0f} (binding {args.binding}); concurrency "
          f"{args.concurrency}; api {args.api}; mode {args.mode}; style {args.style}; preused {args.preused}; "
          f"seed {args.seed}; faults {faults or 'none'}", flush=True)
    done, stats, answered = run_job(path, spec, limits, faults, args)
    return report(tasks, plan, limits, done, stats, answered, args)


SUITE = [("seed 1", {"seed": 1}), ("seed 2", {"seed": 2}), ("seed 3", {"seed": 3}),
         ("swapped ids", {"seed": 4, "faults": "swap=0.2"}),
         ("ignores the schema", {"seed": 5, "style": "loose"}),
         ("key half spent", {"seed": 6, "preused": 0.5, "faults": "none"}),
         ("batch API", {"seed": 7, "mode": "batch_api", "faults": "swap=0.1,missing=0.05,error_500=0.05"})]


def main() -> int:
    args = parse_args()
    work = Path(tempfile.mkdtemp(prefix="batch-bench-"))
    os.environ["SKILLDECK_HOME"] = str(work / "home")
    if not args.suite:
        return 0 if one_run(args, work) else 1
    rows = []
    for api in ("openai-compatible", "anthropic"):
        for name, change in SUITE:
            run_args = argparse.Namespace(**{**vars(args), "api": api, **change})
            print(f"\n=== {api}: {name}", flush=True)
            passed = one_run(run_args, work)
            rows.append((api, name, passed, getattr(run_args, "figures", {})))
    print("\n=== summary")
    for api, name, passed, fig in rows:
        extra = (f" ceiling {fig['share']:.3f}, 429s {fig['n429']}, plan estimate {fig['estimate_error']:+.1%}"
                 if fig else "")
        print(f"{'PASS' if passed else 'FAIL'}  {api:18} {name:20}{extra}")
    return 0 if all(p for _, _, p, _ in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
