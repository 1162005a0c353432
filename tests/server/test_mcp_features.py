"""The optional MCP features over the real protocol: logging/setLevel and log notifications,
completion/complete, resources/subscribe with notifications/resources/updated on a hot reload, and a
client that leaves right after initialize."""

import contextlib
import hashlib
import json
import os
import subprocess
import sys
import time
import warnings
from typing import Any

import anyio
import mcp.types as types
import pytest
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from pydantic import TypeAdapter

from tests.fixtures.skill_factory import make_skill
from tests.server.mcp_client import server_command

pytestmark = pytest.mark.anyio
TEMPLATE = types.ResourceTemplateReference(type="ref/resource", uri="skill://{name}/{+path}")


@pytest.fixture
def anyio_backend():
    return "asyncio"


class Heard:
    """Every notification the server sends, with its params; `wait(predicate)` is bounded."""

    def __init__(self) -> None:
        self.items: list[tuple[str, Any]] = []
        self._changed = anyio.Event()

    async def handler(self, message: Any) -> None:
        method = getattr(message, "method", None)
        if method:
            self.items.append((method, getattr(message, "params", None)))
            self._changed.set()
            self._changed = anyio.Event()

    async def wait(self, method: str, match=lambda params: True, timeout: float = 15.0) -> Any:
        with anyio.fail_after(timeout):
            while True:
                for seen, params in self.items:
                    if seen == method and match(params):
                        return params
                await self._changed.wait()


@contextlib.asynccontextmanager
async def serve(root, cwd, *extra):
    command, base = server_command()
    args = [*base, "--skills", str(root), "--no-user-skills", "--no-bundled-skills", *extra]
    params = StdioServerParameters(command=command, args=args, cwd=str(cwd),
                                   env={**os.environ, "SKILLDECK_WATCH_DEBOUNCE_MS": "50"})
    heard = Heard()
    async with stdio_client(params, errlog=sys.stderr) as (read, write):
        async with ClientSession(read, write, message_handler=heard.handler, read_timeout_seconds=60) as session:
            await session.initialize()
            yield session, heard


def skills(root):
    make_skill(root, "pdf-forms", "name: pdf-forms\ndescription: Fill PDF forms. Use when a PDF form has fields.\n"
               "argument-hint: \"[draft|final]\"", files={"references/fields.md": "# Fields\n", "assets/a.png": b"\x00"})
    make_skill(root, "pdf-split", "name: pdf-split\ndescription: Split PDFs into pages. Use to split a PDF.")
    make_skill(root, "sql-tuning", "name: sql-tuning\ndescription: Speed up slow SQL. Use when a query is slow.")
    return root


@contextlib.contextmanager
def handshake_era():
    """The SDK marks logging and resources/subscribe deprecated (2026-07-28 replaces them); these
    tests speak the handshake-era protocol where they are current."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


async def set_level(session, level: str) -> None:
    with handshake_era():
        await session.set_logging_level(level)


async def test_completion_offers_skill_names_then_their_files_then_prompt_choices(tmp_path):
    root = skills(tmp_path / "skills")
    async with serve(root, tmp_path, "--no-watch") as (session, _):
        names = (await session.complete(TEMPLATE, {"name": "name", "value": "pdf-"})).completion
        assert (names.values, names.total, names.has_more) == (["pdf-forms", "pdf-split"], 2, False)
        paths = (await session.complete(TEMPLATE, {"name": "path", "value": "re"},
                                        context_arguments={"name": "pdf-forms"})).completion
        assert paths.values == ["references/fields.md"]
        nothing = (await session.complete(TEMPLATE, {"name": "path", "value": ""},
                                          context_arguments={"name": "no-such-skill"})).completion
        assert nothing.values == []
        prompt = types.PromptReference(type="ref/prompt", name="pdf-forms")
        assert (await session.complete(prompt, {"name": "request", "value": "d"})).completion.values == ["draft"]
        unknown = types.PromptReference(type="ref/prompt", name="test_prompt_with_arguments")
        assert (await session.complete(unknown, {"name": "arg1", "value": "x"})).completion.values == []


async def test_a_subscribed_file_edit_sends_updated_list_changed_a_log_and_fresh_digests(tmp_path):
    root = skills(tmp_path / "skills")
    uri = "skill://pdf-forms/references/fields.md"
    async with serve(root, tmp_path) as (session, heard):
        await set_level(session, "info")
        with handshake_era():
            await session.subscribe_resource(uri)
            await session.subscribe_resource("skill://sql-tuning/SKILL.md")
            await session.unsubscribe_resource("skill://sql-tuning/SKILL.md")
        new = b"# Fields\nedited\n"
        # The watcher starts just after start-up: write until a change is seen (bounded).
        with anyio.fail_after(20):
            while not any(m == "notifications/resources/updated" for m, _ in heard.items):
                (root / "pdf-forms" / "references" / "fields.md").write_bytes(new)
                with anyio.move_on_after(1):
                    await heard.wait("notifications/resources/updated")
        # The watcher runs now: one more edit is seen by it, and logged.
        heard.items.clear()
        new = b"# Fields\nedited again\n"
        (root / "pdf-forms" / "references" / "fields.md").write_bytes(new)
        updated = await heard.wait("notifications/resources/updated")
        assert str(updated.uri) == uri
        log = await heard.wait("notifications/message", lambda p: "skills reloaded" in str(p.data))
        assert log.level == "info" and log.logger == "skilldeck"
        entry = await session.send_request(_Raw(method="skills/get", params={"uri": "skill://pdf-forms/SKILL.md"}),
                                           TypeAdapter(dict[str, Any]))
        digests = {r["uri"]: r["digest"] for r in entry["skill"]["resources"]}
        assert digests[uri] == "sha256:" + hashlib.sha256(new).hexdigest()
        assert not any(m == "notifications/resources/updated" and str(p.uri).startswith("skill://sql-tuning")
                       for m, p in heard.items)


async def test_an_edit_before_the_watcher_starts_still_sends_updated(tmp_path):
    # The watcher starts half a second after initialize; one edit made before then used to be
    # caught up as list_changed only, so a subscriber never heard that its file changed.
    root = skills(tmp_path / "skills")
    uri = "skill://pdf-forms/references/fields.md"
    async with serve(root, tmp_path) as (session, heard):
        with handshake_era():
            await session.subscribe_resource(uri)
        (root / "pdf-forms" / "references" / "fields.md").write_bytes(b"# Fields\nedited once\n")
        updated = await heard.wait("notifications/resources/updated")
        assert str(updated.uri) == uri


class _Raw(types.Request[dict[str, Any] | None, str]):
    """A request for a method the SDK has no type for."""


async def test_set_level_replays_start_up_problems_and_filters_by_level(tmp_path):
    root = skills(tmp_path / "skills")
    make_skill(root, "no-description", "name: no-description")
    async with serve(root, tmp_path, "--no-watch") as (session, heard):
        await set_level(session, "error")
        await set_level(session, "warning")
        problem = await heard.wait("notifications/message", lambda p: "no-description" in str(p.data))
        assert problem.level == "warning"
        assert all(p.level in ("warning", "error") for m, p in heard.items if m == "notifications/message")


def test_a_client_leaving_right_after_initialize_ends_the_server_quietly(tmp_path):
    root = skills(tmp_path / "skills")
    command, base = server_command()
    request = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}
    for pause in (0.5,):  # while the warm-up starts the watcher (WARMUP_DELAY_S)
        proc = subprocess.Popen([command, *base, "--skills", str(root), "--no-user-skills", "--no-bundled-skills"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path,
                                text=True)
        proc.stdin.write(json.dumps(request) + "\n")
        proc.stdin.flush()
        assert '"result"' in proc.stdout.readline()
        if pause:
            time.sleep(pause)
        proc.stdin.close()
        assert proc.wait(timeout=30) == 0
        err = proc.stderr.read()
        assert "Traceback" not in err and "RuntimeError" not in err, err


class _Connection:
    def __init__(self):
        self.state = {}


class _Session:
    """A session whose client reads its stream (`stuck=False`) or never does (every send waits)."""

    def __init__(self, stuck: bool):
        self._connection, self.stuck, self.got = _Connection(), stuck, []

    async def send_notification(self, note):
        if self.stuck:
            await anyio.sleep_forever()
        self.got.append(note)

    async def send_resource_updated(self, uri):
        await self.send_notification(uri)


async def test_a_client_not_reading_its_stream_holds_up_no_other_client(monkeypatch):
    """Over HTTP, one client that never read its GET stream stopped notifications to every client
    after it: the server awaited each client's send in turn."""
    from skilldeck.server import client_features

    monkeypatch.setattr(client_features, "SEND_TIMEOUT_S", 0.2)
    stuck, reader = _Session(stuck=True), _Session(stuck=False)
    ended = []

    async def end(session):  # what the server sets: ends the stalled client's HTTP session
        ended.append(session)

    stuck._connection.state[client_features.END_KEY] = end
    note = types.ResourceListChangedNotification()
    with anyio.fail_after(5):
        started = time.monotonic()
        failed = await client_features.deliver_all([stuck, reader], note)
        assert failed == [stuck] and reader.got == [note] and time.monotonic() - started < 1
        assert client_features.stalled(stuck) and not client_features.stalled(reader) and ended == [stuck]
        started = time.monotonic()  # from now on the stalled client is skipped at once
        assert await client_features.deliver_all([stuck, reader], note) == [stuck]
        assert time.monotonic() - started < 0.1 and len(reader.got) == 2 and ended == [stuck]


async def test_repeating_set_level_replays_each_recent_record_once():
    """Each logging/setLevel replayed up to 50 records: a client could fill its own stream on demand."""
    import logging

    from skilldeck.server import client_features

    log = client_features.ClientLog(server=None)
    log.recent.extend([(logging.WARNING, "skilldeck", "a warning"), (logging.ERROR, "skilldeck", "an error")])
    session = _Session(stuck=False)
    for level in (logging.ERROR, logging.ERROR, logging.WARNING, logging.WARNING, logging.ERROR):
        await log.replay(session, level)
    assert [n.params.data for n in session.got] == ["an error", "a warning"]
