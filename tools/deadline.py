"""A time limit that long engine work checks as it goes, so work its caller stopped waiting for ends too.

The MCP layer gives every call a time limit, but a worker thread cannot be interrupted: work that
passed its limit would run on, holding its thread and its place among the calls that may run at
once. So the long loops of the engines (a claim, an evidence folder, a dataset row) call `check()`,
which raises `TimeLimitError` once the deadline of the call they run in has passed. Outside a
deadline (the CLI, a library caller) `check()` does nothing.

    with deadline(90):           # the server does this around each call
        verify_answer(...)       # raises TimeLimitError at its next check() after 90 s

The deadline is a context variable, so it follows the call into the worker thread it runs in.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
import time
from collections.abc import Iterator

from skilldeck.tools.errors import SkilldeckError

__all__ = ["TimeLimitError", "check", "deadline", "holding"]

_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar("skilldeck_deadline", default=None)


class TimeLimitError(SkilldeckError):
    """The call this work runs in passed its time limit; the work stopped."""


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Work inside (and the worker threads it starts through anyio) stops at its next `check()`
    once `seconds` have passed; an outer, earlier deadline still applies."""
    end = time.monotonic() + seconds
    outer = _DEADLINE.get()
    token = _DEADLINE.set(end if outer is None else min(outer, end))
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def check(what: str = "The work", advice: str = "") -> None:
    """Raise `TimeLimitError` if the current deadline has passed; `advice` says how to ask for less."""
    end = _DEADLINE.get()
    if end is not None and time.monotonic() > end:
        raise TimeLimitError(f"{what} passed the call's time limit and was stopped. {advice}".rstrip())


@contextlib.contextmanager
def holding(lock: threading.Lock, what: str) -> Iterator[None]:
    """Hold `lock`, waiting for it no longer than the current deadline: one slow holder makes the
    others wait, not outlive their calls (`what` names the wait, "Waiting for another ...")."""
    while not lock.acquire(timeout=0.25):
        check(what, "Try again when it has finished.")
    try:
        yield
    finally:
        lock.release()
