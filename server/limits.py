"""Limits every call to the server keeps: time, argument size and answer size.

``CallLimits`` is the value object; the checks here are plain functions that the server
(`server/mcp_app.py`) applies to every tool call, prompt and resource read, so no adapter
has to remember them::

    limits = CallLimits(timeout_s=90, answer_bytes=1_000_000, argument_chars=50_000)
    check_arguments(arguments, limits.argument_chars)   # raises ToolError naming the field
    result = cap_tool_result(result, limits.answer_bytes)  # cuts text, with a note saying so
"""

from __future__ import annotations

import contextlib
import contextvars
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import anyio
import mcp.types as types
from mcp.server.mcpserver.exceptions import ToolError

from skilldeck.tools.deadline import deadline

__all__ = ["CallLimits", "CallTookTooLong", "cap_prompt_result", "cap_tool_result", "check_arguments",
           "run_with_time_limit", "slot_lent"]

T = TypeVar("T")


@dataclass(frozen=True)
class CallLimits:
    """How long one call may take and how much may go in and come out of it.

    ``timeout_s``: seconds a tool call, prompt or resource read may run (a tool's own
    ``wait_s`` argument is added to it). ``answer_bytes``: largest tool answer or prompt,
    in UTF-8 bytes. ``argument_chars``: longest string allowed anywhere in a tool's
    arguments, unless the tool's schema sets its own ``maxLength``. ``concurrent_calls``: how
    many calls run at once (the others wait their turn, within their time limit). A call that
    passed its limit while stuck in a worker thread keeps its place until the thread ends, so
    stuck work can never take all of the worker threads, which the SDK's stdio transport reads
    and writes with (40 by default): the server always answers.
    """

    timeout_s: float = 90.0
    answer_bytes: int = 1_000_000
    argument_chars: int = 50_000
    concurrent_calls: int = 16


class CallTookTooLong(ToolError):
    """A call ran past its time limit; the server stopped waiting for it."""


class _Slot:
    """One call's place among the calls that may run at once, which it can lend out while it only waits."""

    def __init__(self, slots: anyio.Semaphore) -> None:
        self.slots = slots
        self.held = False

    async def take(self) -> None:
        await self.slots.acquire()
        self.held = True

    def give(self) -> None:
        if self.held:
            self.held = False
            self.slots.release()


_SLOT: contextvars.ContextVar[_Slot | None] = contextvars.ContextVar("skilldeck_call_slot", default=None)


@contextlib.asynccontextmanager
async def slot_lent() -> AsyncIterator[None]:
    """Inside, the current call does not hold its slot: for a call that sleeps while it waits for a
    job (``wait_s``), so sixteen waiting calls cannot keep every other call from starting. The slot
    is taken back on the way out (waiting for it counts against the call's time limit)."""
    slot = _SLOT.get()
    if slot is None or not slot.held:
        yield
        return
    slot.give()
    try:
        yield
    finally:
        await slot.take()  # cancelled while waiting for it: not held, so nothing is given back twice


async def run_with_time_limit(what: str, timeout_s: float, fn: Callable[[], Awaitable[T]],
                              start_soon: Callable[..., Any] | None, slots: anyio.Semaphore | None = None) -> T:
    """Await ``fn()`` for at most ``timeout_s`` seconds, then raise `CallTookTooLong`.

    ``fn`` runs as a separate task (through ``start_soon``, the server's task group) so that the
    caller gets its answer at the limit even when ``fn`` is stuck in a worker thread that
    cannot be interrupted; the task is cancelled and ends when the thread does. It first takes
    one of ``slots`` (waiting counts against the limit) and gives it back only when it ends.
    Without a task group (a server used outside its lifespan) ``fn`` runs in place under
    ``fail_after``.
    """
    if start_soon is None:
        try:
            with anyio.fail_after(timeout_s):
                return await fn()
        except TimeoutError:
            raise _too_long(what, timeout_s) from None
    done = anyio.Event()
    scope = anyio.CancelScope()
    outcome: dict[str, Any] = {}
    ends = anyio.current_time() + timeout_s  # the caller's limit, slot wait included

    async def runner() -> None:
        slot = _Slot(slots) if slots is not None else None
        token = _SLOT.set(slot)
        try:
            with scope:
                if slot is not None:
                    await slot.take()
                left = ends - anyio.current_time()
                if left <= 0:
                    return  # the caller has had its answer: do not start
                outcome["started"] = True
                try:
                    # Engines check it in their long loops, so work the caller stopped waiting for ends
                    # (and gives its slot back) when the caller's limit does, not a full limit after
                    # the slot was free: that kept slots held long after their callers had gone.
                    with deadline(left):
                        outcome["value"] = await fn()
                except Exception as exc:  # noqa: BLE001 - carried to the caller, which re-raises it
                    outcome["error"] = exc
        finally:
            if slot is not None:
                slot.give()
            _SLOT.reset(token)
            done.set()

    start_soon(runner)
    try:
        with anyio.CancelScope(deadline=ends):
            await done.wait()
    finally:
        if not done.is_set():  # timed out, or the client cancelled its request
            scope.cancel()
    if not done.is_set():
        if "started" not in outcome:
            raise CallTookTooLong(f"{what} waited {timeout_s:g} s for the server's other calls to finish and was "
                                  "not started: the server runs a bounded number of calls at once (setting "
                                  "concurrent_calls). Try again shortly, or make fewer calls at once.")
        raise _too_long(what, timeout_s)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def _too_long(what: str, timeout_s: float) -> CallTookTooLong:
    return CallTookTooLong(f"{what} took longer than {timeout_s:g} s and was stopped (setting call_timeout_s); "
                           "the server keeps serving. Ask for less at once, or start long work as a background "
                           "job and poll its status.")


# -- arguments ---------------------------------------------------------------------------------
# Values (strings, numbers, keys, list items) one call's arguments may hold: the check runs on the
# event loop, and five million list items stalled every other request for 18 s.
MAX_ARGUMENT_VALUES = 200_000


def check_arguments(arguments: Mapping[str, Any], max_chars: int, schema: Mapping[str, Any] | None = None) -> None:
    """Refuse NUL bytes and over-long strings anywhere in ``arguments``, naming the field.

    A top-level property whose schema sets ``maxLength`` is left to validation, which names
    the field itself.
    """
    declared = {name for name, prop in ((schema or {}).get("properties") or {}).items()
                if isinstance(prop, dict) and _declares_max_length(prop)}
    budget = [MAX_ARGUMENT_VALUES]
    for name, value in arguments.items():
        _check_value(str(name), value, max_chars if name not in declared else None, budget)


def _declares_max_length(prop: Mapping[str, Any]) -> bool:
    if "maxLength" in prop:
        return True
    return any(isinstance(p, dict) and "maxLength" in p for p in prop.get("anyOf") or ())


def _check_value(field: str, value: Any, max_chars: int | None, budget: list[int]) -> None:
    budget[0] -= 1
    if budget[0] < 0:
        raise ToolError(f"Invalid arguments: they hold more than {MAX_ARGUMENT_VALUES:,} values (at {field!r}). "
                        "Pass large inputs as a file where the tool takes a path, or split them over several calls.")
    if isinstance(value, str):
        if "\x00" in value:
            raise ToolError(f"Invalid argument {field!r}: it contains a NUL byte (\\x00) at character "
                            f"{value.index(chr(0))}. Send plain text without control bytes.")
        if max_chars is not None and len(value) > max_chars:
            raise ToolError(f"Invalid argument {field!r}: it is {len(value):,} characters long; the limit is "
                            f"{max_chars:,} (setting max_argument_chars). Pass long text as a file where the "
                            "tool takes a path, or split it over several calls.")
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _check_value(f"{field}.{key}", key, max_chars, budget)
            _check_value(f"{field}.{key}", item, max_chars, budget)
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _check_value(f"{field}[{i}]", item, max_chars, budget)


# -- answers -----------------------------------------------------------------------------------
def _cut_note(size: int, limit: int) -> str:
    return (f"\n\n[cut: this answer was {size:,} bytes, over the server's limit of {limit:,} "
            "(setting max_answer_bytes). Ask for the rest in smaller parts: a line range, a smaller page "
            "(offset/limit) or fewer results.]")


def _cut_texts(texts: list[str], limit: int) -> list[str] | None:
    """Cut ``texts`` so that together they fit in ``limit`` bytes with the note; None if they fit."""
    size = sum(len(t.encode()) for t in texts)
    if size <= limit:
        return None
    note = _cut_note(size, limit)
    room = max(0, limit - len(note.encode()))
    out = []
    for text in texts:
        data = text.encode()
        keep = data[:room].decode("utf-8", errors="ignore")
        room -= len(keep.encode())
        out.append(keep)
    for i in range(len(out) - 1, -1, -1):  # the note goes after the last text that kept anything
        if out[i] or i == 0:
            out[i] += note
            break
    return out


def cap_tool_result(result: Any, limit: int) -> Any:
    """Keep a tool's answer within ``limit`` bytes: text is cut with a note; an oversized
    structured answer (which cannot be cut and stay valid) becomes an error saying so."""
    if not isinstance(result, types.CallToolResult):
        return result
    structured = result.structured_content
    if structured is not None:
        size = len(json.dumps(structured, ensure_ascii=False, default=str).encode())
        if size > limit:
            return types.CallToolResult(is_error=True, content=[types.TextContent(
                type="text", text=f"The answer is {size:,} bytes, over the server's limit of {limit:,} (setting "
                                  "max_answer_bytes). Ask for less at once: a smaller page (offset/limit), fewer "
                                  "results or a narrower question.")])
    texts = [c for c in result.content if isinstance(c, types.TextContent)]
    cut = _cut_texts([c.text for c in texts], limit)
    if cut is None:
        return result
    replaced = {id(c): c.model_copy(update={"text": t}) for c, t in zip(texts, cut, strict=True)}
    content = [replaced.get(id(c), c) for c in result.content]
    return result.model_copy(update={"content": content})


def cap_prompt_result(result: types.GetPromptResult, limit: int) -> types.GetPromptResult:
    """Keep a prompt's text messages within ``limit`` bytes, cutting with a note."""
    texts = [m.content for m in result.messages if isinstance(m.content, types.TextContent)]
    cut = _cut_texts([c.text for c in texts], limit)
    if cut is None:
        return result
    replaced = {id(c): c.model_copy(update={"text": t}) for c, t in zip(texts, cut, strict=True)}
    messages = [m.model_copy(update={"content": replaced[id(m.content)]}) if id(m.content) in replaced else m
                for m in result.messages]
    return result.model_copy(update={"messages": messages})
