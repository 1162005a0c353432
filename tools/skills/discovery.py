"""Finding skill folders under a root: ``ROOT/<skill>/SKILL.md``, or below up to three group folders
(``ROOT/<group>/<skill>/SKILL.md``, a repository's ``ROOT/plugins/<plugin>/skills/<skill>/SKILL.md``).
A root that is itself a skill folder is one skill; a skill folder's own subfolders are not searched."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from skilldeck.tools.skills.skill import SKILL_FILE

__all__ = ["skill_folders", "MAX_DEPTH"]

MAX_DEPTH = 4  # folder levels below a root where a SKILL.md is looked for
_SKIP = {"node_modules", "__pycache__", ".git", ".venv", "venv"}


def _is_skill(folder: str) -> bool:
    return os.path.isfile(os.path.join(folder, SKILL_FILE))


def skill_folders(root: Path, top: Path | None = None) -> Iterator[Path]:
    """Yield skill folders under `root` (or only under `top`, an entry of root), sorted."""
    if top is None:
        if _is_skill(str(root)):
            yield root
            return
        yield from _scan(str(root), 1)
    elif top.is_dir():
        if _is_skill(str(top)):
            yield top
        else:
            yield from _scan(str(top), 2)


def _scan(folder: str, depth: int) -> Iterator[Path]:
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:
        return
    for entry in entries:
        if entry.name.startswith(".") or entry.name in _SKIP:
            continue
        try:
            if not entry.is_dir():  # follows symlinks: a linked skill folder is common
                continue
        except OSError:
            continue
        if _is_skill(entry.path):
            yield Path(entry.path)
        elif depth < MAX_DEPTH:
            yield from _scan(entry.path, depth + 1)
