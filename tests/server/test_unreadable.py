"""A line the server cannot read gets a JSON-RPC parse error with the request's id, not silence.

Found by the security audit: arguments nested deeper than the parser allows, a 5,000-digit
integer or a lone surrogate made the SDK drop the request, and the client waited until its own
timeout. Raw lines over stdio, since a well-behaved client library would not send them.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import time

import pytest

from tests.server.mcp_client import server_command

INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
              "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}


def _call(ident: int, arguments: str) -> str:
    return ('{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"find_skills","arguments":%s}}'
            % (ident, arguments))


class Lines:
    def __init__(self, process: subprocess.Popen) -> None:
        self.process, self.pending = process, b""

    def send(self, line: str) -> None:
        self.process.stdin.write(line.encode("utf-8", "surrogatepass") + b"\n")
        self.process.stdin.flush()

    def reply(self, ident: int | None, timeout: float = 20.0) -> dict:
        """The next message answering `ident`; notifications and log lines in between are skipped."""
        deadline = time.monotonic() + timeout
        while True:
            while b"\n" in self.pending:
                line, self.pending = self.pending.split(b"\n", 1)
                message = json.loads(line)
                if "method" not in message and message.get("id") == ident:
                    return message
            left = deadline - time.monotonic()
            if left <= 0:
                pytest.fail(f"no answer to request {ident} within {timeout:.0f} s")
            ready, _, _ = select.select([self.process.stdout], [], [], left)
            if ready:
                self.pending += os.read(self.process.stdout.fileno(), 1 << 16)


@pytest.fixture
def server(tmp_path):
    command, base = server_command()
    env = {**os.environ, "SKILLDECK_HOME": str(tmp_path / "state"), "SKILLDECK_EMBEDDINGS": "off"}
    process = subprocess.Popen([command, *base, "--project-dir", str(tmp_path)], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, cwd=tmp_path)
    lines = Lines(process)
    try:
        lines.send(json.dumps(INITIALIZE))
        assert "result" in lines.reply(1, timeout=60)
        lines.send('{"jsonrpc":"2.0","method":"notifications/initialized"}')
        yield lines
    finally:
        process.stdin.close()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.mark.parametrize("arguments, said", [
    ('{"task":' + '{"a":' * 300 + '1' + '}' * 300 + '}', "recursion limit"),
    ('{"task":' + '[' * 5000 + ']' * 5000 + '}', "recursion limit"),  # past Python's own limit too: id was null
    ('{"task":"x","limit":' + "9" * 5000 + '}', "number out of range"),
    ('{"task":"\\ud800"}', "hex escape"),
])
def test_unreadable_arguments_get_a_parse_error_with_their_id_and_the_server_goes_on(server, arguments, said):
    server.send(_call(7, arguments))
    error = server.reply(7)["error"]
    assert error["code"] == -32700 and said in error["message"] and "nothing was run" in error["message"]
    server.send(_call(8, '{"task":"make a gif"}'))
    assert "result" in server.reply(8)


def test_a_line_that_is_not_json_at_all_is_answered_with_a_null_id(server):
    server.send("}{")
    assert server.reply(None)["error"]["code"] == -32700
    server.send(_call(9, '{"task":"make a gif"}'))
    assert "result" in server.reply(9)
