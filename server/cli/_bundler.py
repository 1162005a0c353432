"""Stage and pack the desktop bundle for `skilldeck bundle` (the two kinds are described there)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from skilldeck.tools.errors import SkilldeckError

# What a uv bundle needs to build and run the package (pyproject names README.md as its readme).
SOURCE_FILES = ("manifest.json", "pyproject.toml", "setup.py", "README.md", "LICENSE")
SOURCE_DIRS = ("server", "tools", "skills")
SKIPPED = shutil.ignore_patterns("__pycache__", "*.pyc", ".DS_Store")


def build(source: Path, output: Path | None, *, vendor: bool, mcpb: str | None) -> Path:
    """Stage a bundle of checkout `source` in a temporary folder and pack it; returns the .mcpb written."""
    if not (source / "manifest.json").is_file() or not (source / "pyproject.toml").is_file():
        raise SkilldeckError(f"{str(source)!r} is not a skilldeck checkout (no manifest.json and pyproject.toml); "
                             "pass --source CHECKOUT")
    manifest = json.loads((source / "manifest.json").read_text(encoding="utf-8"))
    output = (output or source / "dist" / default_name(manifest, vendor)).resolve()
    with tempfile.TemporaryDirectory(prefix="skilldeck-bundle-") as tmp:
        stage = Path(tmp) / "skilldeck"
        (stage_vendored if vendor else stage_sources)(source, stage)
        pack(stage, output, mcpb or shutil.which("mcpb"))
    return output


def stage_sources(source: Path, stage: Path) -> None:
    """Copy what a uv bundle needs: the manifest, the build files and the package folders."""
    stage.mkdir(parents=True)
    for name in SOURCE_FILES:
        shutil.copy2(source / name, stage / name)
    for name in SOURCE_DIRS:
        shutil.copytree(source / name, stage / name, ignore=SKIPPED)


def stage_vendored(source: Path, stage: Path) -> None:
    """Install skilldeck and its dependencies into lib/ and write a `python` manifest for this platform."""
    stage.mkdir(parents=True)
    for name in ("README.md", "LICENSE"):
        shutil.copy2(source / name, stage / name)
    # Build from a copy: pip writes build/ and *.egg-info next to setup.py.
    sources = stage.parent / "src"
    stage_sources(source, sources)
    done = subprocess.run([*_installer(), "--target", str(stage / "lib"), str(sources)], capture_output=True, text=True)
    if done.returncode:
        raise SkilldeckError(f"could not install skilldeck into the bundle:\n{done.stderr[-3000:]}")
    # Console scripts name this machine's interpreter in their first line: useless elsewhere.
    shutil.rmtree(stage / "lib" / "bin", ignore_errors=True)
    manifest = json.loads((source / "manifest.json").read_text(encoding="utf-8"))
    (stage / "manifest.json").write_text(json.dumps(vendored_manifest(manifest), indent=2) + "\n", encoding="utf-8")


def vendored_manifest(manifest: dict) -> dict:
    """The uv manifest turned into a `python` one that runs from lib/ on this platform and Python."""
    major, minor = sys.version_info[:2]
    env = dict(manifest["server"]["mcp_config"].get("env", {}), PYTHONPATH="${__dirname}/lib")
    # -P: the host's working folder must not shadow the bundled packages.
    server = {"type": "python", "entry_point": "lib/skilldeck/server/cli/__main__.py",
              "mcp_config": {"command": "python3", "args": ["-P", "-m", "skilldeck.server.cli", "serve"],
                             "env": env, "platform_overrides": {"win32": {"command": "python"}}}}
    compatibility = {"platforms": [_platform()], "runtimes": {"python": f">={major}.{minor},<{major}.{minor + 1}"}}
    return {**manifest, "manifest_version": "0.3", "server": server, "compatibility": compatibility}


def pack(stage: Path, output: Path, mcpb: str | None) -> None:
    """Validate and pack with mcpb when there is one, else write the same zip without validating."""
    output.parent.mkdir(parents=True, exist_ok=True)
    if mcpb:
        done = subprocess.run([mcpb, "pack", str(stage), str(output)], capture_output=True, text=True,
                              stdin=subprocess.DEVNULL)
        if done.returncode or not output.is_file():
            raise SkilldeckError(f"mcpb pack failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
        return
    print("mcpb not found (npm install -g @anthropic-ai/mcpb): writing the zip unvalidated", file=sys.stderr)
    with zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(p for p in stage.rglob("*") if p.is_file()):
            archive.write(path, path.relative_to(stage).as_posix())


def _installer() -> list[str]:
    """uv when there is one (it installs the same wheels several times faster), else pip; both for this Python."""
    beside = Path(sys.executable).parent / "uv"
    uv = str(beside) if beside.is_file() else shutil.which("uv")
    if uv:
        return [uv, "pip", "install", "--quiet", "--python", sys.executable]
    return [sys.executable, "-m", "pip", "install", "--quiet", "--no-compile"]


def default_name(manifest: dict, vendor: bool) -> str:
    stem = f"{manifest['name']}-{manifest['version']}"
    if vendor:
        stem += f"-{_platform()}-py{sys.version_info[0]}{sys.version_info[1]}"
    return f"{stem}.mcpb"


def _platform() -> str:
    return "linux" if sys.platform.startswith("linux") else sys.platform
