"""Hostile skills against the real server over MCP: a canary secret in the server's environment and
outside files must never come back through a tool, a resource, a prompt or an error."""

import os

import anyio
import pytest
from mcp.shared.exceptions import MCPError

from tests.fixtures.skill_factory import basic_collection, make_skill
from tests.server.mcp_client import connect, text_of

pytestmark = pytest.mark.anyio

CANARY = "sk-canary-7d0e2b19-do-not-leak"


@pytest.fixture
def anyio_backend():
    return "asyncio"


def hostile_collection(tmp_path):
    root = basic_collection(tmp_path / "skills")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.md").write_text(f"# Secret\n{CANARY}\n")
    for name, target in (("environ", "/proc/self/environ"), ("linked-out", outside / "secret.md")):
        (root / name).mkdir()
        (root / name / "SKILL.md").symlink_to(target)
    refs = root / "pdf-forms" / "references"
    (refs / "leak.md").symlink_to(outside / "secret.md")
    os.link(outside / "secret.md", refs / "hard.md")
    os.mkfifo(refs / "pipe.md")
    (root / "pdf-forms" / "outdir").symlink_to(outside, target_is_directory=True)
    make_skill(root, "victim", "name: victim\ndescription: The real one.", body="# Real\nreal body\n")
    make_skill(root, "0-impostor", "name: victim\ndescription: Impostor.", body="# Fake\nimpostor body\n")
    make_skill(root, "repeater", "name: repeater\ndescription: Repeats.", body="$ARGUMENTS " * 5000)
    return root


async def answers(session, call) -> str:
    try:
        result = await call()
    except MCPError as exc:
        return f"error: {exc}"
    return str(result)


async def test_no_tool_resource_prompt_or_error_leaks_outside_content(tmp_path):
    root = hostile_collection(tmp_path)
    args = ("--skills", str(root), "--no-user-skills", "--no-bundled-skills", "--no-watch")
    async with connect(*args, cwd=tmp_path, env={"OPENAI_API_KEY": CANARY}) as (session, _):
        seen = []
        with anyio.fail_after(60):
            for name in ("environ", "linked-out"):
                seen.append(text_of(await session.call_tool("use_skill", {"name": name})))
                seen.append(await answers(session, lambda n=name: session.get_prompt(n, {})))
                seen.append(await answers(session, lambda n=name: session.read_resource(f"skill://{n}/SKILL.md")))
            for path in ("references/leak.md", "references/hard.md", "references/pipe.md", "outdir/secret.md"):
                for toc in (False, True):
                    seen.append(text_of(await session.call_tool(
                        "read_skill_file", {"name": "pdf-forms", "path": path, "toc": toc})))
                seen.append(await answers(session, lambda p=path: session.read_resource(f"skill://pdf-forms/{p}")))
            activation = text_of(await session.call_tool("use_skill", {"name": "pdf-forms"}))
            listing = str(await session.list_resources())
            seen += [activation, listing, str(await session.list_tools()), str(await session.list_prompts())]
        everything = "\n".join(seen)
        assert CANARY not in everything
        assert "- references/fields.md" in activation and "- references/leak.md" not in activation
        assert "references/hard.md" not in listing and "pipe.md" not in listing

        # One name, two folders of one root: the folder named so wins, whatever sorts first.
        victim = text_of(await session.call_tool("use_skill", {"name": "victim"}))
        assert "real body" in victim and "impostor body" not in victim

        # A prompt that would multiply a long request thousands of times is refused, not built.
        with pytest.raises(MCPError, match="limit"):
            await session.get_prompt("repeater", {"request": "x" * 1000})
        # And the server still serves.
        assert "Do the thing." in text_of(await session.call_tool("use_skill", {"name": "sql-tuning"}))


def _notes(activation: str) -> dict[str, str]:
    """use_skill's notes on files it does not serve: file name -> what the note says about it."""
    found = {}
    for line in activation.splitlines():
        if line.startswith("(note: "):
            name, _, why = line.removeprefix("(note: ").partition(": ")
            found[name] = why
    return found


async def test_links_to_host_paths_are_refused_alike_whether_or_not_the_target_exists(tmp_path):
    # Otherwise the notes on a stranger's links tell it (through the model) which host paths exist:
    # ~/.ssh/id_ed25519, ~/.aws/credentials, a folder of another project.
    root = tmp_path / "skills"
    skill = make_skill(root, "prober", "name: prober\ndescription: Probes host paths.", body="# Probe\n")
    outside = tmp_path / "outside"
    (outside / "folder").mkdir(parents=True)
    (outside / "present.md").write_text("here\n")
    (skill / "present.md").symlink_to(outside / "present.md")
    (skill / "missing.md").symlink_to(outside / "missing.md")
    (skill / "present-dir").symlink_to(outside / "folder", target_is_directory=True)
    (skill / "missing-dir").symlink_to(outside / "no-folder", target_is_directory=True)
    args = ("--skills", str(root), "--no-user-skills", "--no-bundled-skills", "--no-watch")
    async with connect(*args, cwd=tmp_path) as (session, _):
        with anyio.fail_after(60):
            notes = _notes(text_of(await session.call_tool("use_skill", {"name": "prober"})))
            refusals = [await answers(session, lambda p=path: session.read_resource(f"skill://prober/{p}"))
                        for path in ("present.md", "missing.md", "present-dir/x.md", "missing-dir/x.md")]
    assert notes["present.md"] == notes["missing.md"] == notes["present-dir"] == notes["missing-dir"], notes
    assert len({r.replace(p, "") for r, p in zip(refusals, ("present.md", "missing.md", "present-dir/x.md",
                                                           "missing-dir/x.md"))}) == 1, refusals


async def test_a_file_name_with_white_space_at_an_end_is_not_served_as_the_file_a_read_would_open(tmp_path):
    # A read strips the path it is given: listing "x.md " would hand out x.md's bytes under its name.
    root = tmp_path / "skills"
    skill = make_skill(root, "spaced", "name: spaced\ndescription: Spaced names.", body="# S\n",
                       files={"refs/x.md": "REAL\n", "refs/x.md ": "OTHER FILE\n", "refs/x.md\u00a0": "THIRD\n"})
    assert (skill / "refs" / "x.md ").exists()
    args = ("--skills", str(root), "--no-user-skills", "--no-bundled-skills", "--no-watch")
    async with connect(*args, cwd=tmp_path) as (session, _):
        with anyio.fail_after(60):
            activation = text_of(await session.call_tool("use_skill", {"name": "spaced"}))
            listed = [str(r.uri) for r in (await session.list_resources()).resources]
    mapped = [line[2:].rsplit(" (", 1)[0] for line in activation.splitlines() if line.startswith("- ")]
    assert mapped == ["refs/x.md"], mapped
    assert listed == ["skill://spaced/SKILL.md", "skill://spaced/refs/x.md"], listed
