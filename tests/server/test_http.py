"""`skilldeck serve --http` answers Streamable HTTP on 127.0.0.1."""

import socket
import subprocess
import sys
import time

import anyio
import pytest
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client

import mcp.types as types

from tests.fixtures.skill_factory import basic_collection, make_skill
from tests.server.mcp_client import server_command, text_of

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend():
    return "asyncio"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_http_transport_serves_the_same_tools_and_ignores_client_roots(tmp_path):
    # One HTTP server serves many clients: the project is its working directory, and a client's
    # roots must not swap the catalog under everyone else.
    make_skill(tmp_path / ".claude" / "skills", "cwd-skill", "name: cwd-skill\ndescription: From the served folder.")
    elsewhere = tmp_path / "elsewhere"
    make_skill(elsewhere / ".claude" / "skills", "roots-skill", "name: roots-skill\ndescription: From a client root.")

    async def list_roots(context):
        return types.ListRootsResult(roots=[types.Root(uri=elsewhere.resolve().as_uri())])

    port = free_port()
    command, base = server_command()
    proc = subprocess.Popen([command, *base, "--http", "--port", str(port), "--no-user-skills", "--no-bundled-skills",
                             "--skills", str(basic_collection(tmp_path / "skills"))],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert proc.poll() is None, proc.stderr.read().decode()
                assert time.monotonic() < deadline, "server did not listen in time"
                await anyio.sleep(0.05)
        async with streamable_http_client(f"http://127.0.0.1:{port}/mcp") as streams:
            async with ClientSession(streams[0], streams[1], list_roots_callback=list_roots) as session:
                await session.initialize()
                names = {t.name for t in (await session.list_tools()).tools}
                assert {"find_skills", "use_skill", "read_skill_file"} <= names
                result = await session.call_tool("use_skill", {"name": "sql-tuning"})
                assert "Do the thing." in text_of(result)
                await anyio.sleep(1.0)  # time enough for a roots round trip, were the server to make one
                assert not (await session.call_tool("use_skill", {"name": "cwd-skill"})).is_error
                assert (await session.call_tool("use_skill", {"name": "roots-skill"})).is_error
    finally:
        proc.terminate()
        proc.wait(timeout=10)
