"""Small durable-file helpers shared by the job manager and workers."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["append_jsonl", "read_json", "read_jsonl", "write_json_atomic"]


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON so readers never see a half-written file (write, fsync, rename)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1, default=str)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def read_json(path: Path, default: Any = None) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return default


def append_jsonl(path: Path, record: dict[str, Any]) -> None:
    """Append one record and flush it to disk before returning."""
    line = json.dumps(record, ensure_ascii=False, default=str) + "\n"
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(line)
        fh.flush()
        os.fsync(fh.fileno())


def read_jsonl(path: Path, start: int = 0) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line_index, record) from `start`; a torn last line (crash mid-write) is skipped."""
    try:
        fh = open(path, encoding="utf-8")
    except FileNotFoundError:
        return
    with fh:
        for index, line in enumerate(fh):
            if index < start or not line.strip():
                continue
            try:
                yield index, json.loads(line)
            except ValueError:
                continue
