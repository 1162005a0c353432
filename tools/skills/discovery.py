"""Finding skill folders under a root: ``ROOT/<skill>/SKILL.md``, or below up to three group folders
(``ROOT/<group>/<skill>/SKILL.md``, a repository's ``ROOT/plugins/<plugin>/skills/<skill>/SKILL.md``).
A root that is itself a skill folder is one skill; a skill folder's own subfolders are not searched."""

from __future__ import annotations

import heapq
import logging
import os
from collections.abc import Iterator
from pathlib import Path

from skilldeck.tools.fs import is_within
from skilldeck.tools.skills.skill import SKILL_FILE

__all__ = ["skill_folders", "MAX_DEPTH"]

logger = logging.getLogger(__name__)

MAX_DEPTH = 4  # folder levels below a root where a SKILL.md is looked for
MAX_ENTRIES = 100_000  # folder entries read in one walk of a root (10,000 skills in groups need ~30,000)
_SKIP = {"node_modules", "__pycache__", ".git", ".venv", "venv"}


def _is_skill(folder: str) -> bool:
    return os.path.isfile(os.path.join(folder, SKILL_FILE))


def skill_folders(root: Path, top: Path | None = None) -> Iterator[Path]:
    """Yield skill folders under `root` (or only under `top`, an entry of root), sorted.

    A root is the user's own: a linked folder directly in it is followed (linking a skill or a pack
    into ``~/.claude/skills`` is common). Below that, a folder is a stranger's pack, and a link in
    it is followed only while it stays inside that pack's real folder: ``pack/up -> ../..`` would
    otherwise serve every skill folder of the user's other projects. Each real folder is visited
    once: ``loop -> .`` links would otherwise make the walk grow as their count to the fourth power,
    and ``mirror -> ..`` would show every skill twice. At most MAX_ENTRIES entries are read in all."""
    walk = _Walk()
    if top is None:
        if _is_skill(str(root)):
            yield root
            return
        walk.first_visit(str(root))
        yield from walk.scan(str(root), 1)
    elif top.is_dir():
        walk.first_visit(str(root))  # a link in `top` back to the root leads nowhere new
        if _is_skill(str(top)):
            yield top
        elif walk.first_visit(str(top)):
            yield from walk.scan(str(top), 2, os.path.realpath(top))


class _Walk:
    def __init__(self) -> None:
        self.seen: set[str] = set()
        self.entries = 0

    def first_visit(self, folder: str, real: str | None = None) -> bool:
        real = real or os.path.realpath(folder)
        if real in self.seen:
            return False
        self.seen.add(real)
        return True

    def scan(self, folder: str, depth: int, pack: str | None = None) -> Iterator[Path]:
        """Skill folders below `folder` (already visited), `depth` levels below the root; below the
        root's own entries (`depth` > 1), only folders whose real path is inside `pack`."""
        left = MAX_ENTRIES - self.entries
        try:
            with os.scandir(folder) as it:  # the first by name, and no more than the bound leaves
                entries = heapq.nsmallest(left + 1, it, key=lambda e: e.name)
        except OSError:
            return
        if len(entries) > left:
            logger.warning("more than %s folder entries under the skill roots; skills below %s and after it are "
                           "not looked for", f"{MAX_ENTRIES:,}", folder)
            entries = entries[:left]
        self.entries += len(entries)
        for entry in entries:
            if entry.name.startswith(".") or entry.name in _SKIP:
                continue
            try:
                if not entry.is_dir():  # follows symlinks: a linked skill folder is common
                    continue
            except OSError:
                continue
            real = os.path.realpath(entry.path)
            if pack is not None and not is_within(Path(real), [Path(pack)]):
                logger.warning("%s links outside the pack it is in (%s); not followed", entry.path, pack)
                continue
            if not self.first_visit(entry.path, real):
                continue  # a link back to a folder already walked (a loop, or a mirror of the root)
            if _is_skill(entry.path):
                yield Path(entry.path)
            elif depth < MAX_DEPTH:
                yield from self.scan(entry.path, depth + 1, pack or real)
