"""Where skills come from, highest precedence first."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence
from pathlib import Path

from skilldeck.tools.skills.skill import SkillRoot

__all__ = ["bundled_skills_dir", "skill_roots"]


def bundled_skills_dir() -> Path:
    """The skills shipped with skilldeck (the repo's skills/ or the installed package data)."""
    spec = importlib.util.find_spec("skilldeck.skills")
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    return Path(__file__).resolve().parents[2] / "skills"


def skill_roots(extra: Sequence[Path], projects: Sequence[Path], user: bool = True, bundled: bool = True,
                home: Path | None = None, claude_folders: bool = True) -> list[SkillRoot]:
    """Every --skills folder, each project's .claude/skills/ and skills/, ~/.claude/skills/, bundled.

    `claude_folders=False` leaves out the two folders Claude Code loads natively (the project's
    .claude/skills/ and ~/.claude/skills/). A folder reached twice keeps its highest place only.
    """
    roots = [SkillRoot(Path(p).expanduser(), "--skills") for p in extra]
    for project in projects:
        if claude_folders:
            roots.append(SkillRoot(Path(project) / ".claude" / "skills", "project"))
        roots.append(SkillRoot(Path(project) / "skills", "project"))
    if user and claude_folders:
        roots.append(SkillRoot((home or Path.home()) / ".claude" / "skills", "user"))
    if bundled:
        roots.append(SkillRoot(bundled_skills_dir(), "bundled"))
    seen: set[Path] = set()
    unique = []
    for root in roots:
        # Not Path.resolve(): on a link loop (a cloned repository's `skills -> skills`) it raises
        # RuntimeError, and neither the server nor `skilldeck skills` would start.
        key = Path(os.path.realpath(root.path))
        if key not in seen:
            seen.add(key)
            unique.append(root)
    return unique
