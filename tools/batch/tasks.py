"""Tasks: records with an id and fields, read from JSONL with line-numbered errors."""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from skilldeck.tools.batch.errors import TaskFileError
from skilldeck.tools.deadline import check
from skilldeck.tools.errors import SkilldeckError
from skilldeck.tools.fs import read_limited

__all__ = ["Task", "load_tasks", "parse_tasks", "read_task_file", "tasks_from_records", "MAX_TASK_FILE_BYTES"]

MAX_ID_CHARS = 200
MAX_TASK_FILE_BYTES = 100_000_000  # the tasks are held in memory and copied into the job folder
# ... and so are their objects: a task takes some 600 bytes in memory however short its line, and 100 MB of
# '{"id":1,"a":1}' lines (6.7 million tasks) held about 4 GB in the server for each plan or results page.
MAX_TASKS = 1_000_000


@dataclass(frozen=True)
class Task:
    """One small LLM task: an id and the fields the prompt shows for it."""

    id: str
    fields: dict[str, Any]

    @property
    def shape(self) -> tuple[str, ...]:
        """Tasks with the same field names share a batch (same prompt layout, same output)."""
        return tuple(sorted(self.fields))


def _task_from(record: Any, where: str, seen: dict[str, str]) -> Task:
    if not isinstance(record, dict):
        raise TaskFileError(f"{where}: expected a JSON object like {{\"id\": \"t1\", \"text\": \"...\"}}, "
                            f"got {type(record).__name__}.")
    raw_id = record.get("id")
    if raw_id is None or isinstance(raw_id, bool) or not isinstance(raw_id, (str, int)) or str(raw_id).strip() == "":
        raise TaskFileError(f"{where}: missing or empty \"id\" (a string or integer). Give every task a unique id.")
    task_id = str(raw_id).strip()
    if len(task_id) > MAX_ID_CHARS or "\n" in task_id:
        raise TaskFileError(f"{where}: id {task_id[:40]!r}... is longer than {MAX_ID_CHARS} characters or "
                            "spans lines; use short ids.")
    if task_id in seen:
        raise TaskFileError(f"{where}: duplicate id {task_id!r} (first seen at {seen[task_id]}). Ids must be unique.")
    seen[task_id] = where
    fields = {k: v for k, v in record.items() if k != "id"}
    if not fields:
        raise TaskFileError(f"{where}: task {task_id!r} has no fields besides its id; add the input to work on.")
    return Task(task_id, fields)


def parse_tasks(lines: Iterable[str], source: str = "tasks") -> list[Task]:
    """Parse JSONL task lines; raise `TaskFileError` naming the first bad line."""
    seen: dict[str, str] = {}
    tasks = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        if len(tasks) % 10_000 == 0:
            check("Reading the tasks", "Pass fewer tasks at once.")
        if len(tasks) >= MAX_TASKS:
            raise TaskFileError(f"{source} holds more than {MAX_TASKS:,} tasks, the limit for one run (they are held "
                                "in memory); split them over several runs.")
        where = f"{source} line {number}"
        try:
            record = json.loads(line)
        except ValueError as exc:
            raise TaskFileError(f"{where}: not valid JSON ({exc.msg} at column {exc.colno}). "
                                "Each line must be one JSON object.") from exc
        except RecursionError as exc:
            raise TaskFileError(f"{where}: nested too deeply to read; each line must be one plain JSON object.") from exc
        tasks.append(_task_from(record, where, seen))
    if not tasks:
        raise TaskFileError(f"{source} holds no tasks; write one JSON object per line with an \"id\".")
    return tasks


def read_task_file(path: str | Path, within: Sequence[Path] | None = None) -> str:
    """The text of a JSONL task file: a regular file only (never a FIFO or device, which would stall the
    read), at most MAX_TASK_FILE_BYTES, and with `within` really inside those folders."""
    path = Path(path)
    try:
        data = read_limited(path, MAX_TASK_FILE_BYTES, within or (), what="task file")
    except SkilldeckError as exc:
        raise TaskFileError(f"{exc}. Pass a UTF-8 JSONL file.") from exc
    except OSError as exc:
        raise TaskFileError(f"cannot read task file {path}: {exc}. Pass a UTF-8 JSONL file.") from exc
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TaskFileError(f"cannot read task file {path}: {exc}. Pass a UTF-8 JSONL file.") from exc


def load_tasks(path: str | Path, within: Sequence[Path] | None = None) -> list[Task]:
    """Read a JSONL task file; raise `TaskFileError` with the line number of the first problem."""
    return parse_tasks(io.StringIO(read_task_file(path, within)), source=str(path))


def tasks_from_records(records: list[dict[str, Any]]) -> list[Task]:
    """Tasks given inline (MCP arguments); errors name the item index."""
    seen: dict[str, str] = {}
    tasks = [_task_from(r, f"task #{i}", seen) for i, r in enumerate(records)]
    if not tasks:
        raise TaskFileError("no tasks given; pass a list of objects with an \"id\".")
    return tasks
