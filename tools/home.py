"""skilldeck's one home directory for state: jobs, caches, logs.

``SKILLDECK_HOME`` moves all of it (tests point it at a temporary folder); the default is
``$XDG_DATA_HOME/skilldeck`` or ``~/.local/share/skilldeck``.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["home_dir", "data_path"]


def home_dir() -> Path:
    """Return the state directory, creating it if needed."""
    env = os.environ.get("SKILLDECK_HOME")
    if env:
        root = Path(env).expanduser()
    else:
        xdg = os.environ.get("XDG_DATA_HOME")
        root = (Path(xdg) if xdg else Path.home() / ".local" / "share") / "skilldeck"
    root.mkdir(parents=True, exist_ok=True)
    return root


def data_path(*parts: str) -> Path:
    """Return a path under the home directory, creating its parent folder."""
    path = home_dir().joinpath(*parts)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path
