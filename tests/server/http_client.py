"""Serve a skilldeck ASGI app with uvicorn inside the test's event loop, and talk MCP to it over HTTP."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx2
import uvicorn
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from tests.server.mcp_client import Notifications


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.asynccontextmanager
async def serving(app: Any, host: str = "127.0.0.1") -> AsyncIterator[str]:
    """Run `app` on a free port; yields the MCP endpoint URL (on 127.0.0.1)."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on"))
    async with anyio.create_task_group() as group:
        group.start_soon(server.serve)
        with anyio.fail_after(15):
            while not server.started:
                await anyio.sleep(0.01)
        try:
            yield f"http://127.0.0.1:{port}/mcp"
        finally:
            server.should_exit = True


@contextlib.asynccontextmanager
async def http_session(url: str, headers: dict[str, str] | None = None
                       ) -> AsyncIterator[tuple[ClientSession, Notifications]]:
    notes = Notifications()
    async with create_mcp_http_client(headers=headers) as client:
        async with streamable_http_client(url, http_client=client) as streams:
            async with ClientSession(streams[0], streams[1], message_handler=notes.handler,
                                     read_timeout_seconds=60) as session:
                await session.initialize()
                yield session, notes


async def post(url: str, body: bytes = b"{}", **headers: str) -> httpx2.Response:
    """One raw POST to the endpoint, for status-code checks."""
    base = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
    async with httpx2.AsyncClient() as client:
        return await client.post(url, content=body, headers={**base, **headers})
