"""Small durable-file helpers shared by the job manager and workers.

Job files are read like skill files (`skilldeck.tools.fs.open_file`): regular files only, never
opened blocking, really inside their job folder and bounded in size. A FIFO, a link to /dev/zero or
a file outside in a job folder reads as missing, so it cannot stall or flood the server.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from skilldeck.tools.errors import SkilldeckError
from skilldeck.tools.fs import open_file

__all__ = ["append_jsonl", "read_json", "read_jsonl", "read_jsonl_tail", "write_json_atomic", "MAX_JSON_BYTES",
           "MAX_STATE_BYTES"]

MAX_JSON_BYTES = 64 << 20  # a larger job.json reads as damaged (inline tasks make it large)
MAX_STATE_BYTES = 8 << 20  # ... and a larger state.json: read at every status and listing, it holds a few KB


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON so readers never see a half-written file (write, fsync, rename).

    Each write has its own temporary file (mkstemp, in the same folder so the rename stays atomic):
    a name made of the pid alone was shared by the threads of one server, so two of them writing
    one state.json at once renamed each other's file away and failed with FileNotFoundError.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with open(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=1, default=str)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def read_json(path: Path, default: Any = None, limit: int = MAX_JSON_BYTES) -> Any:
    """The JSON value in `path`, or `default` when it is missing, unreadable, over `limit` bytes or not JSON."""
    try:
        with open_file(path, (path.parent,), what="job file") as f:
            return json.loads(f.read_all(limit, "job file").decode("utf-8"))
    except (SkilldeckError, OSError, ValueError, RecursionError):
        return default


def append_jsonl(path: Path, record: dict[str, Any]) -> None:
    """Append one record and flush it to disk before returning."""
    line = json.dumps(record, ensure_ascii=False, default=str) + "\n"
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(line)
        fh.flush()
        os.fsync(fh.fileno())


def read_jsonl_tail(path: Path, max_bytes: int = 1 << 20) -> list[dict[str, Any]]:
    """The records of the last `max_bytes` of `path` (whole lines only), oldest first: what a status
    shows, read without parsing a log that a long job grew to hundreds of megabytes."""
    try:
        f = open_file(path, (path.parent,), what="job file")
    except SkilldeckError:
        return []
    with f:
        f.seek(f.size - max_bytes)
        data = f.read(max_bytes)
    if f.size > max_bytes:
        data = data[data.find(b"\n") + 1:]  # the first line is cut: skip it
    return [r for r in map(_record, data.splitlines()) if r is not None]


def read_jsonl(path: Path, start: int = 0, max_line: int = MAX_JSON_BYTES) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line_index, record) from `start`; a torn last line (crash mid-write), a line that is
    not a JSON object or longer than `max_line`, and a file that cannot be read safely are skipped."""
    try:
        f = open_file(path, (path.parent,), what="job file")
    except SkilldeckError:
        return
    with f:
        for index, line in enumerate(f.lines(max_line=max_line)):
            if index >= start and line.strip():
                record = _record(line)
                if record is not None:
                    yield index, record


def _record(line: bytes) -> dict[str, Any] | None:
    """The JSON object on `line`, or None (a torn line, another JSON value)."""
    try:
        record = json.loads(line)
    except (ValueError, RecursionError):
        return None
    return record if isinstance(record, dict) else None
