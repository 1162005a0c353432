"""The run's durable journal: append-only JSONL, one fsync per response, read back on resume.

Lines are ``{"type": "result", "id", "status", "output", "reason", "attempts"}`` (one per
finished task, never two for one id) and ``{"type": "request", ...}`` (usage of every request
sent, so a resumed run still reports the tokens and cost of the whole job) and
``{"type": "session", "t"}`` (each run's start, so its rate counts every session's time). A
torn last line from a crash is skipped on reading.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from skilldeck.tools.jobs.files import read_jsonl

__all__ = ["Journal", "JournalState"]


@dataclass
class JournalState:
    """What a journal holds: finished results by id and every request's record."""

    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    sessions: list[float] = field(default_factory=list)  # wall-clock start of each run of the job
    extra: list[dict[str, Any]] = field(default_factory=list)  # other records (batch-API submissions ...)

    def active_seconds(self, current_s: float | None = None) -> float:
        """Seconds the job spent running, over all its sessions (a killed one ends at its last request)."""
        starts = sorted(self.sessions)
        total = 0.0
        for i, start in enumerate(starts):
            end = starts[i + 1] if i + 1 < len(starts) else float("inf")
            times = [r["t"] for r in self.requests if isinstance(r.get("t"), (int, float)) and start <= r["t"] < end]
            span = (max(times) - start) if times else 0.0
            if i == len(starts) - 1 and current_s is not None:
                span = max(span, current_s)
            total += max(0.0, span)
        return total if starts else (current_s or 0.0)


class Journal:
    """Append-only record of a batch run in ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _drop_torn_tail(self.path)
        self.state = self.read(self.path)

    @staticmethod
    def read(path: Path) -> JournalState:
        state = JournalState()
        for record in _records(Path(path)):
            if record.get("type") == "result" and isinstance(record.get("id"), str):
                state.results.setdefault(record["id"], record)   # the first answer for an id wins
            elif record.get("type") == "request":
                state.requests.append(record)
            elif record.get("type") == "session" and isinstance(record.get("t"), (int, float)):
                state.sessions.append(float(record["t"]))
            elif record.get("type") not in ("result", None):
                state.extra.append(record)
        return state

    def mark_session(self) -> None:
        """Record that a run of the job starts now."""
        now = time.time()
        self.write_record({"type": "session", "t": round(now, 3)})
        self.state.sessions.append(now)

    def write_record(self, record: dict[str, Any]) -> None:
        """Append one other record (flushed and fsynced); it comes back in `state.extra` on reading."""
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        if record.get("type") != "session":
            self.state.extra.append(record)

    def done(self, task_id: str) -> bool:
        return task_id in self.state.results

    def append(self, results: list[dict[str, Any]], request: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Write new results (ids already finished are dropped) and a request record; flush and fsync."""
        fresh = []
        for result in results:
            if result["id"] not in self.state.results:
                record = {"type": "result", **result}
                self.state.results[result["id"]] = record
                fresh.append(record)
        lines = fresh + ([{"type": "request", **request}] if request else [])
        if lines:
            text = "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in lines)
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            if request:
                self.state.requests.append(lines[-1])
        return fresh


def _drop_torn_tail(path: Path) -> None:
    """Cut a line left half-written by a crash, so the next append starts on a line of its own
    (appended onto the fragment, the first new record would be unreadable too)."""
    try:
        with open(path, "rb+") as fh:
            size = fh.seek(0, os.SEEK_END)
            if size == 0:
                return
            fh.seek(size - 1)
            if fh.read(1) == b"\n":
                return
            fh.seek(0)
            keep = fh.read().rfind(b"\n") + 1
            fh.truncate(keep)
            fh.flush()
            os.fsync(fh.fileno())
    except FileNotFoundError:
        return


def _records(path: Path) -> Iterator[dict[str, Any]]:
    # Torn lines from a crash mid-write, and a journal that is no regular file, are skipped.
    for _, record in read_jsonl(path):
        yield record
