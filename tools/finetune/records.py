"""Instruction records: reading JSONL in either accepted format and normalising it.

Two formats are accepted, one record per line:

    {"task": "...", "instruction": "...", "input": "...", "output": "..."}   (task, input optional)
    {"messages": [{"role": "system"|"user"|"assistant", "content": "..."}, ...], "task": "..."}

Every record becomes a `Record` whose prompt is a list of chat messages and whose completion
is the final assistant message, so the validator and the trainer see one shape.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from skilldeck.tools.deadline import check
from skilldeck.tools.errors import NotFoundError, SkilldeckError
from skilldeck.tools.finetune.errors import DatasetError
from skilldeck.tools.fs import open_file

__all__ = ["Record", "SchemaProblem", "read_records", "parse_record", "record_from_row"]

ROLES = ("system", "user", "assistant")
MAX_DATASET_BYTES = 1 << 30  # one dataset file; its records are held in memory
# ... and its lines: a record (or a line's problem) takes 200-800 bytes in memory however short the line,
# so 1 GiB of "1" lines (a 2 MB file of them took 225 MB) would have held about 100 GB.
MAX_DATASET_LINES = 1_000_000
_CHECK_EVERY = 10_000  # lines between checks of the call's deadline


@dataclass
class Record:
    """One training example, normalised. `line` is 1-based in `source`."""

    line: int
    source: str
    task: str
    prompt: list[dict[str, str]]
    completion: str
    instruction: str = ""
    input: str = ""
    group: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def prompt_text(self) -> str:
        """The prompt flattened to text (what decides whether two examples ask the same thing)."""
        return "\n".join(m["content"] for m in self.prompt)

    @property
    def text(self) -> str:
        return self.prompt_text + "\n" + self.completion

    @property
    def content_text(self) -> str:
        """What varies between examples: the input (or the instruction when there is none) and the answer.

        Templated datasets repeat one instruction or system prompt on every line; comparing whole
        texts would make every short example a near-duplicate of its neighbours.
        """
        if self.input.strip():
            return self.input + "\n" + self.completion
        users = [m["content"] for m in self.prompt if m["role"] != "system"]
        return "\n".join(users) + "\n" + self.completion

    def where(self) -> str:
        return f"{Path(self.source).name}:{self.line}"


@dataclass
class SchemaProblem:
    """A line that is not a usable record."""

    line: int
    source: str
    message: str

    def where(self) -> str:
        return f"{Path(self.source).name}:{self.line}"


def _text(value: Any) -> str | None:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (dict, list)):
        # Structured outputs are allowed; the model is trained on their JSON text.
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (int, float, bool)):
        return json.dumps(value)
    return None


def _from_messages(row: dict[str, Any], line: int, source: str) -> Record | str:
    messages = row["messages"]
    if not isinstance(messages, list) or not messages:
        return "'messages' must be a non-empty list of {role, content} objects"
    clean = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ROLES or not isinstance(m.get("content"), str):
            return f"messages[{i}] must be {{'role': one of {', '.join(ROLES)}, 'content': string}}"
        clean.append({"role": m["role"], "content": m["content"]})
    if clean[-1]["role"] != "assistant":
        return "the last message must be the assistant's answer (role 'assistant'), which is what is trained"
    if not clean[-1]["content"].strip():
        return "the final assistant message is empty: there is nothing to learn"
    if not any(m["role"] == "user" for m in clean[:-1]):
        return "no user message before the assistant's answer"
    users = [m["content"] for m in clean[:-1] if m["role"] == "user"]
    return Record(line=line, source=source, task=str(row.get("task") or "default"), prompt=clean[:-1],
                  completion=clean[-1]["content"], instruction=users[-1], group=_group(row), raw=row)


def _group(row: dict[str, Any]) -> str | None:
    value = row.get("group")
    return None if value is None else str(value)


def _from_fields(row: dict[str, Any], line: int, source: str) -> Record | str:
    instruction, inp, out = _text(row.get("instruction")), _text(row.get("input")), _text(row.get("output"))
    if instruction is None or inp is None or out is None:
        return "'instruction', 'input' and 'output' must be strings (or JSON values for 'output')"
    if not instruction.strip():
        return "'instruction' is missing or empty"
    if not out.strip():
        return "'output' is missing or empty: there is nothing to learn"
    content = instruction if not inp.strip() else f"{instruction}\n\n{inp}"
    return Record(line=line, source=source, task=str(row.get("task") or "default"),
                  prompt=[{"role": "user", "content": content}], completion=out,
                  instruction=instruction, input=inp, group=_group(row), raw=row)


def parse_record(text: str, line: int, source: str) -> Record | SchemaProblem:
    """Parse one JSONL line into a Record, or describe why it is not one."""
    try:
        row = json.loads(text)
    except json.JSONDecodeError as exc:
        return SchemaProblem(line, source, f"not valid JSON ({exc.msg} at column {exc.colno})")
    except RecursionError:
        return SchemaProblem(line, source, "nested too deeply to read")
    except ValueError as exc:  # an integer past Python's digit limit
        return SchemaProblem(line, source, f"not readable: {str(exc)[:120]}")
    if ("\\ud" in text or "\\uD" in text) and _has_surrogate(row):
        # json reads "\ud800" as a lone surrogate, which no file or tokenizer can take.
        return SchemaProblem(line, source, "holds a lone surrogate escape (such as \\ud800), which is no character")
    return record_from_row(row, line, source)


def _has_surrogate(value: Any) -> bool:
    """True if any text in the parsed value (keys included) holds a lone surrogate."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(item, dict):
            stack += list(item.keys()) + list(item.values())
        elif isinstance(item, list):
            stack += item
    return False


def record_from_row(row: Any, line: int = 0, source: str = "<memory>") -> Record | SchemaProblem:
    """Normalise an already-parsed row."""
    if not isinstance(row, dict):
        return SchemaProblem(line, source, f"expected a JSON object, got {type(row).__name__}")
    if "messages" in row:
        parsed = _from_messages(row, line, source)
    elif "instruction" in row or "output" in row:
        parsed = _from_fields(row, line, source)
    else:
        keys = ", ".join(sorted(row)[:8]) or "none"
        parsed = (f"unknown format (keys: {keys}); use {{task, instruction, input, output}} or "
                  "{messages: [{role, content}, ...]}")
    return SchemaProblem(line, source, parsed) if isinstance(parsed, str) else parsed


def iter_lines(path: Path, within: Sequence[Path] | None = None) -> Iterator[tuple[int, str]]:
    """Non-blank lines with their numbers, streamed: a regular file only (a FIFO or device would stall
    the reader), at most MAX_DATASET_BYTES and MAX_DATASET_LINES, and with `within` really inside those
    folders. Inside a call's deadline (`skilldeck.tools.deadline`) the read stops when it passes."""
    try:
        fh = open_file(path, within or (), what="dataset file")
    except NotFoundError:
        raise DatasetError(f"Dataset file {str(path)!r} does not exist; pass the path of a JSONL file.") from None
    except SkilldeckError as exc:
        raise DatasetError(f"{exc}; pass the path of a JSONL file.") from None
    with fh:
        if fh.size > MAX_DATASET_BYTES:
            raise DatasetError(f"Dataset file {str(path)!r} is {fh.size:,} bytes; the limit is "
                               f"{MAX_DATASET_BYTES:,}. Split it or sample from it.")
        for number, raw in enumerate(fh.lines(MAX_DATASET_BYTES), start=1):
            if number % _CHECK_EVERY == 0:
                # A read past its call's time limit went on for minutes, holding the analysis slot.
                check("Reading the dataset", "Validate a smaller dataset, or a sample of it.")
            if number > MAX_DATASET_LINES:
                raise DatasetError(f"Dataset file {str(path)!r} has more than {MAX_DATASET_LINES:,} lines, the "
                                   "limit (its records are held in memory). Split it or sample from it.")
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise DatasetError(f"Dataset file {str(path)!r} is not UTF-8 text ({exc.reason} at byte {exc.start} "
                                   f"of line {number}); re-encode it as UTF-8 JSONL.") from None
            if text.strip():
                yield number, text


def read_records(path: str | Path, within: Sequence[Path] | None = None) -> tuple[list[Record], list[SchemaProblem]]:
    """Read a JSONL file; return the usable records and the problems, both with line numbers.
    `within`: folders the file must really lie in (None: anywhere)."""
    path = Path(path)
    if path.is_dir():
        raise DatasetError(f"{str(path)!r} is a folder; pass a JSONL file (one record per line).")
    records: list[Record] = []
    problems: list[SchemaProblem] = []
    for number, text in iter_lines(path, within):
        parsed = parse_record(text, number, str(path))
        (problems if isinstance(parsed, SchemaProblem) else records).append(parsed)
    return records, problems


def load_records(path: str | Path, within: Sequence[Path] | None = None) -> list[Record]:
    """Read a JSONL file for training: any schema problem is an error naming its line."""
    records, problems = read_records(path, within)
    if problems:
        shown = "; ".join(f"{p.where()}: {p.message}" for p in problems[:3])
        raise DatasetError(f"{len(problems)} unusable line(s) in {str(path)!r} ({shown}). "
                           "Run validate_dataset and fix them, or write clean splits with it.")
    if not records:
        raise DatasetError(f"{str(path)!r} holds no records; it needs one JSON object per line.")
    return records
