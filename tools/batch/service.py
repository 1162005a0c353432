"""What the CLI and the MCP adapter call: dry runs, starting runs as jobs, status and results."""

from __future__ import annotations

import contextlib
import io
import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from skilldeck.tools.batch.errors import BatchError
from skilldeck.tools.batch.job import ENTRY, JOURNAL, TASKS
from skilldeck.tools.batch.journal import Journal
from skilldeck.tools.batch.plan import estimate_time, make_plan
from skilldeck.tools.batch.prices import PRICE_TABLE, cost_of
from skilldeck.tools.batch.prompt import build_prompt
from skilldeck.tools.batch.providers import check_endpoint
from skilldeck.tools.batch.spec import RunSpec
from skilldeck.tools.batch.tasks import Task, load_tasks, parse_tasks, read_task_file
from skilldeck.tools.deadline import holding
from skilldeck.tools.errors import InvalidInputError, NotFoundError
from skilldeck.tools.jobs import JobInfo, JobManager

__all__ = ["dry_run", "start_run", "resume_run", "job_view", "results_page", "price_table", "KIND"]

KIND = "batch"

# One call at a time holds a task file's tasks in this process: a file near the 1,000,000-task cap
# takes about 680 MB as tasks, and a plan, a start and each results page read it whole.
_TASKS_HELD = threading.Lock()


def _turn(reads_file: bool = True) -> contextlib.AbstractContextManager:
    """This process's turn to hold a task file's tasks, waited for within the call's deadline."""
    return holding(_TASKS_HELD, "Waiting for another batch call that reads a task file") if reads_file \
        else contextlib.nullcontext()


def dry_run(spec: RunSpec, tasks: list[Task] | None = None, preview_chars: int = 1200,
            within: Sequence[Path] | None = None) -> dict[str, Any]:
    """Plan without sending: batches, tokens, input saved, cost estimate, time the limits allow.
    `within`: folders the task file must really lie in (None: anywhere)."""
    with _turn(tasks is None):
        return _dry_run(spec, tasks if tasks is not None else load_tasks(_tasks_path(spec), within), preview_chars)


def _dry_run(spec: RunSpec, tasks: list[Task], preview_chars: int) -> dict[str, Any]:
    prompt_spec = spec.prompt_spec()
    plan = make_plan(tasks, prompt_spec, spec.plan_options(), spec.limits())
    out = plan.summary(spec.limits())
    out["estimated_cost"] = cost_of(spec.model, plan.input_tokens, plan.max_output_tokens, 0, spec.priced_as_batch,
                                    spec.prices)
    out["estimated_cost"]["note"] = out["estimated_cost"].get("note") or \
        "output priced at each batch's max_tokens: an upper bound"
    live = estimate_time(plan, spec.limits(), spec.latency_s)
    out["mode"] = spec.mode
    out["estimated_seconds"] = live["seconds"]
    out["modes"] = {
        "live": {"cost_usd": cost_of(spec.model, plan.input_tokens, plan.max_output_tokens, 0, False,
                                     spec.prices)["cost_usd"], "time": live},
        "batch_api": {"cost_usd": cost_of(spec.model, plan.input_tokens, plan.max_output_tokens, 0, True,
                                          spec.prices)["cost_usd"],
                      "time": {"seconds": None, "note": "the provider's batch pool, outside the rate limits: "
                               "usually minutes to hours, at most 24 h (the completion window)"}},
    }
    spec.provider_config().resolved()  # an unknown provider fails here, not in the job
    spec.provider_config().header_mapping()  # so does a bad header override
    if plan.batches:
        first = build_prompt(prompt_spec, plan.batches[0].tasks)
        out["first_batch_preview"] = {"system": first.system[:preview_chars], "user": first.user[:preview_chars],
                                      "input_tokens": first.input_tokens, "max_tokens": first.max_tokens}
    return out


def _tasks_path(spec: RunSpec) -> Path:
    if not spec.tasks_path:
        raise InvalidInputError("no task file given; pass the path of a JSONL file (one {\"id\": ...} per line).")
    return Path(spec.tasks_path)


def start_run(jobs: JobManager, spec: RunSpec, tasks: list[Task] | None = None,
              within: Sequence[Path] | None = None) -> JobInfo:
    """Check the tasks, plan and provider now (errors before any job exists), then start the job.

    The tasks go into the job folder as its own task file, read here once: given inline (instead
    of `spec.tasks_path`) they are deleted with the job and nowhere else; read from a file (which
    must lie in `within`, when given), the worker runs the copy that was checked, never the file
    itself, which could have been swapped for a link or a FIFO since.
    """
    with _turn(tasks is None):
        if tasks is not None:
            spec = spec.model_copy(update={"tasks_path": None})
            text = "".join(json.dumps({"id": t.id, **t.fields}, ensure_ascii=False) + "\n" for t in tasks)
        else:
            path = _tasks_path(spec).resolve()
            spec = spec.model_copy(update={"tasks_path": str(path)})
            text = read_task_file(path, within)
            tasks = parse_tasks(io.StringIO(text), source=str(path))
        make_plan(tasks, spec.prompt_spec(), spec.plan_options(), spec.limits())
        del tasks
    files = {TASKS: text}
    from skilldeck.tools.batch.providers import Provider

    Provider.check_key(spec.provider_config())
    spec.provider_config().header_mapping()
    return jobs.start(KIND, ENTRY, spec.model_dump(exclude_none=True), files=files)


def resume_run(jobs: JobManager, job_id: str, trusted_urls: Sequence[str] | None = None) -> JobInfo:
    """Continue a cancelled, failed or interrupted run; answered tasks are not sent again.

    `trusted_urls` (a tool call's resume): the run's endpoint is checked again against the
    provider URLs configured now, so a URL the user has since removed receives no key."""
    info = _batch_job(jobs, job_id)
    if trusted_urls is not None:
        check_endpoint(RunSpec.model_validate(info.spec).provider_config(), trusted_urls, where=f"job {info.id}")
    return jobs.resume(info.id)


def _batch_job(jobs: JobManager, job_id: str) -> JobInfo:
    info = jobs.get(job_id)
    if info.kind != KIND:
        raise NotFoundError(f"job {job_id!r} is a {info.kind} job, not a batch run. "
                            f"Batch runs: {', '.join(j.id for j in jobs.list(KIND)[:10]) or 'none'}.")
    return info


def job_view(jobs: JobManager, job_id: str) -> dict[str, Any]:
    """Status, progress and (once finished) the run's report."""
    info = _batch_job(jobs, job_id)
    out = {"job_id": info.id, "status": info.status.value, "progress": info.progress, "error": info.error,
           "dir": str(info.dir)}
    if info.result is not None:
        out["report"] = info.result
    if info.status.value == "failed" and isinstance(info.result, dict) and not info.result.get("unanswered"):
        out["next_step"] = ("every task failed, so a resume would change nothing: fix the cause (see error and "
                            f"batch_results(job_id='{info.id}', status='failed')), then start a new run")
    elif info.status.value in ("cancelled", "failed", "interrupted"):
        out["next_step"] = (f"resume with run_batches(resume='{info.id}') or `skilldeck batch run --resume "
                            f"{info.id}`")
    return out


def results_page(jobs: JobManager, job_id: str, offset: int = 0, limit: int = 50,
                 status: str | None = None) -> dict[str, Any]:
    """Results in task order, paged; `status` filters (ok, INSUFFICIENT_DATA, failed)."""
    info = _batch_job(jobs, job_id)
    if offset < 0 or limit < 1:
        raise InvalidInputError(f"offset {offset} / limit {limit} invalid; use offset >= 0 and limit >= 1.")
    task_file = info.dir / TASKS
    if not task_file.exists():
        if info.status.finished:  # it ended before reading them: waiting will not help
            raise BatchError(f"job {job_id} ended ({info.status.value}) before reading its tasks, so it has no results"
                             f"{f': {info.error}' if info.error else ''}; resume it or start a new run.")
        raise BatchError(f"job {job_id} has not read its tasks yet (status {info.status.value}); try again shortly.")
    state = Journal.read(info.dir / JOURNAL)
    with _turn():
        rows = [state.results[t.id] for t in load_tasks(task_file) if t.id in state.results]
    if status:
        rows = [r for r in rows if r.get("status") == status]
    page = [{k: r.get(k) for k in ("id", "status", "output", "reason", "attempts")} for r in rows[offset:offset + limit]]
    nxt = offset + limit if offset + limit < len(rows) else None
    return {"job_id": job_id, "status": info.status.value, "total_answered": len(rows), "offset": offset,
            "results": page, "next_offset": nxt}


def price_table() -> dict[str, Any]:
    from skilldeck.tools.batch.prices import PRICES

    return {**PRICE_TABLE, "models": {name: p.to_dict() for name, p in PRICES.items()}}
