"""The Claude Code plugin: manifests that match the package and pass `claude plugin validate`, a
server that leaves the bundled skills to Claude Code, and a local marketplace install that connects."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import anyio
import pytest
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from tests.external import clean_env, require

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
PLUGIN = json.loads((ROOT / ".claude-plugin" / "plugin.json").read_text())
MARKETPLACE = json.loads((ROOT / ".claude-plugin" / "marketplace.json").read_text())
SERVER = json.loads((ROOT / ".mcp.json").read_text())["mcpServers"]["skilldeck"]
BUNDLED = sorted(p.parent.name for p in (ROOT / "skills").glob("*/SKILL.md"))
QUIET = {"DISABLE_TELEMETRY": "1", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1"}


def run(cmd: list[str], **kwargs) -> str:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL, **kwargs)
    assert done.returncode == 0, f"{' '.join(cmd)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def catalog_of(command: str, args: list[str], env: dict[str, str], cwd: Path) -> str:
    async def talk() -> str:
        params = StdioServerParameters(command=command, args=args, env=env, cwd=str(cwd))
        with anyio.fail_after(300):  # uvx installs the dependencies on first start
            async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
                await session.initialize()
                tools = (await session.list_tools()).tools
                return next(t.description for t in tools if t.name == "use_skill")

    return anyio.run(talk)


def test_plugin_manifest_matches_the_package():
    assert (PLUGIN["name"], PLUGIN["version"], PLUGIN["license"]) == (PROJECT["name"], PROJECT["version"],
                                                                       PROJECT["license"])
    assert PLUGIN["description"] and PLUGIN["author"]["name"] and PLUGIN["homepage"].startswith("https://")
    assert (ROOT / "LICENSE").read_text().lstrip().startswith("Apache License")


def test_marketplace_offers_this_folder_as_the_plugin():
    [entry] = MARKETPLACE["plugins"]
    assert (entry["name"], entry["source"], entry["version"]) == (PLUGIN["name"], "./", PLUGIN["version"])


def test_plugin_server_runs_from_the_plugin_root_without_the_bundled_skills():
    assert SERVER["command"] == "uvx"
    assert SERVER["args"] == ["--from", "${CLAUDE_PLUGIN_ROOT}", "skilldeck", "serve", "--no-bundled-skills",
                            "--no-claude-skills"]


@pytest.mark.parametrize("target", [".", ".claude-plugin/plugin.json"])
def test_claude_plugin_validate_passes_strictly(target):
    out = run([require("claude"), "plugin", "validate", "--strict", target], cwd=ROOT)
    assert "Validation passed" in out


def test_plugin_server_lists_no_skill_claude_code_loads_itself_so_each_shows_once(tmp_path):
    """Claude Code loads the plugin's skills/, ~/.claude/skills/ and the project's .claude/skills/
    natively; the server's catalog must not repeat them, and still serves the project's skills/."""
    from tests.fixtures.skill_factory import make_skill

    cwd = tmp_path / "cwd"
    make_skill(tmp_path / "home" / ".claude" / "skills", "user-native", "name: user-native\ndescription: Native.")
    make_skill(cwd / ".claude" / "skills", "project-native", "name: project-native\ndescription: Native too.")
    make_skill(cwd / "skills", "project-served", "name: project-served\ndescription: Only the server has it.")
    args = SERVER["args"][SERVER["args"].index("skilldeck") + 1:]
    catalog = catalog_of(str(Path(sys.executable).parent / "skilldeck"), args,
                         clean_env(tmp_path, []), cwd)
    assert not [name for name in [*BUNDLED, "user-native", "project-native"] if f"- {name}:" in catalog]
    assert "- project-served:" in catalog


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_plugin_installs_from_a_local_marketplace_and_its_server_connects(tmp_path, tmp_path_factory):
    claude, uvx = require("claude"), require("uvx")
    checkout = tmp_path / "skilldeck"  # a clean clone: the plugin install copies the folder as it is
    run(["git", "clone", "--quiet", str(ROOT), str(checkout)])
    env = clean_env(tmp_path, [str(Path(uvx).parent)], UV_PYTHON=sys._base_executable,
                    UV_CACHE_DIR=str(tmp_path_factory.getbasetemp() / "uv-cache"), **QUIET)
    run([claude, "plugin", "marketplace", "add", str(checkout)], env=env, cwd=tmp_path)
    run([claude, "plugin", "install", f"skilldeck@{MARKETPLACE['name']}"], env=env, cwd=tmp_path)
    skills = run([claude, "plugin", "details", f"skilldeck@{MARKETPLACE['name']}"], env=env, cwd=tmp_path)
    assert all(name in skills for name in BUNDLED)
    # The health check starts the plugin's own .mcp.json command: uvx from the installed plugin's root.
    health = run([claude, "mcp", "list"], env=env, cwd=tmp_path)
    assert "plugin:skilldeck:skilldeck: uvx --from" in health and "Connected" in health, health
