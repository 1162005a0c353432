"""The job worker process: ``python -m skilldeck.tools.jobs.worker JOB_DIR [--resume]``.

Imports the entry point named in job.json, runs it with a `JobContext`, and records the
outcome in state.json. SIGTERM sets the cancel flag so the entry point can save and stop.
"""

from __future__ import annotations

import importlib
import os
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from skilldeck.tools.jobs.context import JobCancelled, JobContext, JobFailed
from skilldeck.tools.jobs.files import read_json, write_json_atomic
from skilldeck.tools.jobs.manager import process_start_time


def _load_entry(entry: str) -> Any:
    module_name, _, attr = entry.partition(":")
    return getattr(importlib.import_module(module_name), attr)


def _update_state(job_dir: Path, **changes: Any) -> None:
    path = job_dir / "state.json"
    state = read_json(path, {})
    state = state if isinstance(state, dict) else {}
    state.update(changes, updated=time.time())
    write_json_atomic(path, state)


def run_job(job_dir: Path, resume: bool = False) -> int:
    """Run the job in `job_dir` in this process; return the process exit code."""
    job = read_json(job_dir / "job.json")
    if not isinstance(job, dict) or not isinstance(job.get("id"), str) or not isinstance(job.get("entry"), str):
        print(f"no readable job.json in {job_dir}", file=sys.stderr)
        return 2
    ctx = JobContext(dir=job_dir, job_id=job["id"], spec=job.get("spec", {}), resume=resume)
    signal.signal(signal.SIGTERM, lambda *_: ctx.request_cancel())
    # pid_start lets the manager tell this worker from a later process that reuses its pid.
    _update_state(job_dir, status="running", pid=os.getpid(), pid_start=process_start_time(os.getpid()),
                  started=time.time(), resumed=resume, error=None, finished=None)
    ctx.log("started", resume=resume)
    try:
        result = _load_entry(job["entry"])(ctx)
    except JobCancelled as exc:
        ctx.log("cancelled", message=str(exc))
        _update_state(job_dir, status="cancelled", finished=time.time())
        return 0
    except JobFailed as exc:  # the work ended and failed; its report is kept
        ctx.log("failed", error=str(exc))
        _update_state(job_dir, status="failed", finished=time.time(), error=str(exc), result=exc.result)
        return 1
    except BaseException as exc:  # noqa: BLE001 - the worker must record every failure
        ctx.log("failed", error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc())
        _update_state(job_dir, status="failed", finished=time.time(), error=f"{type(exc).__name__}: {exc}")
        return 1
    if ctx.cancelled():
        ctx.log("cancelled", message="stopped after cancellation")
        _update_state(job_dir, status="cancelled", finished=time.time(), result=result)
        return 0
    if ctx.errors:
        ctx.log("completed_with_errors", error=ctx.errors)
        _update_state(job_dir, status="completed_with_errors", finished=time.time(), result=result, error=ctx.errors)
        return 0
    ctx.log("succeeded")
    _update_state(job_dir, status="succeeded", finished=time.time(), result=result)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    resume = "--resume" in args
    paths = [a for a in args if a != "--resume"]
    if len(paths) != 1:
        print("usage: python -m skilldeck.tools.jobs.worker JOB_DIR [--resume]", file=sys.stderr)
        return 2
    return run_job(Path(paths[0]), resume=resume)


if __name__ == "__main__":
    sys.exit(main())
