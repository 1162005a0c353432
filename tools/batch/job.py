"""The batch run as a job: ``JobManager.start("batch", ENTRY, spec)`` runs `run` in a worker.

The job folder holds ``tasks.jsonl`` (a copy of the task file taken at the first start, so a
resume never sees an edited file; tasks given inline are written there when the job is made),
``journal.jsonl`` (results and request usage) and, once every task is answered,
``results.jsonl`` in task order.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import time
from pathlib import Path
from typing import Any

from skilldeck.tools.batch.errors import BatchError
from skilldeck.tools.batch.journal import Journal
from skilldeck.tools.batch.limits import RateLimiter
from skilldeck.tools.batch.report import summarize
from skilldeck.tools.batch.runner import BatchRunner, RunOutcome
from skilldeck.tools.batch.spec import RunSpec
from skilldeck.tools.batch.tasks import Task, load_tasks, parse_tasks, read_task_file
from skilldeck.tools.jobs import JobContext, JobFailed

__all__ = ["ENTRY", "run", "write_results", "JOURNAL", "TASKS", "RESULTS"]

ENTRY = "skilldeck.tools.batch.job:run"
JOURNAL, TASKS, RESULTS = "journal.jsonl", "tasks.jsonl", "results.jsonl"


def run(ctx: JobContext) -> dict[str, Any]:
    """Job entry point: answer every task in the job's copy of the task file."""
    spec = RunSpec.model_validate(ctx.spec)
    tasks = _job_tasks(ctx.dir, spec)
    journal = Journal(ctx.dir / JOURNAL)
    ctx.log("batch-start", tasks=len(tasks), already_done=sum(journal.done(t.id) for t in tasks), resume=ctx.resume)
    last = [0.0]

    def progress(done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - last[0] < 0.5:
            return  # progress events are fsynced; a few per second is plenty
        last[0] = now
        reqs = journal.state.requests
        ctx.progress(done, total, f"{done}/{total} tasks answered", requests=len(reqs),
                     rate_limited=sum(r.get("status") == "rate_limit" for r in reqs))

    outcome = asyncio.run(_run(spec, tasks, journal, progress, ctx.cancelled))
    report = summarize(journal.state, tasks, spec.model, batch_api=spec.priced_as_batch, prices=spec.prices,
                       elapsed_s=outcome.elapsed_s)
    report["planned"] = outcome.planned
    report["mode"] = spec.mode
    if outcome.fatal:
        raise BatchError(f"the provider refused the run: {outcome.fatal}. Fix the cause, then resume job {ctx.job_id}.")
    if outcome.finished:
        write_results(ctx.dir, tasks, journal)
        report["results_path"] = str(ctx.dir / RESULTS)
        _judge(ctx, report)
    return report


def _judge(ctx: JobContext, report: dict[str, Any]) -> None:
    """A run whose every task failed is a failed job; one with some failures completed with errors."""
    failed, answered = report.get("failed", 0), report.get("answered", 0)
    if not failed:
        return
    first = (report.get("failures") or [{}])[0]
    why = f"first: task {first.get('id')!r}: {first.get('reason') or 'no reason recorded'}"
    if failed >= answered:
        raise JobFailed(f"all {failed} tasks failed ({why}). Fix the cause and start a new run; batch_results "
                        "lists every reason.", result=report)
    ctx.completed_with_errors(f"{failed} of {answered} tasks failed ({why}); batch_results(status='failed') "
                              "lists them.")


async def _run(spec: RunSpec, tasks: list[Task], journal: Journal, progress: Any, cancelled: Any) -> RunOutcome:
    import httpx2  # the worker process is the only place that talks to the provider

    limits = spec.limits()
    pool = httpx2.Limits(max_connections=limits.concurrency * 2, max_keepalive_connections=limits.concurrency * 2)
    async with httpx2.AsyncClient(limits=pool, timeout=spec.timeout_s) as client:
        from skilldeck.tools.batch.providers import make_provider

        args = (make_provider(spec.provider_config(), client), spec.prompt_spec(), spec.plan_options(),
                RateLimiter(limits), journal, spec.retry_policy(), progress, cancelled)
        if spec.mode == "batch_api":
            from skilldeck.tools.batch.batch_api import BatchAPIRunner

            return await BatchAPIRunner(*args, poll_s=spec.poll_s).run(tasks)
        return await BatchRunner(*args).run(tasks)


def _job_tasks(job_dir: Path, spec: RunSpec) -> list[Task]:
    copy = job_dir / TASKS
    if not copy.exists():  # a job started before start_run wrote the copy itself
        if not spec.tasks_path:
            raise BatchError("the job spec names no tasks_path; start the run with a task file.")
        text = read_task_file(spec.tasks_path)  # regular, bounded; the copy is what was parsed
        tasks = parse_tasks(io.StringIO(text), source=spec.tasks_path)
        tmp = copy.with_suffix(".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, copy)
        return tasks
    return load_tasks(copy)


def write_results(job_dir: Path, tasks: list[Task], journal: Journal) -> Path:
    """Write results.jsonl in task order (atomically)."""
    path = job_dir / RESULTS
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        for task in tasks:
            r = journal.state.results.get(task.id)
            if r is not None:
                fh.write(json.dumps({k: r.get(k) for k in ("id", "status", "output", "reason", "attempts")},
                                    ensure_ascii=False) + "\n")
    os.replace(tmp, path)
    return path
