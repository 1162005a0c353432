"""A wheel built from the repo carries the bundled skills and serves them from a fresh venv, and
`uvx --from <wheel> skilldeck serve` runs it on a machine without our venv."""

import glob
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from tests.external import clean_env, require
from tests.server.mcp_client import text_of

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = sorted(p.parent.name for p in (ROOT / "skills").glob("*/SKILL.md"))


def run(cmd: list[str], cwd: Path) -> None:
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{' '.join(cmd)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-q", "-w", str(dist)], dist)
    [built] = glob.glob(str(dist / "skilldeck-*.whl"))
    return Path(built)


def talk(params: StdioServerParameters) -> tuple[str, str]:
    async def session_of() -> tuple[str, str]:
        with anyio.fail_after(300):  # uvx installs the dependencies on first start
            async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
                await session.initialize()
                catalog = (await session.list_tools()).tools
                description = next(t.description for t in catalog if t.name == "use_skill")
                used = await session.call_tool("use_skill", {"name": BUNDLED[0]})
                return description, text_of(used)

    return anyio.run(session_of)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_wheel_installs_in_a_fresh_venv_and_serves_the_bundled_skills(tmp_path, wheel):
    assert BUNDLED, "the repository has no bundled skills"
    run([sys.executable, "-m", "venv", str(tmp_path / "venv")], tmp_path)
    run([str(tmp_path / "venv" / "bin" / "pip"), "install", "-q", str(wheel)], tmp_path)

    description, used = talk(StdioServerParameters(
        command=str(tmp_path / "venv" / "bin" / "skilldeck"), args=["serve", "--no-user-skills"], cwd=str(tmp_path),
        env={"SKILLDECK_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin"}))
    assert all(f"- {name}:" in description for name in BUNDLED)
    assert used.startswith(f'<skill name="{BUNDLED[0]}"')
    site = next((tmp_path / "venv" / "lib").glob("python*/site-packages"))
    assert sorted(p.parent.name for p in (site / "skilldeck" / "skills").glob("*/SKILL.md")) == BUNDLED


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_uvx_from_the_wheel_serves_the_bundled_skills_in_a_clean_environment(tmp_path, tmp_path_factory, wheel):
    uvx = require("uvx")
    env = clean_env(tmp_path, [str(Path(uvx).parent)], UV_PYTHON=sys._base_executable,
                    UV_CACHE_DIR=str(tmp_path_factory.getbasetemp() / "uv-cache"))
    description, used = talk(StdioServerParameters(
        command=uvx, args=["--from", str(wheel), "skilldeck", "serve", "--no-user-skills"], cwd=str(tmp_path), env=env))
    assert all(f"- {name}:" in description for name in BUNDLED)
    assert used.startswith(f'<skill name="{BUNDLED[0]}"')
