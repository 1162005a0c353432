"""The MCP Skills extension (SEP-2640) over the real protocol: skilldeck serve in a subprocess, the SDK's
client sending skills/list, skills/get and resources/directory/read; then fast-agent, an independent
SEP-2640 host, installing skills from it (skipped where Python 3.12 and fast-agent-mcp are missing)."""

import base64
import hashlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import mcp.types as types
import pytest
from mcp.shared.exceptions import MCPError
from pydantic import TypeAdapter

from tests.fixtures.skill_factory import make_skill
from tests.server.mcp_client import connect

pytestmark = pytest.mark.anyio
EXTENSION = "io.modelcontextprotocol/skills"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def anyio_backend():
    return "asyncio"


class _Raw(types.Request[dict[str, Any] | None, str]):
    """A request for a method the SDK has no type for (the skills/* methods)."""


async def call(session, method: str, **params: Any) -> dict[str, Any]:
    return await session.send_request(_Raw(method=method, params=params), TypeAdapter(dict[str, Any]))


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def collection(root: Path) -> Path:
    """Skills that exercise the mapping: files of every kind, a grouped skill, broken YAML, a name
    off the naming rules, and files a read would refuse (which no manifest may list)."""
    make_skill(root, "pdf-forms", "name: pdf-forms\ndescription: Fill PDF forms. Use when a PDF form has fields.\n"
               "license: MIT\nversion: 1.0\ncreated: 2024-05-01\nmetadata:\n  owner: docs",
               files={"references/fields.md": "# Fields\r\nCRLF kept\r\n", "assets/logo.png": b"\x89PNG\r\n\x00\xff" * 50,
                      "templates/regional/eu.md": "\ufeffBOM and ünïcode\n", "scripts/latin1.txt": b"caf\xe9\n",
                      "empty.txt": "", ".env": "SECRET=1"})
    (root / "outside.txt").write_text("not part of any skill")
    (root / "pdf-forms" / "leak.md").symlink_to(root / "outside.txt")
    make_skill(root / "team", "refunds", "name: refunds\ndescription: Process refunds per policy.",
               files={"examples/email.md": "Dear customer\n"})
    make_skill(root, "broken-yaml", "name: broken-yaml\ndescription: Has broken YAML. Use for tests.\ntags: [a, b")
    make_skill(root, "Odd Name", "name: Odd Name\ndescription: A name off the rules, served as odd-name.")
    return root


def serve_args(root: Path, *extra: str) -> tuple[str, ...]:
    return ("--skills", str(root), "--no-user-skills", "--no-bundled-skills", "--no-watch", *extra)


async def list_all(session) -> list[dict[str, Any]]:
    entries, cursor, pages = [], None, 0
    while True:
        page = await call(session, "skills/list", **({"cursor": cursor} if cursor else {}))
        entries += page["skills"]
        pages += 1
        cursor = page.get("nextCursor")
        if cursor is None:
            return entries
        assert pages < 20


async def read_bytes(session, uri: str) -> bytes:
    content = (await session.read_resource(uri)).contents[0]
    assert str(content.uri) == uri
    return base64.b64decode(content.blob) if isinstance(content, types.BlobResourceContents) else content.text.encode()


async def test_skills_list_pages_complete_manifests_whose_digests_match_every_read(tmp_path):
    root = collection(tmp_path / "skills")
    async with connect(*serve_args(root, "--page-size", "1"), cwd=tmp_path) as (session, _):
        declared = session.initialize_result.capabilities
        assert declared.resources is not None
        entries = {e["uri"]: e for e in await list_all(session)}
        assert sorted(entries) == ["skill://broken-yaml/SKILL.md", "skill://pdf-forms/SKILL.md",
                                   "skill://team/refunds/SKILL.md"]
        pdf = entries["skill://pdf-forms/SKILL.md"]
        # YAML's reading, not skilldeck's: 1.0 is a number, a date is ISO text, nested maps stay maps.
        assert pdf["frontmatter"] == {"name": "pdf-forms", "description": "Fill PDF forms. Use when a PDF form has "
                                      "fields.", "license": "MIT", "version": 1.0, "created": "2024-05-01",
                                      "metadata": {"owner": "docs"}}
        files = {r["uri"].removeprefix("skill://pdf-forms/"): r for r in pdf["resources"]}
        assert sorted(files) == ["SKILL.md", "assets/logo.png", "empty.txt", "references/fields.md",
                                 "scripts/latin1.txt", "templates/regional/eu.md"]  # no .env, no link leading out
        for rel, resource in files.items():
            on_disk = (root / "pdf-forms" / rel).read_bytes()
            served = await read_bytes(session, resource["uri"])
            assert served == on_disk and resource["digest"] == sha(on_disk) and resource["size"] == len(on_disk), rel
        refunds = entries["skill://team/refunds/SKILL.md"]
        assert [r["uri"] for r in refunds["resources"]] == ["skill://team/refunds/SKILL.md",
                                                            "skill://team/refunds/examples/email.md"]
        broken = entries["skill://broken-yaml/SKILL.md"]
        assert broken["frontmatter"]["name"] == "broken-yaml" and broken["_meta"]["skilldeck/frontmatter"].startswith(
            "not valid YAML")


async def test_capabilities_declare_the_extension_with_directory_read(tmp_path):
    root = collection(tmp_path / "skills")
    async with connect(*serve_args(root), cwd=tmp_path) as (session, _):
        # The SDK's client drops `extensions` before 2026-07-28; the raw initialize result carries it.
        raw = await _raw_initialize(serve_args(root), tmp_path)
        assert raw["capabilities"]["extensions"] == {EXTENSION: {"directoryRead": True}}
        assert raw["capabilities"]["resources"]["subscribe"] is True
        assert (await session.read_resource("skill://team/refunds/SKILL.md")).contents
        assert (await session.read_resource("skill://refunds/SKILL.md")).contents  # the pre-SEP form still reads


async def _raw_initialize(args, cwd) -> dict[str, Any]:
    import json

    from tests.server.mcp_client import server_command

    command, base = server_command()
    request = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}
    done = subprocess.run([command, *base, *args], input=json.dumps(request) + "\n", capture_output=True, text=True,
                          cwd=cwd, timeout=60, env={**os.environ})
    return json.loads(done.stdout.splitlines()[0])["result"]


async def test_skills_get_answers_for_any_served_skill_and_names_the_form_of_an_unknown_uri(tmp_path):
    root = collection(tmp_path / "skills")
    async with connect(*serve_args(root), cwd=tmp_path) as (session, _):
        got = await call(session, "skills/get", uri="skill://team/refunds/SKILL.md")
        assert got["skill"]["frontmatter"]["name"] == "refunds"
        # Not listed (its frontmatter names it otherwise than it is served), yet served by its URI.
        odd = (await call(session, "skills/get", uri="skill://odd-name/SKILL.md"))["skill"]
        assert odd["frontmatter"]["name"] == "Odd Name" and odd["_meta"]["skilldeck/not-listed-because"]
        for uri, fragment in (("skill://nope/SKILL.md", "No skill is served at skill://nope/SKILL.md"),
                              ("skill://pdf-forms/references/fields.md", "Did you mean skill://pdf-forms/SKILL.md"),
                              ("skill://pdf-forms/../team/refunds/SKILL.md", "No skill is served")):
            with pytest.raises(MCPError) as raised:
                await call(session, "skills/get", uri=uri)
            assert raised.value.error.code == types.INVALID_PARAMS and fragment in raised.value.error.message


async def test_a_skill_of_huge_sparse_files_is_listed_without_hashing_them(tmp_path):
    """Forty sparse files of 255 MB (4 KB of disk each) kept skills/list hashing for minutes."""
    import time

    root = collection(tmp_path / "skills")
    big = make_skill(root, "huge", "name: huge\ndescription: Huge files. Use when testing.")
    for i in range(8):
        with open(big / f"blob{i}.bin", "wb") as f:
            f.truncate(200 * 1024 * 1024)
    async with connect(*serve_args(root), cwd=tmp_path) as (session, _):
        started = time.monotonic()
        entries = {e["uri"]: e for e in await list_all(session)}
        assert time.monotonic() - started < 10
        huge = (await call(session, "skills/get", uri="skill://huge/SKILL.md"))["skill"]
        assert huge["resources"] == "dynamic" and "skill://huge/SKILL.md" not in entries
        assert "more than the" in huge["_meta"]["skilldeck/not-listed-because"][0]
        assert entries["skill://pdf-forms/SKILL.md"]["resources"] != "dynamic"


async def test_directory_read_lists_direct_children_and_refuses_what_is_not_a_folder(tmp_path):
    root = collection(tmp_path / "skills")
    async with connect(*serve_args(root), cwd=tmp_path) as (session, _):
        top = (await call(session, "resources/directory/read", uri="skill://pdf-forms"))["resources"]
        kinds = {r["name"]: r["mimeType"] for r in top}
        assert kinds == {"pdf-forms": "text/markdown", "assets": "inode/directory", "empty.txt": "text/plain",
                         "references": "inode/directory", "scripts": "inode/directory",
                         "templates": "inode/directory"}
        skill_md = next(r for r in top if r["uri"] == "skill://pdf-forms/SKILL.md")
        assert skill_md["description"].startswith("Fill PDF forms")
        assert skill_md["_meta"]["io.modelcontextprotocol.skills/license"] == "MIT"
        nested = (await call(session, "resources/directory/read", uri="skill://pdf-forms/templates"))["resources"]
        assert nested == [{"uri": "skill://pdf-forms/templates/regional", "name": "regional",
                           "mimeType": "inode/directory"}]
        group = (await call(session, "resources/directory/read", uri="skill://team"))["resources"]
        assert [r["uri"] for r in group] == ["skill://team/refunds"]
        for uri in ("skill://pdf-forms/SKILL.md", "skill://pdf-forms/", "skill://pdf-forms/../team",
                    "skill://pdf-forms/.git", "skill://nope"):
            with pytest.raises(MCPError) as raised:
                await call(session, "resources/directory/read", uri=uri)
            assert raised.value.error.code == types.INVALID_PARAMS and "not a directory resource" in \
                raised.value.error.message, uri


async def test_skill_md_resources_carry_name_description_and_prefixed_frontmatter(tmp_path):
    root = collection(tmp_path / "skills")
    async with connect(*serve_args(root), cwd=tmp_path) as (session, _):
        listed = {str(r.uri): r for r in (await session.list_resources()).resources}
        skill_md = listed["skill://pdf-forms/SKILL.md"]
        assert (skill_md.name, skill_md.mime_type) == ("pdf-forms", "text/markdown")
        assert skill_md.meta == {"io.modelcontextprotocol.skills/license": "MIT",
                                 "io.modelcontextprotocol.skills/metadata": {"owner": "docs"}}
        assert "skill://team/refunds/examples/email.md" in listed


def _fast_agent_python() -> str | None:
    found = os.environ.get("SKILLDECK_FAST_AGENT_PYTHON") or "/tmp/skilldeck-fast-agent/bin/python"
    return found if Path(found).exists() else None


def test_fast_agent_installs_skills_byte_identical_over_skills_get_and_resources_read(tmp_path):
    """fast-agent (an independent SEP-2640 host): `/skills registry` lists over skills/list, `/skills add`
    fetches over skills/get + resources/read and checks every size, digest and the frontmatter."""
    python = _fast_agent_python()
    if python is None:
        pytest.skip("fast-agent-mcp is not installed: run .ci/fast_agent_check once (needs Python >= 3.12 and "
                    "PyPI), or set SKILLDECK_FAST_AGENT_PYTHON to a Python that has it")
    root = tmp_path / "skills"
    make_skill(root, "pdf-forms", "name: pdf-forms\ndescription: Fill PDF forms. Use when a PDF form has fields.\n"
               "version: 1.0\ncreated: 2024-05-01",
               files={"references/fields.md": "# Fields\r\nCRLF kept\r\n", "assets/logo.png": bytes(range(256)) * 8,
                      "templates/regional/eu.md": "\ufeffBOM and ünïcode\n", "scripts/latin1.txt": b"caf\xe9\n"})
    make_skill(root / "team", "refunds", "name: refunds\ndescription: Process refunds per policy.",
               files={"examples/email.md": "Dear customer\n"})
    server = [str(Path(sys.executable).parent / "skilldeck"), "serve", "--skills", str(root), "--no-user-skills",
              "--no-bundled-skills", "--no-watch"]
    work = tmp_path / "fast-agent"
    done = subprocess.run([python, str(REPO / ".ci" / "fast_agent_driver.py"), str(work), "pdf-forms", "refunds",
                           "--", *server], capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Skills discovered: 2" in done.stdout
    for name, source in (("pdf-forms", root / "pdf-forms"), ("refunds", root / "team" / "refunds")):
        installed = work / "home" / "skills" / name
        theirs = {p.relative_to(installed).as_posix(): p.read_bytes() for p in installed.rglob("*") if p.is_file()}
        ours = {p.relative_to(source).as_posix(): p.read_bytes() for p in source.rglob("*") if p.is_file()}
        theirs.pop(".skill-source.json")  # fast-agent's provenance record
        assert theirs == ours, name
