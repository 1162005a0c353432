"""manifest.json is a valid minimal desktop-extension (MCPB 0.3) manifest that matches the package."""

import json
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_manifest_has_the_required_fields_and_matches_the_package():
    manifest = json.loads((ROOT / "manifest.json").read_text())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for key in ("manifest_version", "name", "version", "description", "author", "server"):
        assert manifest[key], key
    assert manifest["version"] == project["version"] and manifest["name"] == project["name"]
    server = manifest["server"]
    assert server["type"] == "python" and (ROOT / server["entry_point"]).is_file()
    assert server["mcp_config"]["args"][-1] == "serve"


def test_manifest_tools_exist_on_the_server():
    import asyncio

    from skilldeck.server.app import build_server
    from skilldeck.server.settings import Settings

    names = {t.name for t in asyncio.run(build_server(Settings(watch=False)).list_tools())}
    listed = {t["name"] for t in json.loads((ROOT / "manifest.json").read_text())["tools"]}
    assert listed <= names
