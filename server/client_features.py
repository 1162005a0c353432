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
import logging
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import mcp.types as types

from skilldeck.server.errors import redact, request_error
from skilldeck.tools.fs import under_any

__all__ = ["ClientLog", "register"]

logger = logging.getLogger("skilldeck")

_LEVEL_KEY = "skilldeck.log_level"      # in the SDK's per-connection Connection.state
_SUBSCRIBED_KEY = "skilldeck.subscribed"
MCP_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "notice": logging.INFO + 5, "warning": logging.WARNING,
              "error": logging.ERROR, "critical": logging.CRITICAL, "alert": logging.CRITICAL + 5,
              "emergency": logging.CRITICAL + 10}
REPLAYED = 50            # records kept for a client that sets its level later
MAX_SUBSCRIPTIONS = 1000  # per connection
MAX_URI_CHARS = 2048


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
            for session in sessions:
                await _notify_log(session, levelno, name, text)
        finally:
            self._sending.active = False

    async def replay(self, session: Any, levelno: int) -> None:
        for record_level, name, text in list(self.recent):
            if record_level >= levelno:
                await _notify_log(session, record_level, name, text)


def _level_of(session: Any) -> int | None:
    state = _state(session)
    return None if state is None else state.get(_LEVEL_KEY)


async def _notify_log(session: Any, levelno: int, name: str, text: str) -> None:
    # Sent as a plain notification: the SDK's send_log_message is deprecated (the 2026-07-28 logging
    # model), and this path serves only handshake-era sessions, where logging/setLevel is current.
    note = types.LoggingMessageNotification(params=types.LoggingMessageNotificationParams(
        level=_mcp_level(levelno), logger=name, data=text))  # type: ignore[arg-type]
    try:
        await session.send_notification(note)
    except Exception:  # noqa: BLE001 - a client that went away misses its logs; the server keeps running
        pass


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
    for session in sessions:
        state = _state(session)
        subscribed: dict[str, Path | None] = state.get(_SUBSCRIBED_KEY, {}) if state else {}
        for uri, path in list(subscribed.items()):
            if path is not None and (under_any(path, changed)
                                     or since_ns is not None and _modified_since(path, since_ns)):
                try:
                    await session.send_resource_updated(uri)
                except Exception:  # noqa: BLE001 - a client that went away is dropped elsewhere
                    break


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
