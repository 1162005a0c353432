"""`skilldeck batch`: plan and run many small LLM tasks under a provider's rate limits.

    skilldeck batch plan TASKS.jsonl --model gpt-4o-mini --rpm 500 --itpm 200000 --otpm 50000
    skilldeck batch run TASKS.jsonl --provider openai --model gpt-4o-mini --rpm 500 ... [--mode batch_api]
    skilldeck batch run --resume JOB
    skilldeck batch status|results|cancel JOB
    skilldeck batch mock-server --port 8787 --rpm 600 --faults error_500=0.01,missing=0.02

Exit codes of `run` (and `status` of a finished job): 0 succeeded, 1 failed (or cancelled,
interrupted), 2 completed with errors (some tasks failed), 3 still running (`status`).
"""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("batch", help="run many small LLM tasks in batches under rate limits",
                              description="Pack tasks into batches with a strict JSON contract, pace them to the "
                                          "provider's limits and journal one result per task (resumable).")
    sub = p.add_subparsers(dest="batch_command", metavar="ACTION")
    plan = sub.add_parser("plan", help="dry run: batches, tokens, cost and the time the limits allow")
    _run_args(plan, resume=False)
    plan.add_argument("--json", action="store_true", help="print the plan as JSON")
    plan.set_defaults(func=plan_cmd)
    run = sub.add_parser("run", help="run the tasks as a background job with a live progress bar")
    _run_args(run, resume=True)
    run.add_argument("--output", default=None, metavar="PATH",
                     help="where to copy results.jsonl (default: TASKS.results.jsonl next to the task file)")
    run.add_argument("--detach", action="store_true", help="start the job and return at once")
    run.add_argument("--json", action="store_true", help="print the final report as JSON")
    run.set_defaults(func=run_cmd)
    status = sub.add_parser("status", help="a batch job's status, progress and report")
    status.add_argument("job")
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=status_cmd)
    results = sub.add_parser("results", help="print a batch job's results as JSONL, in task order")
    results.add_argument("job")
    results.add_argument("--status", choices=["ok", "INSUFFICIENT_DATA", "failed"], default=None)
    results.set_defaults(func=results_cmd)
    cancel = sub.add_parser("cancel", help="stop a batch job (finished results are kept; resume continues it)")
    cancel.add_argument("job")
    cancel.set_defaults(func=cancel_cmd)
    mock = sub.add_parser("mock-server", help="serve a local mock provider (OpenAI + Anthropic APIs) for testing")
    mock.add_argument("--port", type=int, default=8787)
    _limit_args(mock)
    mock.add_argument("--latency", type=float, default=0.05, help="seconds per response (plus per-token time)")
    mock.add_argument("--per-token", type=float, default=0.0, help="seconds per output token")
    mock.add_argument("--faults", default="", help="e.g. error_500=0.01,reset=0.01,hang=0.005,malformed=0.01,"
                                                   "truncate=0.01,missing=0.01")
    mock.add_argument("--seed", type=int, default=0)
    mock.add_argument("--hang", type=float, default=120.0, help="seconds a 'hang' fault holds the request")
    mock.set_defaults(func=mock_cmd)
    p.set_defaults(func=lambda args: p.print_help() or 2)


def _limit_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--rpm", type=float, default=None, help="requests per minute")
    p.add_argument("--itpm", type=float, default=None, help="input tokens per minute")
    p.add_argument("--otpm", type=float, default=None, help="output tokens per minute")
    p.add_argument("--tpm", type=float, default=None, help="combined tokens per minute (OpenAI-style)")


def _run_args(p: argparse.ArgumentParser, resume: bool) -> None:
    p.add_argument("tasks", nargs="?" if resume else None, help="JSONL task file: one {\"id\": ..., fields...} per line")
    if resume:
        p.add_argument("--resume", default=None, metavar="JOB", help="resume a cancelled, failed or killed run")
    p.add_argument("--provider", default="openai", help="openai, anthropic, deepseek, vllm, llamacpp, ollama, "
                                                        "litellm, openai-compatible (default openai)")
    p.add_argument("--model", default="gpt-4o-mini")
    p.add_argument("--base-url", default=None, help="API base URL (default: the provider's)")
    p.add_argument("--api-key-env", default=None, help="environment variable holding the key (never pass the key)")
    p.add_argument("--structured", choices=["json_schema", "json_object", "tool", "none"], default=None)
    p.add_argument("--instructions", default=None, help="what to do with each task")
    p.add_argument("--instructions-file", default=None, metavar="FILE")
    p.add_argument("--rule", action="append", default=None, help="an extra rule (repeatable)")
    p.add_argument("--output-schema", default=None, metavar="JSON|@FILE", help="JSON schema of one task's output")
    p.add_argument("--output-tokens", type=int, default=None, help="expected output tokens per task (default 150)")
    p.add_argument("--batch-size", type=int, default=None, help="most tasks per request (default 20)")
    p.add_argument("--max-input-tokens", type=int, default=None)
    p.add_argument("--max-output-tokens", type=int, default=None)
    p.add_argument("--context-window", type=int, default=None)
    _limit_args(p)
    p.add_argument("--concurrency", type=int, default=None, help="requests in flight (default 4)")
    p.add_argument("--max-attempts", type=int, default=None)
    p.add_argument("--timeout", type=float, default=None, help="per-request timeout in seconds (default 60)")
    p.add_argument("--batch-api", action="store_true", default=None, help="price at the batch-API discount")
    p.add_argument("--mode", choices=["live", "batch_api"], default=None,
                   help="live (paced requests) or batch_api (the provider's batch API: half price, within 24 h)")
    p.add_argument("--poll", type=float, default=None, help="batch_api mode: seconds between polls (default 30)")
    p.add_argument("--headers", default=None, metavar="JSON",
                   help='rate-limit header mapping override, e.g. \'{"style": "none"}\'')
    p.add_argument("--latency", type=float, default=None, help="expected seconds per request (plan estimate)")
    p.add_argument("--prices", default=None, metavar="FILE", help="JSON price overrides {model: {input, output, "
                                                                  "cached_input}} per 1M tokens")


def _spec(args: argparse.Namespace):
    import json
    from pathlib import Path

    from pydantic import ValidationError

    from skilldeck.tools.errors import InvalidInputError
    from skilldeck.tools.batch.spec import RunSpec

    def read(value: str | None, what: str) -> str | None:
        if value is None:
            return None
        try:
            return Path(value).read_text(encoding="utf-8")
        except OSError as exc:
            raise InvalidInputError(f"cannot read {what} {value}: {exc}") from exc

    values = {"tasks_path": args.tasks, "provider": args.provider, "model": args.model, "base_url": args.base_url,
              "api_key_env": args.api_key_env, "structured": args.structured,
              "instructions": args.instructions or read(args.instructions_file, "the instructions file"),
              "rules": args.rule, "output_tokens_per_task": args.output_tokens, "batch_size": args.batch_size,
              "max_input_tokens": args.max_input_tokens, "max_output_tokens": args.max_output_tokens,
              "context_window": args.context_window, "rpm": args.rpm, "itpm": args.itpm, "otpm": args.otpm,
              "tpm": args.tpm, "concurrency": args.concurrency, "max_attempts": args.max_attempts,
              "timeout_s": args.timeout, "batch_api": args.batch_api, "mode": args.mode, "poll_s": args.poll,
              "latency_s": args.latency}
    try:
        if args.headers:
            values["headers"] = json.loads(args.headers)
        if args.output_schema:
            raw = args.output_schema
            values["output_schema"] = json.loads(read(raw[1:], "the schema file") if raw.startswith("@") else raw)
        if args.prices:
            values["prices"] = json.loads(read(args.prices, "the price file") or "{}")
        return RunSpec.model_validate({k: v for k, v in values.items() if v is not None})
    except ValueError as exc:  # JSON and pydantic errors both derive from ValueError
        detail = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
        raise InvalidInputError(f"invalid batch settings: {detail}") from exc


def plan_cmd(args: argparse.Namespace) -> int:
    import json

    from skilldeck.tools.batch.service import dry_run

    report = dry_run(_spec(args))
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    t = report["limit_time"]
    cost = report["estimated_cost"]
    print(f"{report['tasks']} tasks in {report['batches']} batches ({report['tasks_per_batch']} per batch)")
    print(f"input tokens {report['input_tokens']:,} (one request per task: {report['unbatched_input_tokens']:,}; "
          f"saved {report['input_tokens_saved']:,})")
    print(f"max output tokens {report['max_output_tokens']:,}")
    live, batch = report["modes"]["live"], report["modes"]["batch_api"]
    if t["seconds"] is not None or live["time"]["binding"]:
        print(f"live: about {live['time']['seconds']:.0f} s (binding: {live['time']['binding']}; assumes "
              f"{live['time'].get('assumes', '')}), {_usd(live['cost_usd'])}")
    print(f"batch_api: {batch['time']['note']}, {_usd(batch['cost_usd'])}")
    print(f"mode {report['mode']}: estimated cost {_usd(cost.get('cost_usd'))} ({cost.get('note', '')})")
    return 0


def _usd(value: float | None) -> str:
    return "cost unknown" if value is None else f"${value:.4f}"


EXIT = {"succeeded": 0, "completed_with_errors": 2, "queued": 3, "running": 3}


def _jobs():
    from skilldeck.tools.home import home_dir
    from skilldeck.tools.jobs import JobManager

    return JobManager(home_dir() / "jobs")


def status_cmd(args: argparse.Namespace) -> int:
    from skilldeck.tools.batch.service import job_view

    view = job_view(_jobs(), args.job)
    _print_summary(view, view.get("report") or {}, args.json)
    if not args.json and view.get("progress"):
        p = view["progress"]
        print(f"progress: {p.get('done')}/{p.get('total')} tasks, requests {p.get('requests', 0)}, "
              f"429s {p.get('rate_limited', 0)}")
    return EXIT.get(view["status"], 1)


def results_cmd(args: argparse.Namespace) -> int:
    import json

    from skilldeck.tools.batch.service import results_page

    offset: int | None = 0
    while offset is not None:
        page = results_page(_jobs(), args.job, offset, 500, args.status)
        for row in page["results"]:
            print(json.dumps(row, ensure_ascii=False))
        offset = page["next_offset"]
    return 0


def cancel_cmd(args: argparse.Namespace) -> int:
    import sys

    from skilldeck.tools.batch.service import job_view

    jobs = _jobs()
    job_view(jobs, args.job)  # an unknown or non-batch job fails with the list of batch jobs
    info = jobs.cancel(args.job)
    step = job_view(jobs, info.id).get("next_step")  # no resume hint for a run that finished well
    print(f"job {info.id}: {info.status.value}" + (f"; {step}" if step else ""), file=sys.stderr)
    return 0


def run_cmd(args: argparse.Namespace) -> int:
    import shutil
    import sys
    from pathlib import Path

    from skilldeck.tools.batch.service import job_view, resume_run, start_run
    from skilldeck.tools.errors import InvalidInputError
    from skilldeck.tools.home import home_dir
    from skilldeck.tools.jobs import JobManager

    jobs = JobManager(home_dir() / "jobs")
    if args.resume:
        info = resume_run(jobs, args.resume)
    elif args.tasks:
        info = start_run(jobs, _spec(args))
    else:
        raise InvalidInputError("give a task file (skilldeck batch run TASKS.jsonl ...) or --resume JOB.")
    print(f"batch job {info.id} started (resume later with: skilldeck batch run --resume {info.id})",
          file=sys.stderr)
    if args.detach:
        print(info.id)
        return 0
    try:
        final = _follow(jobs, info.id)
    except KeyboardInterrupt:
        jobs.cancel(info.id)
        print(f"\ncancelled; finished results are kept. Resume with: skilldeck batch run --resume {info.id}",
              file=sys.stderr)
        return 130
    view = job_view(jobs, info.id)
    report = view.get("report") or {}
    results = final.dir / "results.jsonl"
    if results.exists():
        spec_path = final.spec.get("tasks_path") or "tasks.jsonl"
        target = Path(args.output) if args.output else Path(spec_path).with_suffix(".results.jsonl")
        shutil.copyfile(results, target)
        report["results_path"] = str(target)
    _print_summary(view, report, args.json)
    return EXIT.get(view["status"], 1)


def _follow(jobs, job_id: str):
    import sys
    import time

    tty = sys.stderr.isatty()
    last_print = 0.0
    start = time.monotonic()
    while True:
        info = jobs.get(job_id)
        p = info.progress or {}
        done, total = p.get("done") or 0, p.get("total") or 0
        now = time.monotonic()
        if tty or now - last_print >= 5 or info.status.finished:
            width = 30
            filled = int(width * done / total) if total else 0
            counts = f"{done}/{total} tasks" if total else "planning"
            line = (f"[{'#' * filled}{'.' * (width - filled)}] {counts}  requests {p.get('requests', 0)}"
                    f"  429s {p.get('rate_limited', 0)}  {now - start:.0f}s  {info.status.value}")
            print(("\r" + line) if tty else line, end="" if tty else "\n", file=sys.stderr, flush=True)
            last_print = now
        if info.status.finished:
            if tty:
                print(file=sys.stderr)
            return info
        time.sleep(0.2)


def _print_summary(view: dict, report: dict, as_json: bool) -> None:
    import json

    if as_json:
        print(json.dumps({**view, "report": report}, indent=2))
        return
    what = {"succeeded": "every task answered", "completed_with_errors": "finished, some tasks failed",
            "failed": "failed", "cancelled": "cancelled", "interrupted": "the worker died; resume it"}
    print(f"job {view['job_id']}: {view['status']} ({view.get('error') or what.get(view['status'], 'in progress')})")
    if not report:
        if view.get("next_step"):
            print(view["next_step"])
        return
    cost = report.get("cost", {})
    usd = cost.get("cost_usd")
    tok = report.get("tokens", {})
    print(f"tasks {report['tasks']}: ok {report['ok']}, INSUFFICIENT_DATA {report['insufficient_data']}, "
          f"failed {report['failed']}, unanswered {report['unanswered']}")
    print(f"requests {report['requests']} ({report['requests_by_outcome']}); 429 share "
          f"{report['rate_limited_share']:.2%}; retry token overhead {report['retry_token_overhead']:.2%}")
    print(f"tokens in {tok.get('input', 0):,} (cached {tok.get('cached_input', 0):,}), out {tok.get('output', 0):,}; "
          f"cost {'unknown' if usd is None else f'${usd:.4f}'} (prices of {cost.get('price_table_date')})")
    if report.get("elapsed_s") is not None:
        print(f"elapsed {report['elapsed_s']} s this session, {report.get('job_active_s')} s over "
              f"{report.get('sessions', 1)} session(s): {report.get('tasks_per_minute')} tasks/min for the whole job")
    if report.get("misattributed_rejected") or report.get("near_misses"):
        print(f"answers on the wrong task rejected: {report.get('misattributed_rejected', 0)}; near-miss shapes "
              f"accepted: {report.get('near_misses') or 'none'}")
    for failure in report.get("failures", [])[:5]:
        print(f"  failed {failure['id']}: {failure['reason']}")
    if report.get("results_path"):
        print(f"results: {report['results_path']}")
    if view.get("next_step"):
        print(view["next_step"])


def mock_cmd(args: argparse.Namespace) -> int:
    from skilldeck.tools.batch.limits import RateLimits
    from skilldeck.tools.batch.mock_provider import MockConfig, parse_faults, serve_forever
    from skilldeck.tools.errors import InvalidInputError

    try:
        faults = parse_faults(args.faults)
    except ValueError as exc:
        raise InvalidInputError(str(exc)) from exc
    config = MockConfig(limits=RateLimits(args.rpm, args.itpm, args.otpm, args.tpm), latency_s=args.latency,
                        per_output_token_s=args.per_token, faults=faults, seed=args.seed, hang_s=args.hang)
    try:
        serve_forever(config, args.port)
    except KeyboardInterrupt:
        pass
    return 0
