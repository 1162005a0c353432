"""The optional MCP features a client may use: logging/setLevel with log notifications,
completion/complete, and resources/subscribe / unsubscribe with notifications/resources/updated.

Log notifications carry skilldeck's own log records (the ``skilldeck`` logger and its children:
skill problems found while parsing, hot reloads, job events), redacted, to each client at or above
the level it set; a client that never calls logging/setLevel gets none. The last records before a
client sets its level (start-up problems among them) are sent to it then, so it does not miss them.

These are handshake-era features: a 2026-07-28 client has no session to hold a level or a
subscription (it opts into logs per request and listens on subscriptions/listen instead).
"""

from __future__ import annotations

import asyncio
import collections
import functools
import logging
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import anyio
import mcp.types as types

from skilldeck.server.errors import redact, request_error
from skilldeck.tools.fs import under_any

__all__ = ["ClientLog", "deliver", "deliver_all", "register", "stalled"]

logger = logging.getLogger("skilldeck")

_LEVEL_KEY = "skilldeck.log_level"      # in the SDK's per-connection Connection.state
_SUBSCRIBED_KEY = "skilldeck.subscribed"
MCP_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "notice": logging.INFO + 5, "warning": logging.WARNING,
              "error": logging.ERROR, "critical": logging.CRITICAL, "alert": logging.CRITICAL + 5,
              "emergency": logging.CRITICAL + 10}
REPLAYED = 50            # records kept for a client that sets its level later
MAX_SUBSCRIPTIONS = 1000  # per connection
MAX_URI_CHARS = 2048
# A client that does not take a notification within SEND_TIMEOUT_S (its stream is not being read)
# gets none for STALLED_S: notifications to clients go out side by side, and one client's full
# stream must not hold up the others' (over HTTP it held every later client's for good).
SEND_TIMEOUT_S = 2.0
STALLED_S = 60.0
_STALLED_KEY = "skilldeck.stalled_until"
END_KEY = "skilldeck.end_session"  # set by the server: ends a stalled client's HTTP session
_REPLAYED_KEY = "skilldeck.replayed"


def _mcp_level(levelno: int) -> str:
    name = "debug"
    for level, number in MCP_LEVELS.items():
        if levelno >= number:
            name = level
    return name


def connection_of(session: Any) -> Any | None:
    """The SDK's object for the client connection behind `session` (it makes a session object per request).

    `ServerSession._connection` is private in mcp 2.3; it is read here only, so an SDK change is met in one place."""
    return getattr(session, "_connection", None)


def _state(session: Any) -> dict[str, Any] | None:
    state = getattr(connection_of(session), "state", None)
    return state if isinstance(state, dict) else None


def stalled(session: Any) -> bool:
    """The session did not take a notification in time lately (see `deliver`)."""
    state = _state(session)
    return state is not None and state.get(_STALLED_KEY, 0.0) > time.monotonic()


async def deliver(session: Any, *notes: Any) -> bool:
    """Send `notes` (SDK notification models, or callables returning an awaitable) to one session,
    within SEND_TIMEOUT_S; False if the session went away or is stalled (then it is skipped for
    STALLED_S: no send to it is tried until that has passed)."""
    if stalled(session):
        return False
    state = _state(session)
    with anyio.move_on_after(SEND_TIMEOUT_S) as scope:
        try:
            for note in notes:
                await (note() if callable(note) else session.send_notification(note))
        except Exception:  # noqa: BLE001 - a client that went away misses this; the server keeps running
            return False
    if scope.cancelled_caught:
        logger.warning("a client is not reading its notifications; none are sent to it for %.0f s", STALLED_S)
        if state is not None:
            state[_STALLED_KEY] = time.monotonic() + STALLED_S
            end = state.get(END_KEY)
            if end is not None:
                await end(session)
        return False
    return True


async def deliver_all(sessions: Iterable[Any], *notes: Any,
                      make: Callable[[Any], tuple[Any, ...]] | None = None) -> list[Any]:
    """`deliver` to every session side by side (`make(session)`: that session's notes); returns the
    sessions that could not be reached (gone or stalled)."""
    failed: list[Any] = []

    async def one(session: Any) -> None:
        if not await deliver(session, *(make(session) if make else notes)):
            failed.append(session)

    async with anyio.create_task_group() as group:
        for session in sessions:
            group.start_soon(one, session)
    return failed


class ClientLog(logging.Handler):
    """Forwards ``skilldeck`` log records to the clients that asked for them (any thread)."""

    def __init__(self, server: Any) -> None:
        super().__init__(logging.DEBUG)
        self.server = server
        self.recent: collections.deque[tuple[int, str, str]] = collections.deque(maxlen=REPLAYED)
        self._sending = threading.local()

    def install(self) -> None:
        root, ours = logging.getLogger(), logging.getLogger("skilldeck")
        # The stderr handlers keep the configured level while records below it reach this handler.
        for handler in root.handlers + ours.handlers:
            if handler.level == logging.NOTSET:
                handler.setLevel(ours.getEffectiveLevel())
        ours.addHandler(self)

    def uninstall(self) -> None:
        logging.getLogger("skilldeck").removeHandler(self)

    def lower_to(self, levelno: int) -> None:
        """Let records at `levelno` through the ``skilldeck`` logger (a client asked for them)."""
        ours = logging.getLogger("skilldeck")
        if ours.getEffectiveLevel() > levelno:
            ours.setLevel(levelno)

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(self._sending, "active", False):
            return  # a record logged while sending one (the SDK's debug logs) is not sent again
        try:
            # `summary`: the message without the traceback that log redaction folded into it (errors.py).
            text = redact(getattr(record, "summary", None) or record.getMessage())
        except Exception:  # noqa: BLE001 - a malformed record must not break logging
            return
        self.recent.append((record.levelno, record.name, text))
        targets = [s for s in self.server.sessions() if (_level_of(s) or logging.CRITICAL + 100) <= record.levelno]
        if targets:
            self.server.run_soon(self._send, targets, record.levelno, record.name, text)

    async def _send(self, sessions: Iterable[Any], levelno: int, name: str, text: str) -> None:
        self._sending.active = True
        try:
            await deliver_all(sessions, _log_note(levelno, name, text))
        finally:
            self._sending.active = False

    async def replay(self, session: Any, levelno: int) -> None:
        """The recent records at `levelno` or above that this session was not sent by an earlier
        logging/setLevel: lowering the level brings the records it now lets through, and repeating
        a call brings nothing (each call replaying 50 records let a client fill its stream on demand)."""
        state = _state(session)
        below = state.get(_REPLAYED_KEY, float("inf")) if state is not None else float("inf")
        if state is not None:
            state[_REPLAYED_KEY] = min(below, levelno)
        notes = [_log_note(level, name, text) for level, name, text in list(self.recent) if levelno <= level < below]
        if notes:
            await deliver(session, *notes)


def _level_of(session: Any) -> int | None:
    state = _state(session)
    return None if state is None else state.get(_LEVEL_KEY)


def _log_note(levelno: int, name: str, text: str) -> types.LoggingMessageNotification:
    # Sent as a plain notification: the SDK's send_log_message is deprecated (the 2026-07-28 logging
    # model), and this path serves only handshake-era sessions, where logging/setLevel is current.
    return types.LoggingMessageNotification(params=types.LoggingMessageNotificationParams(
        level=_mcp_level(levelno), logger=name, data=text))  # type: ignore[arg-type]


def register(server: Any) -> ClientLog:
    """Serve logging/setLevel, completion/complete and resources/(un)subscribe on `server`."""
    low = server._lowlevel_server
    log = ClientLog(server)

    async def set_level(ctx: Any, params: types.SetLevelRequestParams) -> types.EmptyResult:
        state = _state(ctx.session)
        levelno = MCP_LEVELS[params.level]
        if state is not None:
            state[_LEVEL_KEY] = levelno
            server.remember(ctx.session)
            log.lower_to(levelno)
            server.run_soon(log.replay, ctx.session, levelno)
        return types.EmptyResult()

    async def complete(ctx: Any, params: types.CompleteRequestParams) -> types.CompleteResult:
        values: list[str] = []
        total = 0
        if server.content is not None and len(params.argument.value) <= MAX_URI_CHARS:
            context = dict(params.context.arguments or {}) if params.context else {}
            values, total = await server._bounded("completion/complete", server.content.complete, params.ref,
                                                  params.argument.name, params.argument.value, context)
        return types.CompleteResult(completion=types.Completion(values=values, total=total,
                                                                has_more=total > len(values)))

    async def subscribe(ctx: Any, params: types.SubscribeRequestParams) -> types.EmptyResult:
        uri = _checked_uri(params.uri)
        state = _state(ctx.session)
        if state is not None:
            subscribed: dict[str, Path | None] = state.setdefault(_SUBSCRIBED_KEY, {})
            if uri not in subscribed and len(subscribed) >= MAX_SUBSCRIPTIONS:
                raise request_error(f"this connection already holds {MAX_SUBSCRIPTIONS} subscriptions; "
                                    "unsubscribe from some first")
            subscribed[uri] = server.content.path_of(uri) if server.content is not None else None
            server.remember(ctx.session)
        return types.EmptyResult()

    async def unsubscribe(ctx: Any, params: types.UnsubscribeRequestParams) -> types.EmptyResult:
        state = _state(ctx.session)
        if state is not None:
            state.get(_SUBSCRIBED_KEY, {}).pop(_checked_uri(params.uri), None)
        return types.EmptyResult()

    low.add_request_handler("logging/setLevel", types.SetLevelRequestParams, set_level)
    low.add_request_handler("completion/complete", types.CompleteRequestParams, complete)
    low.add_request_handler("resources/subscribe", types.SubscribeRequestParams, subscribe)
    low.add_request_handler("resources/unsubscribe", types.UnsubscribeRequestParams, unsubscribe)
    return log


def _checked_uri(uri: Any) -> str:
    text = str(uri)
    if len(text) > MAX_URI_CHARS:
        raise request_error(f"uri is {len(text):,} characters; at most {MAX_URI_CHARS}")
    return text


async def notify_updated(sessions: Iterable[Any], changed: set[Path], since_ns: int | None = None) -> None:
    """Send notifications/resources/updated for each subscribed resource whose file is in `changed`
    (or below a changed folder: a skill folder moved or deleted), or, with `since_ns`, whose file
    was modified since then (what no watcher saw: an edit before the watcher started)."""
    def updates(session: Any) -> tuple[Any, ...]:
        state = _state(session)
        subscribed: dict[str, Path | None] = state.get(_SUBSCRIBED_KEY, {}) if state else {}
        return tuple(functools.partial(session.send_resource_updated, uri) for uri, path in list(subscribed.items())
                     if path is not None and (under_any(path, changed)
                                              or since_ns is not None and _modified_since(path, since_ns)))

    await deliver_all(sessions, make=updates)


def _modified_since(path: Path, since_ns: int) -> bool:
    try:
        return path.stat().st_mtime_ns >= since_ns
    except OSError:
        return True  # gone since: that is a change too


def in_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
