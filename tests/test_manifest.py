"""manifest.json is a desktop-extension (MCPB 0.4, `uv` server) manifest that matches the package."""

import json
import subprocess
import tomllib
from pathlib import Path

from tests.external import require

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = json.loads((ROOT / "manifest.json").read_text())


def test_manifest_has_the_required_fields_and_matches_the_package():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for key in ("manifest_version", "name", "version", "description", "author", "server"):
        assert MANIFEST[key], key
    assert MANIFEST["version"] == project["version"] and MANIFEST["name"] == project["name"]
    assert MANIFEST["license"] == project["license"]
    assert MANIFEST["compatibility"]["runtimes"]["python"] == project["requires-python"]


def test_manifest_starts_the_console_script_through_uv_from_the_bundle():
    server = MANIFEST["server"]
    assert MANIFEST["manifest_version"] == "0.4" and server["type"] == "uv"
    assert (ROOT / server["entry_point"]).is_file()
    config = server["mcp_config"]
    assert config["command"] == "uv"
    # --project keeps the host's working folder: --directory would make the bundle the "project".
    assert config["args"][config["args"].index("--project") + 1] == "${__dirname}"
    assert config["args"][-2:] == ["skilldeck", "serve"]


def test_manifest_validates_with_mcpb():
    done = subprocess.run([require("mcpb"), "validate", str(ROOT / "manifest.json")], capture_output=True, text=True)
    assert done.returncode == 0 and "validation passes" in done.stdout, done.stdout + done.stderr


def test_manifest_tools_exist_on_the_server():
    import asyncio

    from skilldeck.server.app import build_server
    from skilldeck.server.settings import Settings

    names = {t.name for t in asyncio.run(build_server(Settings(watch=False)).list_tools())}
    listed = {t["name"] for t in MANIFEST["tools"]}
    assert listed <= names
