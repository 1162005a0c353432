"""A JSON snapshot of parsed skills so a restart only stats SKILL.md files instead of parsing them.

Entries are reused only when the folder, its root, and SKILL.md's mtime and size all match, so a
stale or foreign cache costs a re-parse, never wrong content. Stored under the skilldeck home.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from skilldeck.tools.skills.skill import Diagnostic, Skill, SkillRoot

__all__ = ["IndexCache"]

VERSION = 1


def _to_record(skill: Skill) -> dict[str, Any]:
    record = {f.name: getattr(skill, f.name) for f in dataclasses.fields(skill)}
    record["dir"] = str(skill.dir)
    record["root"] = [str(skill.root.path), skill.root.label]
    record["diagnostics"] = [dataclasses.asdict(d) for d in skill.diagnostics]
    return record


def _from_record(record: dict[str, Any]) -> Skill:
    record = dict(record)
    record["dir"] = Path(record["dir"])
    record["root"] = SkillRoot(Path(record["root"][0]), record["root"][1])
    record["diagnostics"] = [Diagnostic(**d) for d in record["diagnostics"]]
    return Skill(**record)


class IndexCache:
    def __init__(self, folder: Path, roots: list[SkillRoot]) -> None:
        key = hashlib.sha256(json.dumps([[str(r.path), r.label] for r in roots]).encode()).hexdigest()[:16]
        self.path = folder / f"skill-index-{key}.json"

    def load(self) -> dict[Path, Skill]:
        """Cached skills by folder; empty if the cache is missing, unreadable or of another version."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if data.get("version") != VERSION:
                return {}
            return {Path(r["dir"]): _from_record(r) for r in data["skills"]}
        except (OSError, ValueError, KeyError, TypeError):
            return {}

    def save(self, skills: list[Skill]) -> None:
        """Write atomically; a failure only means the next start parses again."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps({"version": VERSION, "skills": [_to_record(s) for s in skills]}),
                           encoding="utf-8")
            os.replace(tmp, self.path)
        except OSError:
            pass
