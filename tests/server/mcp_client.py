"""Start `skilldeck serve` as a subprocess and talk MCP to it with the SDK's client."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import mcp.types as types
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client


class Notifications:
    """Collects server notifications; `wait_for(method)` blocks until one arrives (bounded)."""

    def __init__(self) -> None:
        self.methods: list[str] = []
        self._changed = anyio.Event()

    async def handler(self, message: Any) -> None:
        method = getattr(message, "method", None)
        if method:
            self.methods.append(method)
            self._changed.set()
            self._changed = anyio.Event()

    async def wait_for(self, method: str, timeout: float = 10.0, after: int = 0) -> None:
        with anyio.fail_after(timeout):
            while method not in self.methods[after:]:
                await self._changed.wait()


def server_command() -> tuple[str, list[str]]:
    script = Path(sys.executable).parent / "skilldeck"
    if script.exists():
        return str(script), ["serve"]
    return sys.executable, ["-m", "skilldeck.server.cli", "serve"]


@contextlib.asynccontextmanager
async def connect(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
                  roots: list[Path] | None = None) -> AsyncIterator[tuple[ClientSession, Notifications]]:
    command, base = server_command()
    params = StdioServerParameters(command=command, args=[*base, *args], cwd=str(cwd) if cwd else None,
                                   env={**os.environ, **(env or {})})
    notes = Notifications()

    async def list_roots(context: Any) -> types.ListRootsResult:
        return types.ListRootsResult(roots=[types.Root(uri=p.resolve().as_uri()) for p in roots or []])

    kwargs: dict[str, Any] = {"message_handler": notes.handler, "read_timeout_seconds": 60}
    if roots is not None:
        kwargs["list_roots_callback"] = list_roots
    async with stdio_client(params, errlog=sys.stderr) as (read, write):
        async with ClientSession(read, write, **kwargs) as session:
            await session.initialize()
            yield session, notes


def text_of(result: types.CallToolResult) -> str:
    return "\n".join(c.text for c in result.content if isinstance(c, types.TextContent))
