"""What a job's entry point receives: its folder, its spec, and ways to report and stop."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from skilldeck.tools.errors import SkilldeckError
from skilldeck.tools.jobs.files import append_jsonl, read_json, write_json_atomic

__all__ = ["JobCancelled", "JobContext", "JobFailed", "MAX_EVENTS_BYTES"]

MAX_EVENTS_BYTES = 64 << 20  # past this, events.jsonl takes only the events that start or end a run
LIFECYCLE_EVENTS = frozenset({"started", "resumed", "succeeded", "failed", "cancelled", "completed_with_errors",
                              "early_stop", "launch"})


class JobCancelled(SkilldeckError):
    """Raised by an entry point (or `JobContext.check_cancelled`) to stop after saving its work."""


class JobFailed(SkilldeckError):
    """Raised by an entry point whose work ended but failed: the job is ``failed`` with this message,
    and `result` (the report of what happened) is kept as the job's result."""

    def __init__(self, message: str, result: Any = None) -> None:
        super().__init__(message)
        self.result = result


@dataclass
class JobContext:
    """Handed to a job's entry point.

    Usage::

        def run(ctx: JobContext) -> dict:
            for i, item in enumerate(items):
                ctx.check_cancelled()          # raises JobCancelled once cancel was asked
                ...
                ctx.progress(i + 1, len(items), "item done", loss=0.3)
            return {"summary": ...}           # stored as the job's result
    """

    dir: Path
    job_id: str
    spec: dict[str, Any]
    resume: bool = False
    _cancel_flag: bool = field(default=False, repr=False)
    _last_state_write: float = field(default=0.0, repr=False)
    _capped: bool = field(default=False, repr=False)
    errors: str | None = None  # set by `completed_with_errors`

    def completed_with_errors(self, message: str) -> None:
        """Mark the job's result as partial: it finishes ``completed_with_errors`` with `message` as its error."""
        self.errors = message

    @property
    def events_path(self) -> Path:
        return self.dir / "events.jsonl"

    def cancelled(self) -> bool:
        """True once cancellation was asked for (cancel file or SIGTERM)."""
        if not self._cancel_flag and (self.dir / "cancel").exists():
            self._cancel_flag = True
        return self._cancel_flag

    def request_cancel(self) -> None:
        self._cancel_flag = True

    def check_cancelled(self) -> None:
        if self.cancelled():
            raise JobCancelled(f"job {self.job_id} was cancelled")

    def log(self, event: str, **data: Any) -> None:
        """Append an event to the job's events.jsonl (flushed to disk). Past MAX_EVENTS_BYTES only the
        events that start or end a run are kept (and one note that the rest are left out): a run of
        10**9 steps logging every step grew the log by 12 MB an hour. state.json keeps the latest
        progress either way."""
        try:
            full = self.events_path.stat().st_size > MAX_EVENTS_BYTES
        except OSError:
            full = False
        if full and event not in LIFECYCLE_EVENTS:
            if not self._capped:
                self._capped = True
                append_jsonl(self.events_path, {"t": round(time.time(), 3), "event": "events_capped",
                                                "message": f"events.jsonl passed {MAX_EVENTS_BYTES:,} bytes; "
                                                           "progress, eval and checkpoint events are left out"})
            return
        append_jsonl(self.events_path, {"t": round(time.time(), 3), "event": event, **data})

    def progress(self, done: float, total: float | None, message: str = "", **metrics: Any) -> None:
        """Record progress; it is logged as an event and mirrored into state.json (throttled)."""
        self.log("progress", done=done, total=total, message=message, **metrics)
        now = time.monotonic()
        if now - self._last_state_write < 0.2 and (total is None or done < total):
            return
        self._last_state_write = now
        state_path = self.dir / "state.json"
        state = read_json(state_path, {})
        state = state if isinstance(state, dict) else {}
        state["progress"] = {"done": done, "total": total, "message": message, **metrics}
        state["updated"] = time.time()
        write_json_atomic(state_path, state)
