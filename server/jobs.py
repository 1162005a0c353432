"""Shared MCP helpers for background jobs (batch runs, training): progress while waiting."""

from __future__ import annotations

import time
from typing import Any

import anyio
from mcp.server.mcpserver import Context

from skilldeck.server.limits import slot_lent
from skilldeck.tools.jobs import JobInfo, JobManager

__all__ = ["follow_job"]


async def follow_job(ctx: Context | None, jobs: JobManager, job_id: str, wait_s: float,
                     poll_s: float = 0.25) -> JobInfo:
    """Wait up to `wait_s` seconds for a job, sending MCP progress notifications as it advances.

    Progress notifications need the caller's progress token, so they flow only while this
    request is open; afterwards the status tools report the same figures.
    """
    deadline = time.monotonic() + max(0.0, wait_s)
    last: Any = None
    while True:
        info = await anyio.to_thread.run_sync(jobs.get, job_id)
        progress = info.progress or {}
        snapshot = (progress.get("done"), progress.get("total"), info.status)
        if ctx is not None and snapshot != last and progress.get("done") is not None:
            last = snapshot
            try:
                await ctx.report_progress(float(progress["done"]), _as_float(progress.get("total")),
                                          progress.get("message") or info.status.value)
            except Exception:  # noqa: BLE001 - a client that went away must not fail the job
                pass
        if info.status.finished or time.monotonic() >= deadline:
            return info
        async with slot_lent():  # asleep, the call needs no place among those that run
            await anyio.sleep(poll_s)


def _as_float(value: Any) -> float | None:
    return None if value is None else float(value)
