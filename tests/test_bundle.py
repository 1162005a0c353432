"""The desktop bundle: `skilldeck bundle` packs with the real mcpb, and an unpacked bundle's own
manifest command starts the server in a clean environment (initialize + tools/list)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import anyio
import pytest
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from skilldeck.server.cli._bundler import pack, stage_sources, vendored_manifest
from tests.external import clean_env, require

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = sorted(p.parent.name for p in (ROOT / "skills").glob("*/SKILL.md"))


def run(cmd: list[str], env: dict[str, str] | None = None) -> str:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL, env=env)
    assert done.returncode == 0, f"{' '.join(cmd)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def build_and_unpack(tmp_path: Path, *flags: str, env: dict[str, str] | None = None) -> tuple[Path, dict]:
    mcpb = require("mcpb")
    bundle = tmp_path / "skilldeck.mcpb"
    run([sys.executable, "-m", "skilldeck.server.cli", "bundle", "--mcpb", mcpb, "-o", str(bundle), *flags], env=env)
    unpacked = tmp_path / "unpacked"
    unpacked.mkdir()
    run([mcpb, "unpack", str(bundle), str(unpacked)])
    return unpacked, json.loads((unpacked / "manifest.json").read_text())


def host_command(manifest: dict, bundle_dir: Path, user_config: dict[str, str]) -> tuple[str, list[str], dict]:
    """What a host runs: mcp_config with ${__dirname} and ${user_config.KEY} substituted."""
    def fill(value: str) -> str:
        value = value.replace("${__dirname}", str(bundle_dir))
        for key, given in user_config.items():
            value = value.replace("${user_config.%s}" % key, given)
        return value

    config = manifest["server"]["mcp_config"]
    return (config["command"], [fill(a) for a in config.get("args", [])],
            {k: fill(v) for k, v in config.get("env", {}).items()})


def catalog_of(command: str, args: list[str], env: dict[str, str], cwd: Path) -> tuple[set[str], str]:
    """Initialize, list the tools; return their names and use_skill's description (the catalog)."""
    async def talk():
        params = StdioServerParameters(command=command, args=args, env=env, cwd=str(cwd))
        with anyio.fail_after(300):  # a uv bundle installs its dependencies on first start
            async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
                await session.initialize()
                return (await session.list_tools()).tools

    tools = anyio.run(talk)
    return {t.name for t in tools}, next(t.description for t in tools if t.name == "use_skill")


def own_skill(tmp_path: Path) -> Path:
    folder = tmp_path / "my-skills" / "tidy-release-notes"
    folder.mkdir(parents=True)
    (folder / "SKILL.md").write_text("---\nname: tidy-release-notes\ndescription: Turn a changelog into release "
                                     "notes. Use when preparing a release.\n---\n\nGroup changes by kind.\n")
    return folder.parent


def test_uv_bundle_carries_the_sources_and_a_manifest_that_validates(tmp_path):
    stage_sources(ROOT, tmp_path / "stage")
    names = {p.relative_to(tmp_path / "stage").parts[0] for p in (tmp_path / "stage").rglob("*")}
    assert names == {"manifest.json", "pyproject.toml", "setup.py", "README.md", "LICENSE", "server", "tools", "skills"}
    assert not list((tmp_path / "stage").rglob("__pycache__"))
    mcpb = require("mcpb")
    assert "validation passes" in run([mcpb, "validate", str(tmp_path / "stage" / "manifest.json")])


def test_pack_without_mcpb_writes_the_same_tree_as_a_zip(tmp_path, capsys):
    stage_sources(ROOT, tmp_path / "stage")
    pack(tmp_path / "stage", tmp_path / "out" / "skilldeck.mcpb", mcpb=None)
    with zipfile.ZipFile(tmp_path / "out" / "skilldeck.mcpb") as archive:
        packed = set(archive.namelist())
    assert packed == {p.relative_to(tmp_path / "stage").as_posix() for p in (tmp_path / "stage").rglob("*") if p.is_file()}
    assert "mcpb not found" in capsys.readouterr().err


def test_vendored_manifest_runs_the_package_from_lib_on_this_python_only():
    manifest = vendored_manifest(json.loads((ROOT / "manifest.json").read_text()))
    config = manifest["server"]["mcp_config"]
    assert manifest["server"]["type"] == "python"
    assert config["args"] == ["-P", "-m", "skilldeck.server.cli", "serve"]
    assert config["env"]["PYTHONPATH"] == "${__dirname}/lib"
    assert manifest["compatibility"]["runtimes"]["python"].startswith(f">={sys.version_info[0]}.{sys.version_info[1]},")


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_uv_bundle_starts_from_its_manifest_in_a_clean_environment(tmp_path, tmp_path_factory):
    uv = require("uv")
    unpacked, manifest = build_and_unpack(tmp_path)
    assert manifest["server"]["type"] == "uv" and manifest["server"]["mcp_config"]["command"] == "uv"
    command, args, env = host_command(manifest, unpacked, {"skills_dir": str(own_skill(tmp_path))})
    # The host brings uv and a Python; the cache is shared with the other uv tests of this run.
    env = clean_env(tmp_path, [str(Path(uv).parent)], UV_PYTHON=sys._base_executable,
                    UV_CACHE_DIR=str(tmp_path_factory.getbasetemp() / "uv-cache"), **env)
    (tmp_path / "cwd").mkdir()
    names, catalog = catalog_of(uv, args, env, tmp_path / "cwd")
    assert {"use_skill", "find_skills", "read_skill_file", "enable_tools"} <= names
    assert all(f"- {name}:" in catalog for name in [*BUNDLED, "tidy-release-notes"])


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_vendored_bundle_starts_with_a_bare_python_and_no_installer(tmp_path, tmp_path_factory):
    # Building vendors with uv when there is one: share this run's uv cache.
    build_env = {**os.environ, "UV_CACHE_DIR": str(tmp_path_factory.getbasetemp() / "uv-cache")}
    unpacked, manifest = build_and_unpack(tmp_path, "--vendor", env=build_env)
    assert manifest["server"]["type"] == "python" and (unpacked / manifest["server"]["entry_point"]).is_file()
    bare = tmp_path / "bare-python"  # a Python with nothing installed: no pip, no uv, no skilldeck
    run([sys._base_executable, "-m", "venv", "--without-pip", str(bare)])
    command, args, env = host_command(manifest, unpacked, {"skills_dir": ""})
    env = clean_env(tmp_path, [str(bare / "bin")], **env)
    (tmp_path / "cwd").mkdir()
    names, catalog = catalog_of(str(bare / "bin" / command), args, env, tmp_path / "cwd")
    assert {"use_skill", "find_skills", "read_skill_file", "enable_tools"} <= names
    assert all(f"- {name}:" in catalog for name in BUNDLED)
