"""SkilldeckServer: MCPServer plus what a server with live content needs.

- list_changed broadcasting to every connected client (handshake-era sessions get
  ``notifications/*/list_changed``; 2026-07-28 clients get events on ``subscriptions/listen``),
  callable from any thread (the file watcher runs in one);
- tool groups enabled per session: one HTTP client's ``enable_tools`` changes only its own list;
- tool descriptions computed at list time (the skill catalog lives in one);
- limits on every call (`CallLimits`): a time limit, with the work off the event loop so one slow
  call never stalls other calls or clients; argument checks that name the field; capped answers;
  secrets redacted from answers and errors (`server/errors.py`);
- paginated, generated resources and prompts (one source object provides them);
- the optional features a client may use (`server/client_features.py`): logging/setLevel with log
  notifications, completion/complete, resources/subscribe with notifications/resources/updated;
- hooks for the client's roots and for things with a lifetime (the watcher).
"""

from __future__ import annotations

import base64
import contextlib
import contextvars
import functools
import inspect
import logging
import math
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

import anyio
import mcp.types as types
from anyio.from_thread import BlockingPortal
from mcp.server.lowlevel.server import NotificationOptions
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp.shared.exceptions import MCPError
from mcp.shared.subscriptions import PromptsListChanged, ResourcesListChanged, ToolsListChanged
from mcp.types.version import HANDSHAKE_PROTOCOL_VERSIONS
from pydantic import ValidationError

from skilldeck.server import client_features
from skilldeck.server.errors import argument_error, clip, redact, redact_data, request_error
from skilldeck.server.limits import (CallLimits, CallTookTooLong, cap_prompt_result, cap_tool_result,
                                     check_arguments, run_with_time_limit)
from skilldeck.tools.errors import SkilldeckError

__all__ = ["SkilldeckServer", "ContentSource", "encode_cursor", "decode_cursor"]

logger = logging.getLogger("skilldeck")

_ENABLED_KEY = "skilldeck.enabled"  # in the SDK's per-connection Connection.state
MAX_WAIT_S = 3600  # the most a tool's own wait_s argument can add to its time limit
# The enabled tool groups of the session whose tools/list is being answered (for describers).
_listing_enabled: contextvars.ContextVar[set[str] | None] = contextvars.ContextVar("listing_enabled", default=None)


class ContentSource(Protocol):
    """Provides resources and prompts, generated from live data and paged."""

    def list_resources(self, cursor: int, limit: int) -> tuple[list[types.Resource], int | None]: ...
    def resource_templates(self) -> list[types.ResourceTemplate]: ...
    def read_resource(self, uri: str) -> list[types.TextResourceContents | types.BlobResourceContents]: ...
    def list_prompts(self, cursor: int, limit: int) -> tuple[list[types.Prompt], int | None]: ...
    def get_prompt(self, name: str, arguments: dict[str, str]) -> types.GetPromptResult: ...
    def complete(self, ref: Any, argument: str, value: str, context: dict[str, str]) -> tuple[list[str], int]: ...
    def path_of(self, uri: str) -> Path | None: ...


def encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode()


def decode_cursor(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        kind, _, value = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
        if kind == "o" and int(value) >= 0:
            return int(value)
    except (ValueError, UnicodeDecodeError):
        pass
    raise request_error(f"invalid cursor {clip(cursor)!r}; start again without a cursor")


class SkilldeckServer(MCPServer):
    def __init__(self, *, instructions: str, version: str, page_size: int, log_level: str = "WARNING",
                 limits: CallLimits | None = None) -> None:
        self.page_size = page_size
        self.limits = limits or CallLimits()
        self.content: ContentSource | None = None
        self.services: Any = None  # what the adapters share (set by build_server)
        self._describers: dict[str, Callable[[], str]] = {}
        self.toolsets: dict[str, list[str]] = {}      # toolset -> tool names
        self.enabled: set[str] = set()               # toolsets a new session starts with
        self._session_hooks: list[Callable[[Any], Awaitable[None]]] = []
        self._lifetimes: list[Callable[[SkilldeckServer], contextlib.AbstractAsyncContextManager[Any]]] = []
        # The SDK builds a ServerSession per request; notifications outside a request go through the
        # connection it wraps. Keyed weakly by connection, so closed connections drop out by themselves.
        self._sessions: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()
        self._portal: BlockingPortal | None = None
        self._task_group: anyio.abc.TaskGroup | None = None
        self._slots: anyio.Semaphore | None = None   # calls running at once (limits.concurrent_calls)
        super().__init__(name="skilldeck", title="skilldeck", instructions=instructions, version=version,
                         lifespan=_lifespan, log_level=log_level)  # type: ignore[arg-type]
        low = self._lowlevel_server
        make_options = low.create_initialization_options

        def with_list_changed(notification_options: NotificationOptions | None = None, *args: Any, **kw: Any):
            options = notification_options or NotificationOptions(True, True, True)
            return make_options(options, *args, **kw)

        low.create_initialization_options = with_list_changed  # type: ignore[method-assign]
        low.add_notification_handler("notifications/initialized", types.NotificationParams, self._on_initialized)
        low.add_notification_handler("notifications/roots/list_changed", types.NotificationParams,
                                     self._on_initialized)
        self.client_log = client_features.register(self)
        self.client_log.install()  # now: the adapters log start-up problems before the server runs

    # -- hooks for adapters ----------------------------------------------------------------
    def describe_tool(self, name: str, describer: Callable[[], str]) -> None:
        """Compute `name`'s description each time tools are listed."""
        self._describers[name] = describer

    def on_session(self, hook: Callable[[Any], Awaitable[None]]) -> None:
        """Run `hook(session)` in the background when a client finishes initializing or its roots change."""
        self._session_hooks.append(hook)

    def add_lifetime(self, factory: Callable[[SkilldeckServer], contextlib.AbstractAsyncContextManager[Any]]) -> None:
        """Enter `factory(server)` while the server runs (start watchers, open clients...)."""
        self._lifetimes.append(factory)

    # -- transports ----------------------------------------------------------------------------
    async def run_stdio_async(self) -> None:
        """Like MCPServer's, except that a line that is not JSON is answered with a parse error
        (`skilldeck.server.unreadable`), not dropped with the caller left waiting."""
        from mcp.server.stdio import stdio_server

        from skilldeck.server.unreadable import AnswersUnreadable

        async with stdio_server() as (read_stream, write_stream):
            await self._lowlevel_server.run(AnswersUnreadable(read_stream, write_stream), write_stream,
                                            self._lowlevel_server.create_initialization_options())

    # -- change notifications --------------------------------------------------------------
    async def broadcast_list_changed(self) -> None:
        """Tell every connected client that tools, resources and prompts changed."""
        for event in (ToolsListChanged(), ResourcesListChanged(), PromptsListChanged()):
            await self._subscriptions.publish(event)
        sessions = dict(self._sessions)
        failed = await client_features.deliver_all(
            sessions.values(), make=lambda s: (s.send_tool_list_changed, s.send_resource_list_changed,
                                              s.send_prompt_list_changed))
        for connection, session in sessions.items():
            if session in failed and not client_features.stalled(session):
                logger.debug("dropping a session that could not be notified")  # it went away; others still hear
                self._sessions.pop(connection, None)

    def broadcast_list_changed_threadsafe(self) -> None:
        """Schedule `broadcast_list_changed` from a thread that is not the event loop's."""
        portal = self._portal
        if portal is not None:
            try:
                portal.start_task_soon(self.broadcast_list_changed)
            except RuntimeError:  # the server is shutting down
                pass

    def resources_updated_threadsafe(self, paths: set[Path], since_ns: int | None = None) -> None:
        """Tell clients subscribed to a resource whose file is among `paths` (or, with `since_ns`,
        was modified since then) that it changed (any thread)."""
        self.run_soon(client_features.notify_updated, self.sessions(), set(paths), since_ns)

    def start_background(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> None:
        if self._task_group is not None:
            self._task_group.start_soon(fn, *args)

    def run_soon(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> None:
        """Run `fn(*args)` on the event loop soon, from its own thread or any other; nothing outside
        the lifespan (the server is starting or has stopped)."""
        try:
            if client_features.in_event_loop():
                self.start_background(fn, *args)
            elif self._portal is not None:
                self._portal.start_task_soon(fn, *args)
        except RuntimeError:  # the loop is shutting down
            pass

    def sessions(self) -> list[Any]:
        """The handshake-era sessions seen so far that are still connected (from any thread)."""
        for _ in range(3):
            try:
                return list(self._sessions.values())
            except RuntimeError:  # the loop added or dropped one meanwhile
                continue
        return []

    def remember(self, session: Any) -> None:
        """Keep `session` for notifications sent outside a request (list_changed, logs, updates)."""
        self._remember(session)

    def _remember(self, session: Any) -> None:
        connection = client_features.connection_of(session)  # stable across a connection
        if connection is not None:
            self._sessions[connection] = session
            if isinstance(getattr(connection, "state", None), dict):
                connection.state[client_features.END_KEY] = self._end_stalled

    async def _end_stalled(self, session: Any) -> None:
        """End the HTTP session of a client that does not read its stream (see client_features.deliver).

        The SDK routes a session's messages one at a time, so with that stream full nothing more is
        answered on the session, and each request the client goes on sending stays in memory
        (6,816 pings in 20 s: +140 MB, never freed). Ending the session frees them; the client may
        initialize again. Over stdio there is no session to end."""
        session_id = getattr(client_features.connection_of(session), "session_id", None)
        try:
            # `_server_instances` (session id -> transport) is private in mcp 2.3: read here only.
            transports = self._lowlevel_server.session_manager._server_instances
        except (AttributeError, RuntimeError):  # no HTTP app: stdio
            return
        transport = transports.get(session_id) if session_id else None
        if transport is not None:
            logger.warning("ending HTTP session %s: its client does not read its stream", str(session_id)[:12])
            with anyio.move_on_after(2):
                await transport.terminate()

    async def _on_initialized(self, ctx: Any, params: Any) -> None:
        self._remember(ctx.session)
        for hook in self._session_hooks:
            # In the background: a hook may send requests (roots/list) whose replies this loop reads.
            self.start_background(_run_hook, hook, ctx.session)

    # -- tools -----------------------------------------------------------------------------
    def tool(self, *args: Any, structured_output: bool | None = None, **kwargs: Any) -> Callable[[Any], Any]:
        """Like MCPServer.tool, except that a tool returning plain text gets no output schema:
        wrapping the text in structured content would send every result to the model twice."""
        if structured_output is not None:
            return super().tool(*args, structured_output=structured_output, **kwargs)

        def decorator(fn: Any) -> Any:
            returns = inspect.signature(fn).return_annotation
            plain = returns in (str, "str")
            return MCPServer.tool(self, *args, structured_output=False if plain else None, **kwargs)(fn)

        return decorator

    async def _handle_list_tools(self, ctx: Any, params: Any) -> types.ListToolsResult:
        self._remember(ctx.session)
        token = _listing_enabled.set(self.enabled_for(ctx.session))
        try:
            return await super()._handle_list_tools(ctx, params)
        finally:
            _listing_enabled.reset(token)

    # -- tool groups, per session ----------------------------------------------------------
    def keeps_sessions(self, session: Any) -> bool:
        """Whether requests on `session`'s connection share state. Handshake-era clients (stdio, and
        each Streamable HTTP session) do; a 2026-07-28 client's every request is a connection of its own."""
        connection = client_features.connection_of(session)
        return connection is not None and getattr(connection, "protocol_version", None) in HANDSHAKE_PROTOCOL_VERSIONS

    def enabled_for(self, session: Any) -> set[str]:
        """The tool groups listed to `session`: the server's start set plus what it enabled."""
        connection = client_features.connection_of(session)
        state = getattr(connection, "state", None)
        if not isinstance(state, dict):
            return set(self.enabled)
        return state.setdefault(_ENABLED_KEY, set(self.enabled))

    def enable_for(self, session: Any, toolset: str) -> bool:
        """List `toolset` to `session` from now on; False if it was already listed."""
        enabled = self.enabled_for(session)
        if toolset in enabled:
            return False
        enabled.add(toolset)
        return True

    def listing_enabled(self) -> set[str]:
        """The groups of the session whose tools/list is being answered (the start set outside one)."""
        current = _listing_enabled.get()
        return set(self.enabled) if current is None else current

    def hidden_tools(self, enabled: set[str] | None = None) -> set[str]:
        enabled = self.listing_enabled() if enabled is None else enabled
        return {name for toolset, names in self.toolsets.items() if toolset not in enabled for name in names}

    async def call_tool(self, name: str, arguments: dict[str, Any], context: Any = None) -> Any:
        """Call a tool within the server's limits.

        A tool of a group this session has not enabled still runs: groups decide what is listed
        (to save the model's context), not what may be called, and a 2026-07-28 client has no
        session to enable them in. Arguments are checked first (NUL bytes, string length), naming
        the field; the body then runs as its own task with a time limit of `limits.timeout_s` plus
        the tool's `wait_s` argument, if any; the answer is redacted and capped at
        `limits.answer_bytes`.
        """
        tool = self._tool_manager.get_tool(name)
        if tool is not None:
            check_arguments(arguments, self.limits.argument_chars, tool.parameters)
        call = functools.partial(super().call_tool, name, arguments, context)
        try:
            result = await run_with_time_limit(f"Tool {name}", self.limits.timeout_s + _wait_of(arguments), call,
                                               self._spawner(), self._slots)
        except CallTookTooLong:
            logger.warning("tool %s passed its time limit", name)
            raise
        except ToolError as exc:
            raise _readable(name, exc) from exc.__cause__ if isinstance(exc.__cause__, ValidationError) else exc
        return cap_tool_result(_redact_tool_result(result), self.limits.answer_bytes)

    def _spawner(self) -> Callable[..., Any] | None:
        """Where a bounded call runs: the lifespan's task group (None outside the lifespan)."""
        return self._task_group.start_soon if self._task_group is not None else None

    async def _bounded(self, what: str, fn: Callable[..., Any], *args: Any) -> Any:
        """Run sync `fn(*args)` in a worker thread within the time limit; MCPError when it is passed."""
        try:
            return await run_with_time_limit(what, self.limits.timeout_s,
                                             functools.partial(anyio.to_thread.run_sync, fn, *args),
                                             self._spawner(), self._slots)
        except CallTookTooLong as exc:
            raise MCPError(code=types.INTERNAL_ERROR, message=str(exc)) from exc

    async def list_tools(self) -> list[types.Tool]:
        hidden = self.hidden_tools()
        tools = []
        for tool in await super().list_tools():
            if tool.name in hidden:
                continue
            update: dict[str, Any] = {"input_schema": _without_titles(tool.input_schema),
                                      "output_schema": _without_titles(tool.output_schema),
                                      "description": inspect.cleandoc(tool.description or "")}
            if tool.name in self._describers:
                update["description"] = self._describers[tool.name]()
            tools.append(tool.model_copy(update=update))
        return tools

    # -- resources and prompts -------------------------------------------------------------
    async def _handle_list_resources(self, ctx: Any, params: Any) -> types.ListResourcesResult:
        if self.content is None:
            return types.ListResourcesResult(resources=[])
        offset = decode_cursor(params.cursor if params else None)
        items, nxt = await self._bounded("resources/list", self.content.list_resources, offset, self.page_size)
        return types.ListResourcesResult(resources=items, next_cursor=None if nxt is None else encode_cursor(nxt))

    async def _handle_list_resource_templates(self, ctx: Any, params: Any) -> types.ListResourceTemplatesResult:
        templates = self.content.resource_templates() if self.content else []
        return types.ListResourceTemplatesResult(resource_templates=templates)

    async def _handle_read_resource(self, ctx: Any, params: types.ReadResourceRequestParams) -> types.ReadResourceResult:
        if self.content is None:
            raise request_error(f"Unknown resource {clip(str(params.uri))}")
        try:
            contents = await self._bounded(f"Reading {clip(str(params.uri))}", self.content.read_resource,
                                           str(params.uri))
        except SkilldeckError as exc:
            raise request_error(str(exc), {"uri": clip(str(params.uri))}) from exc
        # Resource size is bounded where resources are made (server/skill_content.py).
        contents = [c.model_copy(update={"text": redact(c.text)}) if isinstance(c, types.TextResourceContents) else c
                    for c in contents]
        return types.ReadResourceResult(contents=contents)

    async def _handle_list_prompts(self, ctx: Any, params: Any) -> types.ListPromptsResult:
        if self.content is None:
            return types.ListPromptsResult(prompts=[])
        offset = decode_cursor(params.cursor if params else None)
        items, nxt = await self._bounded("prompts/list", self.content.list_prompts, offset, self.page_size)
        return types.ListPromptsResult(prompts=items, next_cursor=None if nxt is None else encode_cursor(nxt))

    async def _handle_get_prompt(self, ctx: Any, params: types.GetPromptRequestParams) -> types.GetPromptResult:
        if self.content is None:
            raise request_error(f"Unknown prompt {clip(params.name)!r}")
        arguments = dict(params.arguments or {})
        try:
            check_arguments(arguments, self.limits.argument_chars)
            result = await self._bounded(f"Prompt {clip(params.name)}", self.content.get_prompt, params.name,
                                         arguments)
        except (SkilldeckError, ToolError) as exc:
            raise request_error(str(exc)) from exc
        return cap_prompt_result(_redact_prompt(result), self.limits.answer_bytes)


def _without_titles(schema: Any) -> Any:
    """Drop the "title" entries pydantic puts on every schema and property: they repeat the names
    and cost start-up tokens in every client."""
    if isinstance(schema, dict):
        return {k: _without_titles(v) for k, v in schema.items()
                if not (k == "title" and isinstance(v, str))}
    if isinstance(schema, list):
        return [_without_titles(v) for v in schema]
    return schema


def _wait_of(arguments: dict[str, Any]) -> float:
    """The seconds a tool was asked to wait for a job (its `wait_s`), which its time limit allows for."""
    wait = arguments.get("wait_s")
    if isinstance(wait, bool) or not isinstance(wait, int | float) or not math.isfinite(wait):
        return 0.0
    return min(max(0.0, float(wait)), MAX_WAIT_S)


def _readable(name: str, exc: ToolError) -> ToolError:
    """The SDK's ToolError for a call, made to say what went wrong (never a bare "Error executing tool")."""
    cause = exc.__cause__
    if isinstance(cause, ValidationError):
        return argument_error(name, cause)
    if isinstance(exc, UnexpectedToolError):
        cause = cause or exc
        logger.error("tool %s raised an unexpected exception", name, exc_info=cause)
        return ToolError(redact(f"Error executing tool {name}: internal error ({type(cause).__name__}: "
                                f"{cause}). The server keeps running; please report this with the arguments "
                                "used.")[:4000])
    return ToolError(redact(str(exc)))


def _redact_tool_result(result: Any) -> Any:
    if not isinstance(result, types.CallToolResult):
        return result
    content = [c.model_copy(update={"text": redact(c.text)}) if isinstance(c, types.TextContent) else c
               for c in result.content]
    return result.model_copy(update={"content": content, "structured_content": redact_data(result.structured_content)})


def _redact_prompt(result: types.GetPromptResult) -> types.GetPromptResult:
    messages = [m.model_copy(update={"content": m.content.model_copy(update={"text": redact(m.content.text)})})
                if isinstance(m.content, types.TextContent) else m for m in result.messages]
    return result.model_copy(update={"messages": messages})


async def _run_hook(hook: Callable[[Any], Awaitable[None]], session: Any) -> None:
    try:
        await hook(session)
    except Exception:  # noqa: BLE001 - a failing hook must not take the server down
        logger.exception("session hook failed")


@contextlib.asynccontextmanager
async def _lifespan(server: SkilldeckServer) -> AsyncIterator[dict[str, Any]]:
    async with BlockingPortal() as portal, anyio.create_task_group() as group:
        server._portal, server._task_group = portal, group
        server._slots = anyio.Semaphore(max(1, server.limits.concurrent_calls))
        try:
            async with contextlib.AsyncExitStack() as stack:
                for factory in server._lifetimes:
                    await stack.enter_async_context(factory(server))
                yield {}
        finally:
            server.client_log.uninstall()
            server._portal = server._task_group = server._slots = None
            group.cancel_scope.cancel()
