"""End to end: a collection with frontmatter bombs starts, serves its good skills, and survives a
bomb written over a good skill while it runs (hot reload)."""

import pytest

from tests.fixtures.skill_factory import make_skill
from tests.server.mcp_client import connect, text_of

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]

GOOD = "name: good-skill\ndescription: Tunes slow SQL queries. Use when a database query is slow."


@pytest.fixture
def anyio_backend():
    return "asyncio"


def alias_bomb() -> str:
    """About 400 bytes that expand to 9**9 strings (the "billion laughs")."""
    lines = ['l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"l{i}: &l{i} [" + ",".join([f"*l{i - 1}"] * 9) + "]" for i in range(1, 9)]
    return "\n".join([*lines, "description: *l8"])


def hostile_collection(root):
    make_skill(root, "alias-bomb", alias_bomb(), body="# Bomb\n")
    make_skill(root, "deep-nesting", "description: " + "[" * 3000 + "]" * 3000, body="# Deep\n")
    # Under libyaml's own limit of 1,000 levels: it parses, and printing it overflows the stack.
    make_skill(root, "near-limit", "description: " + "[" * 999 + "]" * 999, body="# Near\n")
    make_skill(root, "good-skill", GOOD, body="# Good skill\n\nAdd an index.\n")
    return root


async def test_server_starts_serves_and_survives_a_bomb_written_over_a_skill(tmp_path):
    skills = hostile_collection(tmp_path / "skills")
    args = ("--skills", str(skills), "--no-user-skills", "--no-bundled-skills")
    async with connect(*args, cwd=tmp_path) as (session, notes):
        tools = {t.name: t for t in (await session.list_tools()).tools}
        assert "- good-skill: Tunes slow SQL queries." in tools["use_skill"].description
        used = await session.call_tool("use_skill", {"name": "good-skill"})
        assert not used.is_error and "Add an index." in text_of(used)
        bomb = text_of(await session.call_tool("use_skill", {"name": "alias-bomb"}))
        assert "# Bomb" in bomb and "with aliases expanded; read without it" in bomb
        deep = text_of(await session.call_tool("use_skill", {"name": "near-limit"}))
        assert "nests deeper than" in deep

        seen = len(notes.methods)
        (skills / "good-skill" / "SKILL.md").write_text(f"---\n{alias_bomb()}\n---\n# Now a bomb\n")
        await notes.wait_for("notifications/tools/list_changed", after=seen, timeout=30)
        assert "use_skill" in {t.name for t in (await session.list_tools()).tools}
        reloaded = text_of(await session.call_tool("use_skill", {"name": "good-skill"}))
        assert "# Now a bomb" in reloaded and "with aliases expanded; read without it" in reloaded
