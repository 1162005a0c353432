"""lint_skills and skill_stats over the real protocol: in-process client and `skilldeck serve`."""

import json

import anyio
import pytest
from mcp import Client

from skilldeck.server.app import build_server
from skilldeck.server.settings import Settings
from tests.fixtures.skill_factory import basic_collection, make_skill
from tests.server.mcp_client import connect, text_of

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture(autouse=True)
def lexical(monkeypatch):
    monkeypatch.setenv("SKILLDECK_EMBEDDINGS", "off")  # results must not depend on the optional extra


@pytest.fixture
def skills_dir(tmp_path):
    root = basic_collection(tmp_path / "skills")
    make_skill(root, "chatty", "name: chatty\ndescription: I help you write things.")
    return root


def server(skills_dir):
    return build_server(Settings(watch=False, toolsets=["skill_quality"], skills=[skills_dir], user_skills=False,
                                 project_dir=skills_dir.parent,
                                 bundled_skills=False))


async def test_lint_skills_reports_findings_with_file_and_line(skills_dir):
    async with Client(server(skills_dir)) as client:
        table = text_of(await client.call_tool("lint_skills", {}))
        one = json.loads(text_of(await client.call_tool("lint_skills", {"name": "chatty", "output": "json"})))
        unknown = await client.call_tool("lint_skills", {"name": "nope"})
    assert "chatty" in table and "SKILL.md:3" in table and "description-person" in table
    assert "4 skills:" in table and "pdf-forms" in table
    assert one["summary"]["skills"] == 1
    assert {f["rule"] for f in one["skills"][0]["findings"]} == {"description-person", "description-when"}
    assert unknown.is_error and "No skill named 'nope'" in text_of(unknown)


async def test_skill_stats_reports_usage_recorded_by_the_skills_tools(skills_dir):
    async with Client(server(skills_dir)) as client:
        await client.call_tool("find_skills", {"task": "fill in a pdf form"})
        await client.call_tool("use_skill", {"name": "pdf-forms"})
        await client.call_tool("read_skill_file", {"name": "pdf-forms", "path": "references/fields.md",
                                                   "end_line": 5})
        rows = json.loads(text_of(await client.call_tool("skill_stats", {"name": "pdf-forms", "output": "json"})))
        table = text_of(await client.call_tool("skill_stats", {}))
        missing = text_of(await client.call_tool("skill_stats", {"name": "sql-tuning"}))
        hostile = text_of(await client.call_tool("skill_stats", {"name": "x\u202e\n" + "y" * 150}))
    (row,) = rows
    assert (row["searches"], row["activations"], row["reads"]) == (1, 1, {"references/fields.md": 1})
    assert row["tokens_loaded"] > row["body_tokens"] > 0
    assert "pdf-forms" in table and "dead weight" in table
    assert "No use of skill 'sql-tuning'" in missing
    assert "\u202e" not in hostile and "\n" not in hostile and len(hostile) < 250  # escaped and cut, as use_skill does


def test_semantic_search_follows_the_embeddings_setting(tmp_path):
    from skilldeck.tools.skills.embeddings import embeddings_available

    catalogs = {}
    for mode in ("off", "auto"):
        server = build_server(Settings(skills=[tmp_path], user_skills=False, bundled_skills=False, watch=False,
                                       embeddings=mode))
        catalogs[mode] = server.services.catalog
    assert catalogs["off"].semantic is None
    assert (catalogs["auto"].semantic is not None) is embeddings_available()


async def test_lint_and_stats_over_stdio(skills_dir, tmp_path):
    args = ("--skills", str(skills_dir), "--no-user-skills", "--no-bundled-skills", "--toolsets", "all")
    with anyio.fail_after(120):
        async with connect(*args, cwd=tmp_path, env={"SKILLDECK_EMBEDDINGS": "off"}) as (session, _):
            names = {t.name for t in (await session.list_tools()).tools}
            assert {"lint_skills", "skill_stats"} <= names
            lint = await session.call_tool("lint_skills", {"output": "json"})
            report = json.loads(text_of(lint))
            await session.call_tool("use_skill", {"name": "sql-tuning"})
            await session.call_tool("use_skill", {"name": "pdf-forms"})
            await session.call_tool("read_skill_file", {"name": "pdf-forms", "path": "references/fields.md"})
            stats = text_of(await session.call_tool("skill_stats", {}))
            pdf = json.loads(text_of(await session.call_tool("skill_stats", {"name": "pdf-forms", "output": "json"})))
    assert report["summary"]["skills"] == 4 and report["summary"]["errors"] == 0
    assert "sql-tuning" in stats and "100%" in stats
    # The read follows the activation in the same session: its one reference document was used.
    assert pdf[0]["dead_weight"] == [] and pdf[0]["relevance_ratio"] == 1.0
    assert {f["path"]: f["read_after_activation"] for f in pdf[0]["files"]}["scripts/fill.py"] == 0
