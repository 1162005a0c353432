"""End to end: `skilldeck serve` in a subprocess, driven by the MCP client SDK over stdio."""

import json

import anyio
import mcp.types as types
import pytest

from tests.fixtures.skill_factory import basic_collection, make_skill
from tests.server.mcp_client import connect, text_of

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture
def skills_dir(tmp_path):
    return basic_collection(tmp_path / "skills")


def serve_args(skills_dir, *extra):
    return ("--skills", str(skills_dir), "--no-user-skills", "--no-bundled-skills", *extra)


async def test_tools_list_carries_the_catalog_and_always_load_meta(skills_dir, tmp_path):
    async with connect(*serve_args(skills_dir), cwd=tmp_path) as (session, _):
        tools = {t.name: t for t in (await session.list_tools()).tools}
        assert {"use_skill", "find_skills", "read_skill_file"} <= set(tools)
        use = tools["use_skill"]
        assert use.meta == {"anthropic/alwaysLoad": True}
        assert "- pdf-forms: Fill in and flatten PDF forms." in use.description
        assert len(use.description.encode()) <= 2048


async def test_find_use_read_flow(skills_dir, tmp_path, skilldeck_home):
    async with connect(*serve_args(skills_dir), cwd=tmp_path) as (session, _):
        found = text_of(await session.call_tool("find_skills", {"task": "my sql query is slow", "limit": 2}))
        assert found.splitlines()[1].startswith("1. sql-tuning") and "tokens" in found
        used = await session.call_tool("use_skill", {"name": "pdf-forms"})
        body = text_of(used)
        assert not used.is_error and "# PDF forms" in body and "name: pdf-forms" not in body
        assert "- references/fields.md (reference, 401 lines, 3.4 KB, ~" in body and "line 7" not in body
        read = text_of(await session.call_tool("read_skill_file", {"name": "pdf-forms", "path": "references/fields.md",
                                                                   "start_line": 3, "end_line": 4}))
        assert read.startswith("references/fields.md lines 3-4 of 401") and read.endswith("line 1\nline 2\n")
    events = [json.loads(line) for line in (skilldeck_home / "usage.jsonl").read_text().splitlines()]
    assert [e.get("event", e.get("type")) for e in events] == ["search", "activation", "read"]


async def test_find_skills_reads_requests_and_skills_in_any_script(tmp_path):
    root = tmp_path / "skills"
    make_skill(root, "rechnung", "name: rechnung\ndescription: Prüft Eingangsrechnungen für die Buchhaltung.\n")
    make_skill(root, "data-report", "name: data-report\ndescription: 生成数据分析报告. Use for Chinese data reports.\n")
    async with connect(*serve_args(root), cwd=tmp_path) as (session, _):
        german = await session.call_tool("find_skills", {"task": "eingangsrechnungen prufen", "limit": 1})
        chinese = await session.call_tool("find_skills", {"task": "写一份数据分析报告", "limit": 1})
    assert [r["name"] for r in german.structured_content["results"]] == ["rechnung"]  # typed without the umlaut
    assert [r["name"] for r in chinese.structured_content["results"]] == ["data-report"]


async def test_traversal_attempt_is_refused_with_a_clear_error(skills_dir, tmp_path):
    async with connect(*serve_args(skills_dir), cwd=tmp_path) as (session, _):
        result = await session.call_tool("read_skill_file", {"name": "pdf-forms", "path": "../sql-tuning/SKILL.md"})
        assert result.is_error and "uses '..'" in text_of(result)
        unknown = await session.call_tool("use_skill", {"name": "pdf"})
        assert unknown.is_error and "No skill named 'pdf'" in text_of(unknown)
        # the server keeps serving after errors
        assert not (await session.call_tool("use_skill", {"name": "sql-tuning"})).is_error


async def test_resources_templates_and_pagination(skills_dir, tmp_path):
    async with connect(*serve_args(skills_dir, "--page-size", "2"), cwd=tmp_path) as (session, _):
        uris, cursor, pages = [], None, 0
        while True:
            page = await session.list_resources(params=types.PaginatedRequestParams(cursor=cursor))
            uris += [str(r.uri) for r in page.resources]
            pages += 1
            cursor = page.next_cursor
            if not cursor:
                break
        assert pages == 3 and len(uris) == len(set(uris)) == 6
        assert "skill://pdf-forms/references/fields.md" in uris
        templates = await session.list_resource_templates()
        assert templates.resource_templates[0].uri_template == "skill://{name}/{+path}"
        text = await session.read_resource("skill://pdf-forms/SKILL.md")
        assert text.contents[0].text.startswith("---\nname: pdf-forms")
        blob = await session.read_resource("skill://pdf-forms/assets/logo.png")
        assert blob.contents[0].mime_type == "image/png" and blob.contents[0].blob
        with pytest.raises(Exception, match="uses '..'"):
            await session.read_resource("skill://pdf-forms/../sql-tuning/SKILL.md")


async def test_prompts_honour_invocation_flags(skills_dir, tmp_path):
    make_skill(skills_dir, "manual-only", "name: manual-only\ndescription: Deploy. Use when asked to deploy.\n"
               "disable-model-invocation: true", body="Deploy $ARGUMENTS now.\n")
    make_skill(skills_dir, "hidden", "name: hidden\ndescription: Background knowledge.\nuser-invocable: false")
    async with connect(*serve_args(skills_dir), cwd=tmp_path) as (session, _):
        names = [p.name for p in (await session.list_prompts()).prompts]
        assert "manual-only" in names and "hidden" not in names
        prompt = await session.get_prompt("manual-only", {"request": "staging"})
        assert "Deploy staging now." in prompt.messages[0].content.text
        tools = {t.name: t for t in (await session.list_tools()).tools}
        assert "manual-only" not in tools["use_skill"].description and "hidden" in tools["use_skill"].description


async def test_editing_a_skill_sends_list_changed_and_serves_fresh_content(skills_dir, tmp_path):
    async with connect(*serve_args(skills_dir), cwd=tmp_path) as (session, notes):
        await session.list_tools()
        seen = len(notes.methods)
        make_skill(skills_dir, "release-notes", "name: release-notes\ndescription: Draft changelogs from commits.")
        await notes.wait_for("notifications/tools/list_changed", after=seen)
        await notes.wait_for("notifications/resources/list_changed", after=seen)
        await notes.wait_for("notifications/prompts/list_changed", after=seen)
        tools = {t.name: t for t in (await session.list_tools()).tools}
        assert "Draft changelogs from commits." in tools["use_skill"].description
        seen = len(notes.methods)
        make_skill(skills_dir, "brand-new", "name: brand-new\ndescription: Appeared later.")
        await notes.wait_for("notifications/tools/list_changed", after=seen)
        assert not (await session.call_tool("use_skill", {"name": "brand-new"})).is_error


async def test_client_roots_add_the_projects_skills(tmp_path):
    project = tmp_path / "project"
    make_skill(project / ".claude" / "skills", "project-skill", "name: project-skill\ndescription: From the project.")
    async with connect("--no-user-skills", "--no-bundled-skills", cwd=tmp_path, roots=[project]) as (session, notes):
        with anyio.fail_after(10):
            while "project-skill" not in (await session.list_tools()).tools[0].description + "".join(
                    t.description or "" for t in (await session.list_tools()).tools):
                await anyio.sleep(0.05)
        assert not (await session.call_tool("use_skill", {"name": "project-skill"})).is_error


async def test_bundled_skills_are_served_by_default(tmp_path):
    async with connect("--no-user-skills", cwd=tmp_path) as (session, _):
        tools = {t.name: t for t in (await session.list_tools()).tools}
        assert "Skills available (0)" not in tools["use_skill"].description


async def test_tool_groups_load_on_demand_and_announce_themselves(skills_dir, tmp_path):
    async with connect(*serve_args(skills_dir), cwd=tmp_path) as (session, notes):
        tools = {t.name: t for t in (await session.list_tools()).tools}
        assert "verify_answer" not in tools and "verify:" in tools["enable_tools"].description
        seen = len(notes.methods)
        loaded = await session.call_tool("enable_tools", {"toolset": "verify"})
        assert "verify_answer" in text_of(loaded)
        await notes.wait_for("notifications/tools/list_changed", after=seen)
        tools = {t.name: t for t in (await session.list_tools()).tools}
        assert "verify_answer" in tools and "verify:" not in tools["enable_tools"].description
        bad = await session.call_tool("enable_tools", {"toolset": "nope"})
        assert bad.is_error and "No tool group 'nope'" in text_of(bad)


async def test_toolsets_all_lists_every_group_at_start(skills_dir, tmp_path):
    async with connect(*serve_args(skills_dir, "--toolsets", "all"), cwd=tmp_path) as (session, _):
        names = {t.name for t in (await session.list_tools()).tools}
        assert {"use_skill", "verify_answer"} <= names and "enable_tools" not in names
