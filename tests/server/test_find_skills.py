"""find_skills over MCP: structured results next to the text, an honest activation cost, the
ranking named, and a plain "nothing fits" that still lists the closest skills."""

import json
from pathlib import Path

import anyio
import pytest

from skilldeck.tools.tokens import count_tokens
from tests.fixtures.skill_factory import basic_collection
from tests.server.mcp_client import connect, text_of

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend():
    return "asyncio"


def serve_args(skills_dir):
    return ("--skills", str(skills_dir), "--no-user-skills", "--no-bundled-skills")


async def test_find_skills_returns_structured_results_next_to_the_text(tmp_path):
    skills_dir = basic_collection(tmp_path / "skills")
    async with connect(*serve_args(skills_dir), cwd=tmp_path) as (session, _):
        with anyio.fail_after(30):
            result = await session.call_tool("find_skills", {"task": "my sql query is slow", "limit": 2})
        data = result.structured_content
        assert data["ranking"].startswith(("lexical", "hybrid")) and data["fits"] is True
        top = data["results"][0]
        assert top["name"] == "sql-tuning" and top["fits"] and 0 < top["confidence"] <= 1
        assert {"name", "score", "why", "activation_tokens", "close"} <= set(top)
        assert f"ranking: {data['ranking']}" in text_of(result)


async def test_find_skills_takes_the_users_own_words_next_to_the_task(tmp_path):
    skills_dir = basic_collection(tmp_path / "skills")
    async with connect(*serve_args(skills_dir), cwd=tmp_path) as (session, _):
        with anyio.fail_after(30):
            result = await session.call_tool("find_skills", {"task": "speed up a slow query",
                                                             "request": "the report page hangs on our SQL database"})
            too_long = await session.call_tool("find_skills", {"task": "x", "request": "y" * 4001})
        assert result.structured_content["results"][0]["name"] == "sql-tuning"
        assert "sql (" in result.structured_content["results"][0]["why"]  # a word only the request holds
        assert too_long.is_error and "request" in text_of(too_long)


async def test_activation_cost_is_what_use_skill_returns(tmp_path):
    skills_dir = basic_collection(tmp_path / "skills")
    async with connect(*serve_args(skills_dir), cwd=tmp_path) as (session, _):
        with anyio.fail_after(30):
            found = await session.call_tool("find_skills", {"task": "fill in a pdf form", "limit": 1})
            used = await session.call_tool("use_skill", {"name": found.structured_content["results"][0]["name"]})
        assert found.structured_content["results"][0]["activation_tokens"] == count_tokens(text_of(used))


async def test_off_topic_task_says_nothing_fits_and_lists_the_closest(tmp_path):
    skills_dir = basic_collection(tmp_path / "skills")
    async with connect(*serve_args(skills_dir), cwd=tmp_path) as (session, _):
        with anyio.fail_after(30):
            result = await session.call_tool("find_skills", {"task": "a slow cooker lamb stew recipe for tonight"})
        text = text_of(result)
        if result.structured_content["results"]:
            assert result.structured_content["fits"] is False and text.startswith("No skill fits")
        else:
            assert text.startswith("No skill matches")


async def test_start_up_context_stays_within_its_budget_with_the_real_skills(tmp_path):
    """What a host loads before the first call (instructions and tools/list) stays under 1,500
    tokens with the bundled skills and three real ones: find_skills' structured answer carries no
    outputSchema, which would add about 350 tokens to every session."""
    real = Path(__file__).resolve().parents[1] / "fixtures" / "real_skills"
    async with connect("--skills", str(real), "--no-user-skills", cwd=tmp_path) as (session, _):
        with anyio.fail_after(30):
            init = await session.initialize()
            tools = await session.list_tools()
    spent = count_tokens(init.instructions or "") + count_tokens(
        json.dumps(tools.model_dump(by_alias=True, exclude_none=True, mode="json")))
    assert len(tools.tools) == 4 and spent <= 1500, spent
