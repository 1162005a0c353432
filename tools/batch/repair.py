"""JSON repair and per-item validation of a batch answer.

`extract_json` recovers the answer from code fences, prose around it, trailing commas and
truncation (complete items before the cut are kept). `validate_items` checks every item
against the batch's task ids and the output schema, so only bad or missing tasks are re-queued.
"""

from __future__ import annotations

import bisect
import json
import re
from collections import Counter, deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from skilldeck.tools.batch.prompt import STATUSES

__all__ = ["extract_json", "validate_items", "ItemCheck", "schema_errors", "RepairError"]


_SPACE = re.compile(r"\s*")


class RepairError(ValueError):
    """The text holds no JSON that can be recovered."""


_FENCE = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)(?:```|$)", re.S)


def _structural(text: str) -> Iterator[tuple[int, str]]:
    """Yield (index, character) for every character outside JSON strings (quotes included)."""
    in_string = escaped = False
    for i, ch in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
            continue
        if ch == '"':
            in_string = True
        yield i, ch


# Repair walks the text in Python, so it reads at most this much (an answer is bounded by max_tokens; a longer
# one is refused, not scanned), and tries at most this many cut points of a truncated answer (one cut of an
# ordinary answer works; trying every one made '[x' + '[]' * 14000 take 29 s).
MAX_REPAIR_CHARS = 1_000_000
MAX_CUTS = 32

# The open brackets as a linked list, (closer, the brackets open below it): an end point keeps its stack
# by reference, so recording one costs nothing (copying the stack at every end point was quadratic).
_Open = tuple[str, "_Open | None"]


def _scan(text: str, keep: int = MAX_CUTS) -> tuple[list[tuple[int, _Open | None]], bool]:
    """Walk JSON text: the last `keep` points where a value inside a container ended, each with the
    brackets still open there, and whether any bracket is still open where the walk stopped."""
    top: _Open | None = None
    ends: deque[tuple[int, _Open | None]] = deque(maxlen=keep)
    for i, ch in _structural(text):
        if ch in "{[":
            top = ("}" if ch == "{" else "]", top)
        elif ch in "}]":
            if top is None:
                break
            top = top[1]
            ends.append((i + 1, top))
            if top is None:
                break
    return list(ends), top is not None


def _closers(top: _Open | None) -> str:
    """The text that closes every bracket open at `top`, innermost first."""
    out = []
    while top is not None:
        out.append(top[0])
        top = top[1]
    return "".join(out)


def _trailing_commas(text: str) -> list[int]:
    """Positions, in order, of the commas outside strings that only whitespace separates from a closer."""
    def closes(i: int) -> bool:
        nxt = _SPACE.match(text, i + 1).end()
        return text[nxt:nxt + 1] in ("}", "]")

    return [i for i, ch in _structural(text) if ch == "," and closes(i)]


def _without(text: str, dropped: list[int]) -> str:
    pieces, start = [], 0
    for i in dropped:
        pieces.append(text[start:i])
        start = i + 1
    pieces.append(text[start:])
    return "".join(pieces)


def _strip_trailing_commas(text: str) -> str:
    return _without(text, _trailing_commas(text))


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return json.loads(_strip_trailing_commas(text))


def _close_truncated(text: str) -> Any:
    """Keep everything up to the last complete value inside a container and close the rest."""
    ends, _ = _scan(text)
    # A cut point ends just after a closer, so the commas dropped from a prefix are the whole text's
    # dropped commas before the cut: strip them once, not once per cut point.
    dropped = _trailing_commas(text)
    stripped = _without(text, dropped)
    for pos, top in reversed(ends):
        candidate = stripped[:pos - bisect.bisect_left(dropped, pos)] + _closers(top)
        try:
            return json.loads(candidate)
        except (ValueError, RecursionError):  # RecursionError: nested too deeply to parse; try a shallower cut
            continue
    raise RepairError(f"truncated JSON with no complete item in the last {MAX_CUTS} places it could be cut")


def extract_json(text: str) -> tuple[Any, list[str]]:
    """Parse the JSON in a model's answer; return (value, repairs applied). Raise `RepairError` if none."""
    try:
        return _extract(text)
    except RepairError:
        raise
    except ValueError as exc:
        raise RepairError(f"unrepairable JSON: {exc}") from exc
    except RecursionError as exc:  # json.loads of deeply nested arrays or objects
        raise RepairError("unrepairable JSON: nested too deeply to parse") from exc


def _extract(text: str) -> tuple[Any, list[str]]:
    repairs: list[str] = []
    body = text.strip()
    try:
        return json.loads(body), repairs
    except ValueError:
        pass
    if len(body) > MAX_REPAIR_CHARS:
        raise RepairError(f"the answer is not valid JSON and, at {len(body):,} characters, longer than the "
                          f"{MAX_REPAIR_CHARS:,} that repair reads; ask for fewer tasks per batch")
    fence = _FENCE.search(body)
    if fence:
        body = fence.group(1).strip()
        repairs.append("code fence")
    start = min([i for i in (body.find("{"), body.find("[")) if i >= 0], default=-1)
    if start < 0:
        raise RepairError("no JSON object or array in the answer")
    if start > 0:
        repairs.append("prose before")
    body = body[start:]
    ends, still_open = _scan(body)
    if not still_open and ends:
        if ends[-1][0] < len(body.rstrip()):
            repairs.append("prose after")
        complete = body[:ends[-1][0]]
        try:
            value = json.loads(complete)
        except ValueError:
            value = _loads(complete)
            repairs.append("trailing commas")
        return value, repairs
    repairs.append("truncation")
    return _close_truncated(body), repairs


def schema_errors(value: Any, schema: dict[str, Any], path: str = "output") -> list[str]:
    """Check `value` against the subset of JSON Schema the output contract uses."""
    if "anyOf" in schema:
        options = [schema_errors(value, s, path) for s in schema["anyOf"]]
        return [] if any(not o for o in options) else options[0]
    if "enum" in schema and value not in schema["enum"]:
        return [f"{path}: {value!r} is not one of {schema['enum']}"]
    kind = schema.get("type")
    kinds = kind if isinstance(kind, list) else [kind] if kind else []
    checks = {"string": lambda v: isinstance(v, str), "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
              "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
              "boolean": lambda v: isinstance(v, bool), "null": lambda v: v is None,
              "object": lambda v: isinstance(v, dict), "array": lambda v: isinstance(v, list)}
    if kinds and not any(checks.get(k, lambda v: True)(value) for k in kinds):
        return [f"{path}: expected {' or '.join(kinds)}, got {type(value).__name__}"]
    errors: list[str] = []
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for name in schema.get("required", list(props) if kind == "object" else []):
            if name not in value:
                errors.append(f"{path}.{name}: missing")
        for name, sub in props.items():
            if name in value:
                errors += schema_errors(value[name], sub, f"{path}.{name}")
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            errors += schema_errors(item, schema["items"], f"{path}[{i}]")
    return errors


@dataclass
class ItemCheck:
    """The outcome of checking one answer against the batch it answers."""

    accepted: dict[str, dict[str, Any]] = field(default_factory=dict)   # id -> {status, output, reason}
    invalid: dict[str, str] = field(default_factory=dict)               # id -> why
    missing: list[str] = field(default_factory=list)
    foreign: int = 0                                                    # items naming ids not in the batch
    misattributed: int = 0                                              # items whose echo is another task's
    near_misses: Counter[str] = field(default_factory=Counter)          # tolerated shape slips, by kind


_ID_KEYS = ("id", "task_id", "taskId", "taskID", "task", "ID", "Id", "task id")
_ECHO_KEYS = ("echo", "Echo", "nonce", "echo_code", "echoCode")
_ROOT_KEYS = ("results", "items", "answers", "tasks", "data", "Results")
_OK = {"ok", "success", "done", "completed"}


def _items_of(value: Any) -> list[Any]:
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        for key in _ROOT_KEYS:
            if isinstance(value.get(key), list):
                return value[key]
        lists = [v for v in value.values() if isinstance(v, list)]
        if len(lists) == 1:
            return lists[0]
        if any(k in value for k in _ID_KEYS):
            return [value]
    raise RepairError("the answer has no \"results\" array")


def _pick(item: dict[str, Any], keys: Sequence[str], slips: Counter[str], what: str) -> tuple[bool, Any]:
    for key in keys:
        if key in item:
            if key != keys[0]:
                slips[f"{what} as {key!r}"] += 1
            return True, item[key]
    return False, None


def _normalise(item: dict[str, Any], output_schema: dict[str, Any], slips: Counter[str]) -> dict[str, Any]:
    """The item in the contract's shape, tolerating the common slips of models that ignore the schema:
    ``task_id``/``taskId`` for ``id``, ``"OK"`` for ``"ok"``, output fields at the item's top level."""
    found, raw_id = _pick(item, _ID_KEYS, slips, "id")
    out: dict[str, Any] = {"id": raw_id if found else None}
    found, echo = _pick(item, _ECHO_KEYS, slips, "echo")
    out["echo"] = echo if found else None
    status = item.get("status")
    if isinstance(status, str) and status not in STATUSES:
        folded = status.strip().lower().replace(" ", "_").replace("-", "_")
        fixed = "ok" if folded in _OK else "INSUFFICIENT_DATA" if folded == "insufficient_data" else status
        if fixed != status:
            slips[f"status {status[:20]!r}"] += 1
        status = fixed
    output = item.get("output")
    props = output_schema.get("properties") or {}
    if "output" not in item or (output is not None and not isinstance(output, dict) and props):
        top = {k: item[k] for k in props if k in item and k not in ("id", "status", "reason")}
        if top:
            slips["output fields at the top level"] += 1
            output = top
    if status is None and isinstance(output, dict) and output:
        slips["status missing"] += 1
        status = "ok"
    out.update(status=status, output=output, reason=item.get("reason"))
    return out


def _echo_of(value: Any) -> str | None:
    return value.strip().lower() if isinstance(value, str) else None


def validate_items(value: Any, task_ids: Sequence[str], output_schema: dict[str, Any],
                   echoes: dict[str, str] | None = None) -> ItemCheck:
    """Match items to task ids and validate each; an id answered twice differently is not trusted.

    With `echoes` (task id -> echo code), an item is only accepted if it carries its own task's
    code: one carrying another task's code is counted as misattributed, and both are re-queued.
    """
    wanted = set(task_ids)
    owner = {code: tid for tid, code in (echoes or {}).items()}
    check = ItemCheck()
    seen: dict[str, Any] = {}
    for raw in _items_of(value):
        if not isinstance(raw, dict):
            continue
        item = _normalise(raw, output_schema, check.near_misses)
        if not isinstance(item["id"], (str, int)) or isinstance(item["id"], bool):
            continue
        task_id = str(item["id"]).strip()
        if task_id not in wanted:
            check.foreign += 1
            continue
        if task_id in seen:
            if seen[task_id] != item:
                check.accepted.pop(task_id, None)
                check.invalid[task_id] = "answered more than once with different content"
            continue
        seen[task_id] = item
        problem = _echo_problem(task_id, item["echo"], echoes, owner, check) or _item_problem(item, output_schema)
        if problem:
            check.invalid[task_id] = problem
        else:
            status = item["status"]
            check.accepted[task_id] = {"status": status, "output": item.get("output") if status == "ok" else None,
                                       "reason": str(item.get("reason") or "")}
    check.missing = [t for t in task_ids if t not in seen]
    return check


def _echo_problem(task_id: str, echo: Any, echoes: dict[str, str] | None, owner: dict[str, str],
                  check: ItemCheck) -> str | None:
    if not echoes:
        return None
    code = _echo_of(echo)
    if code == echoes.get(task_id):
        return None
    if code in owner:
        check.misattributed += 1
        return f"echo {code!r} belongs to task {owner[code]!r}: the answer is another task's (ids swapped)"
    return "no echo code" if code is None else f"echo {code!r} does not match the task's code"


def _item_problem(item: dict[str, Any], output_schema: dict[str, Any]) -> str | None:
    status = item.get("status")
    if status not in STATUSES:
        return f"status {status!r} is not one of {list(STATUSES)}"
    if status == "INSUFFICIENT_DATA":
        return None
    if item.get("output") is None:
        return "status ok but output is null"
    errors = schema_errors(item["output"], output_schema)
    return "; ".join(errors[:3]) if errors else None
