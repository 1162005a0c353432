"""Batch prompts: a shared header written once, explicit task blocks, and a strict JSON contract.

The model must answer with one object ``{"results": [...]}`` holding one item per task id,
each with a status of ``ok`` or ``INSUFFICIENT_DATA``, so one broken task cannot poison the batch.

Each task block also carries a short echo code, drawn afresh for every send, that the item
must copy back: an item whose echo belongs to another task (a provider that swapped ids) or
is missing is never accepted, so no answer lands on the wrong task.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from skilldeck.tools.batch.tasks import Task
from skilldeck.tools.tokens import TokenCounter

__all__ = ["PromptSpec", "BatchPrompt", "build_prompt", "results_schema", "strict_schema", "task_block",
           "echo_code", "DEFAULT_OUTPUT_SCHEMA", "STATUSES", "ECHO_PLACEHOLDER"]

STATUSES = ("ok", "INSUFFICIENT_DATA")
DEFAULT_OUTPUT_SCHEMA: dict[str, Any] = {"type": "object", "properties": {"answer": {"type": "string"}}}
# Tokens of JSON around each item ({"id": .., "status": .., "output": .., "reason": ..}) and the root.
ITEM_OVERHEAD_TOKENS = 24
ECHO_TOKENS = 8  # '"echo":"k3f9q",' in the answer
ECHO_PLACEHOLDER = "xxxxx"  # what the planner counts in place of a real echo code (same length)
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
ROOT_OVERHEAD_TOKENS = 8
MESSAGE_OVERHEAD_TOKENS = 4

_counter = TokenCounter(maxsize=65536)


@dataclass(frozen=True)
class PromptSpec:
    """What every batch of a run shares.

    Usage::

        PromptSpec(instructions="Classify the sentiment of each review.",
                   output_schema={"type": "object", "properties": {"label": {"type": "string",
                                  "enum": ["positive", "negative", "neutral"]}}},
                   output_tokens_per_task=20)
    """

    instructions: str = "Complete each task."
    rules: tuple[str, ...] = ()
    output_schema: dict[str, Any] = field(default_factory=lambda: copy.deepcopy(DEFAULT_OUTPUT_SCHEMA))
    output_tokens_per_task: int = 150
    echo: bool = True  # ask each item to copy its task's echo code; off only for a provider that cannot

    def to_dict(self) -> dict[str, Any]:
        return {"instructions": self.instructions, "rules": list(self.rules), "output_schema": self.output_schema,
                "output_tokens_per_task": self.output_tokens_per_task, "echo": self.echo}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PromptSpec:
        return cls(instructions=data.get("instructions") or "Complete each task.",
                   rules=tuple(data.get("rules") or ()),
                   output_schema=data.get("output_schema") or copy.deepcopy(DEFAULT_OUTPUT_SCHEMA),
                   output_tokens_per_task=int(data.get("output_tokens_per_task") or 150),
                   echo=bool(data.get("echo", True)))


def echo_code(task_id: str, salt: str) -> str:
    """A five-character code for one task in one send (unambiguous letters and digits)."""
    digest = hashlib.blake2s(f"{salt}\x00{task_id}".encode(), digest_size=8).digest()
    return "".join(_ALPHABET[b % len(_ALPHABET)] for b in digest[:5])


def check_output_schema(schema: Any, where: str = "output_schema", depth: int = 0) -> None:
    """Raise ValueError naming the first part of `schema` that is not a JSON schema object the
    prompt and the strict contract can be built from (``{"properties": "abc"}`` raised AttributeError)."""
    if not isinstance(schema, dict):
        raise ValueError(f"{where} must be a JSON schema object, not {type(schema).__name__}")
    if depth > 32:
        raise ValueError(f"{where} nests deeper than 32 levels")
    props = schema.get("properties")
    if props is not None:
        if not isinstance(props, dict):
            raise ValueError(f"{where}.properties must map each property name to its schema, not "
                             f"{type(props).__name__}")
        for name, sub in props.items():
            check_output_schema(sub, f"{where}.properties.{name}", depth + 1)
    if "items" in schema and not isinstance(schema["items"], bool):
        check_output_schema(schema["items"], f"{where}.items", depth + 1)


def strict_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema as strict structured output needs it: every property required, no extras."""
    schema = copy.deepcopy(schema)
    if schema.get("type") == "object" or "properties" in schema:
        props = schema.setdefault("properties", {})
        schema["type"] = "object"
        schema["required"] = list(props)
        schema["additionalProperties"] = False
        for name, sub in props.items():
            props[name] = strict_schema(sub)
    if schema.get("type") == "array" and isinstance(schema.get("items"), dict):
        schema["items"] = strict_schema(schema["items"])
    return schema


def results_schema(output_schema: dict[str, Any], echo: bool = True) -> dict[str, Any]:
    """The root contract: ``{"results": [{"id", "echo", "status", "output", "reason"}]}``, strict-mode ready."""
    props: dict[str, Any] = {"id": {"type": "string"}}
    if echo:
        props["echo"] = {"type": "string"}
    props.update({"status": {"type": "string", "enum": list(STATUSES)},
                  "output": {"anyOf": [strict_schema(output_schema), {"type": "null"}]},
                  "reason": {"type": "string"}})
    item = {"type": "object", "properties": props, "required": list(props), "additionalProperties": False}
    return {"type": "object", "properties": {"results": {"type": "array", "items": item}},
            "required": ["results"], "additionalProperties": False}


def _field_line(name: str, value: Any) -> str:
    # One line per field, so a value can never fake a task boundary ("### TASK ...").
    text = value if isinstance(value, str) and "\n" not in value and "\r" not in value else json.dumps(
        value, ensure_ascii=False)
    return f"{name}: {text}"


def task_block(task: Task, echo: str | None = None) -> str:
    """The block one task occupies in the user message (with its echo code, when given)."""
    head = f"### TASK {task.id}" + (f" (echo: {echo})" if echo else "")
    return "\n".join([head, *(_field_line(k, v) for k, v in task.fields.items())])


def header_text(spec: PromptSpec) -> str:
    """The shared header (system message): instructions, rules, output contract."""
    rules = [
        "Answer every task exactly once, in the order given, copying its id exactly.",
        "Treat each task on its own: never use one task's content in another task's answer.",
        'If a task lacks the input it needs: status "INSUFFICIENT_DATA", output null, and a short reason. '
        'Otherwise status "ok" and reason "".',
        *spec.rules,
    ]
    if spec.echo:
        rules.insert(1, 'Copy the echo code shown after each task id, e.g. "(echo: k3f9q)", into that task\'s '
                        '"echo" field exactly.')
    item_schema = json.dumps(strict_schema(spec.output_schema), separators=(",", ":"))
    echo = '"echo": "<echo code>", ' if spec.echo else ""
    return "\n".join([
        "You process several independent tasks in one request. Output valid JSON only: no Markdown, no commentary.",
        "", spec.instructions.strip(), "", "Rules:", *(f"- {r}" for r in rules), "",
        f'Return one JSON object: {{"results": [{{"id": "<task id>", {echo}"status": "ok" or "INSUFFICIENT_DATA", '
        '"output": <object or null>, "reason": "<string>"}]}',
        f"Each output object must match this JSON schema: {item_schema}",
    ])


@dataclass(frozen=True)
class BatchPrompt:
    """One request's prompt with its token estimate and max_tokens."""

    system: str
    user: str
    task_ids: tuple[str, ...]
    schema: dict[str, Any]
    input_tokens: int
    max_tokens: int
    echoes: dict[str, str] = field(default_factory=dict)  # task id -> the echo code its item must carry


def expected_output_tokens(spec: PromptSpec, task_ids: Sequence[str]) -> int:
    """max_tokens for a batch: each item's output budget plus its JSON wrapper."""
    per_item = spec.output_tokens_per_task + ITEM_OVERHEAD_TOKENS + (ECHO_TOKENS if spec.echo else 0)
    return ROOT_OVERHEAD_TOKENS + sum(per_item + _counter(t) for t in task_ids)


def build_prompt(spec: PromptSpec, tasks: Sequence[Task], header: str | None = None,
                 salt: str | None = None) -> BatchPrompt:
    """The prompt for `tasks`; the input estimate counts both messages and the schema.

    `salt` draws the echo codes (a fresh one per send); without it they are placeholders.
    """
    header = header if header is not None else header_text(spec)
    echoes = {t.id: echo_code(t.id, salt) if salt is not None else ECHO_PLACEHOLDER for t in tasks} \
        if spec.echo else {}
    user = f"TASKS ({len(tasks)}):\n\n" + "\n\n".join(task_block(t, echoes.get(t.id)) for t in tasks)
    schema = results_schema(spec.output_schema, spec.echo)
    ids = tuple(t.id for t in tasks)
    input_tokens = (_counter(header) + _counter(user) + 2 * MESSAGE_OVERHEAD_TOKENS
                    + _counter(json.dumps(schema, separators=(",", ":"))))
    return BatchPrompt(header, user, ids, schema, input_tokens, expected_output_tokens(spec, ids),
                       echoes if salt is not None else {})


def count(text: str) -> int:
    """Cached token count (tiktoken cl100k)."""
    return _counter(text)
