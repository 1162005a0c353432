"""`skilldeck serve --http` answers Streamable HTTP on 127.0.0.1; each HTTP session has its own tool groups."""

import socket
import subprocess
import time

import anyio
import pytest
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client

import mcp.types as types

from skilldeck.server.app import build_server
from skilldeck.server.http_transport import http_app
from skilldeck.server.settings import Settings
from tests.fixtures.skill_factory import basic_collection, make_skill
from tests.server.http_client import http_session, serving
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


async def test_enabling_a_tool_group_changes_only_that_sessions_tools(tmp_path):
    settings = Settings(watch=False, user_skills=False, bundled_skills=False,
                        skills=[basic_collection(tmp_path / "skills")])
    async with serving(http_app(build_server(settings), settings)) as url:
        async with http_session(url) as (first, first_notes), http_session(url) as (second, second_notes):
            seen = len(first_notes.methods)
            loaded = await first.call_tool("enable_tools", {"toolset": "verify"})
            assert "Loaded verify" in text_of(loaded)
            await first_notes.wait_for("notifications/tools/list_changed", after=seen)
            first_tools = {t.name: t for t in (await first.list_tools()).tools}
            second_tools = {t.name: t for t in (await second.list_tools()).tools}
            assert "verify_answer" in first_tools and "verify:" not in first_tools["enable_tools"].description
            assert "verify_answer" not in second_tools and "verify:" in second_tools["enable_tools"].description
            assert "notifications/tools/list_changed" not in second_notes.methods
            # a group not loaded in a session is not listed there, but its tools still run when named
            claims = await second.call_tool("extract_claims", {"answer": "It rained."})
            assert not claims.is_error
