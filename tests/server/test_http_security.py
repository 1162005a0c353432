"""`serve --http` answers only the intended clients: Host/Origin checks, body limit, bearer token, remote opt-in."""

import subprocess

import pytest
from pydantic import SecretStr

from skilldeck.server.app import build_server
from skilldeck.server.http_transport import check_bind, http_app, http_token, transport_security
from skilldeck.server.settings import Settings, load_settings
from skilldeck.tools.errors import InvalidInputError
from tests.fixtures.skill_factory import basic_collection
from tests.server.http_client import http_session, post, serving
from tests.server.mcp_client import connect, server_command, text_of

pytestmark = pytest.mark.anyio

TOKEN = "test-token-0123456789abcdef"
INIT = (b'{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25",'
        b'"capabilities":{},"clientInfo":{"name":"t","version":"1"}}}')


@pytest.fixture
def anyio_backend():
    return "asyncio"


def settings(tmp_path, **extra):
    return Settings(watch=False, user_skills=False, bundled_skills=False,
                    skills=[basic_collection(tmp_path / "skills")], **extra)


def app_for(s):
    return http_app(build_server(s), s)


async def test_loopback_checks_host_origin_and_body_size(tmp_path):
    async with serving(app_for(settings(tmp_path))) as url:
        assert (await post(url, INIT)).status_code == 200
        assert (await post(url, INIT, host="evil.example:80")).status_code == 421
        assert (await post(url, INIT, origin="http://evil.example")).status_code == 403
        assert (await post(url, INIT, origin="http://localhost:3000")).status_code == 200
        assert (await post(url, b"[" + b" " * (5 * 1024 * 1024) + b"]")).status_code == 413


async def test_allowed_hosts_and_origins_extend_the_lists(tmp_path):
    s = settings(tmp_path, allowed_hosts=["skills.internal:*"], allowed_origins=["https://app.example"])
    async with serving(app_for(s)) as url:
        assert (await post(url, INIT, host="skills.internal:8765")).status_code == 200
        assert (await post(url, INIT, origin="https://app.example")).status_code == 200
        assert (await post(url, INIT, origin="https://other.example")).status_code == 403


async def test_a_token_is_required_when_set_and_the_mcp_client_works_with_it(tmp_path):
    s = settings(tmp_path, http_token=SecretStr(TOKEN))
    async with serving(app_for(s)) as url:
        assert (await post(url, INIT)).status_code == 401
        assert (await post(url, INIT, authorization="Bearer wrong-token-0123456789abcdef")).status_code == 401
        assert (await post(url, INIT, authorization=f"Basic {TOKEN}")).status_code == 401
        response = await post(url, INIT, authorization=f"Bearer {TOKEN}")
        assert response.status_code == 200
        async with http_session(url, headers={"Authorization": f"Bearer {TOKEN}"}) as (session, _):
            assert not (await session.call_tool("use_skill", {"name": "sql-tuning"})).is_error


async def test_remote_bind_with_opt_in_token_and_hosts_serves_only_with_the_token(tmp_path):
    s = settings(tmp_path, host="0.0.0.0", allow_remote=True, http_token=SecretStr(TOKEN),
                 allowed_hosts=["127.0.0.1:*"])
    async with serving(app_for(s), host="0.0.0.0") as url:
        assert (await post(url, INIT)).status_code == 401
        assert (await post(url, INIT, authorization=f"Bearer {TOKEN}", host="evil.example")).status_code == 421
        async with http_session(url, headers={"Authorization": f"Bearer {TOKEN}"}) as (session, _):
            result = await session.call_tool("use_skill", {"name": "sql-tuning"})
            assert "Do the thing." in text_of(result)


async def _quoted_by_verify(session, path: str, token: str) -> str:
    await session.call_tool("enable_tools", {"toolset": "verify"})
    answer = f"The token is {token[:10]} and the file sets http_token."
    return text_of(await session.call_tool("verify_answer", {"answer": answer, "paths": [path]}))


async def test_a_token_file_in_the_project_is_not_quoted_back_by_a_tool(tmp_path):
    # The token guards the server; a model that any text can steer must not read it from a tool answer.
    token = "file-token-" + "7" * 24
    project = tmp_path / "project"
    project.mkdir()
    (project / "token.txt").write_text(f"{token}\n")
    s = settings(tmp_path, project_dir=project, http_token_file=project / "token.txt")
    async with serving(app_for(s)) as url:
        async with http_session(url, headers={"Authorization": f"Bearer {token}"}) as (session, _):
            quoted = await _quoted_by_verify(session, "token.txt", token)
    assert "token.txt" in quoted and token not in quoted


async def test_a_token_in_the_projects_skilldeck_toml_is_not_quoted_back_by_a_tool(tmp_path):
    token = "toml-token-" + "8" * 24
    (tmp_path / "skilldeck.toml").write_text(f'[skilldeck]\nhttp_token = "{token}"\n')
    async with connect("--no-user-skills", "--no-bundled-skills", "--no-watch", cwd=tmp_path) as (session, _):
        quoted = await _quoted_by_verify(session, "skilldeck.toml", token)
    assert "skilldeck.toml" in quoted and token not in quoted


def test_non_loopback_bind_needs_opt_in_token_and_hosts(tmp_path):
    with pytest.raises(InvalidInputError, match="--allow-remote"):
        check_bind(Settings(host="0.0.0.0"), None)
    with pytest.raises(InvalidInputError, match="needs a bearer token"):
        check_bind(Settings(host="192.168.1.5", allow_remote=True), None)
    with pytest.raises(InvalidInputError, match="--allowed-hosts"):
        check_bind(Settings(host="0.0.0.0", allow_remote=True), TOKEN)
    check_bind(Settings(host="192.168.1.5", allow_remote=True), TOKEN)
    check_bind(Settings(host="::1"), None)  # loopback: no token needed
    security = transport_security(Settings(host="192.168.1.5", allowed_hosts=["skills.lan:*"]))
    assert security.enable_dns_rebinding_protection
    assert security.allowed_hosts == ["192.168.1.5:*", "skills.lan:*"] and security.allowed_origins == []


def test_token_comes_from_the_environment_or_a_file_and_must_be_long(tmp_path):
    assert http_token(load_settings(environ={"SKILLDECK_HTTP_TOKEN": TOKEN})) == TOKEN
    path = tmp_path / "token"
    path.write_text(f"{TOKEN}\n")
    assert http_token(Settings(http_token_file=path)) == TOKEN
    with pytest.raises(InvalidInputError, match="at least 16") as info:
        http_token(Settings(http_token=SecretStr("tooshort")))
    assert "tooshort" not in str(info.value)
    assert TOKEN not in repr(load_settings(environ={"SKILLDECK_HTTP_TOKEN": TOKEN}))
    hosts = load_settings(environ={"SKILLDECK_ALLOWED_HOSTS": "a.example:8765,b.example:*"}).allowed_hosts
    assert hosts == ["a.example:8765", "b.example:*"]


def test_serve_refuses_a_remote_bind_without_opt_in(tmp_path):
    command, base = server_command()
    proc = subprocess.run([command, *base, "--http", "--host", "0.0.0.0", "--no-user-skills"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "--allow-remote" in proc.stderr


def test_stalled_connections_cannot_use_up_the_servers_file_descriptors(tmp_path):
    # The second security audit: about 1,000 connections that never finished their request head
    # used up the descriptors (uvicorn keeps them open) and `serve --http` crashed. With 256
    # descriptors the server now holds at most 128 connections and drops the rest at once.
    import json
    import os
    import resource
    import socket
    import time

    def low_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command, base = server_command()
    env = {**os.environ, "SKILLDECK_HOME": str(tmp_path / "state"), "SKILLDECK_EMBEDDINGS": "off"}
    server = subprocess.Popen([command, *base, "--http", "--port", str(port), "--project-dir", str(tmp_path),
                               "--no-user-skills"], env=env, cwd=tmp_path, preexec_fn=low_limit,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    stalled = []
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                time.sleep(0.2)
        for _ in range(600):
            try:
                s = socket.create_connection(("127.0.0.1", port), 2)
                s.sendall(f"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n".encode())
                stalled.append(s)
            except OSError:
                break
        time.sleep(2)
        assert server.poll() is None, "the server exited"
        for s in stalled:
            s.close()
        time.sleep(1)
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}})
        with socket.create_connection(("127.0.0.1", port), 5) as s:
            s.sendall((f"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
                       f"Accept: application/json, text/event-stream\r\nContent-Length: {len(body)}\r\n\r\n{body}").encode())
            assert s.recv(100).startswith(b"HTTP/1.1 200")
    finally:
        for s in stalled:
            s.close()
        server.terminate()
        server.wait(10)


async def test_sessions_open_at_once_are_bounded(tmp_path, monkeypatch):
    # The second security audit: the SDK's 10,000 sessions, each with 1,000 subscriptions, let one
    # loopback client hold about 19 GB.
    import skilldeck.server.http_transport as transport

    monkeypatch.setattr(transport, "MAX_HTTP_SESSIONS", 2)
    async with serving(app_for(settings(tmp_path))) as url:
        assert [(await post(url, INIT)).status_code for _ in range(3)] == [200, 200, 503]


def test_a_request_body_sent_a_byte_at_a_time_is_dropped(tmp_path):
    """The third audit: a complete head with Content-Length 100,000, then one body byte every 5 s, was
    never dropped (the head timer only watched the head); 137 such connections left every client 503."""
    import asyncio
    import socket
    import threading
    import time

    import uvicorn

    from skilldeck.server.http_transport import guarded_protocol

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error", lifespan="off",
                            http=guarded_protocol(50, 0.5, 0.5))
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    try:
        for _ in range(100):
            if server.started:
                break
            time.sleep(0.05)
        head = f"POST / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 1000\r\n\r\n".encode()
        with socket.create_connection(("127.0.0.1", port), 5) as slow:
            slow.sendall(head + b"x")
            started, dropped = time.monotonic(), False
            while time.monotonic() - started < 5:
                try:
                    slow.sendall(b"x")
                    time.sleep(0.1)
                except OSError:
                    dropped = True
                    break
            assert dropped and time.monotonic() - started < 3
        with socket.create_connection(("127.0.0.1", port), 5) as quick:  # a whole request is still served
            quick.sendall(head + b"x" * 1000)
            assert quick.recv(100).startswith(b"HTTP/1.1 200")
    finally:
        server.should_exit = True
        thread.join(5)
