"""Find the external tools that packaging tests drive (mcpb, claude, uv).

Off CI a missing tool skips its test with the way to get it; on CI (CI set, as .ci/run runs) it
fails, because .ci/run installs every one of them.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

HOW_TO_GET = {
    "mcpb": "npm install -g @anthropic-ai/mcpb",
    "claude": "npm install -g @anthropic-ai/claude-code",
    "uv": "pip install uv (it is in the dev extra)",
    "uvx": "pip install uv (it is in the dev extra)",
}


def require(name: str) -> str:
    """The absolute path of command `name`, found on PATH or next to this Python; skip or fail otherwise."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.is_file() else shutil.which(name)
    if found:
        return found
    message = f"{name} not found on PATH ({HOW_TO_GET[name]})"
    if os.environ.get("CI"):
        pytest.fail(f"{message}; .ci/run must install it")
    pytest.skip(message)


def clean_env(tmp: Path, path: list[str], **extra: str) -> dict[str, str]:
    """A fresh machine's environment: a bare PATH, an empty HOME, this machine's TLS roots only."""
    env = {"PATH": os.pathsep.join([*path, "/usr/bin", "/bin"]), "HOME": str(tmp / "home"),
           "SKILLDECK_HOME": str(tmp / "skilldeck-home")}
    for name in ("SSL_CERT_FILE", "SSL_CERT_DIR"):  # a proxy's CA, if this machine needs one to reach PyPI
        if os.environ.get(name):
            env[name] = os.environ[name]
    return {**env, **extra}
