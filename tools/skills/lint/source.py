"""Everything the rules look at for one skill, read once: SKILL.md (raw and parsed) and its files."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from skilldeck.tools.skills.files import is_binary, walk_files
from skilldeck.tools.skills.frontmatter import ParsedSkillMd, parse_skill_md, split_frontmatter
from skilldeck.tools.skills.skill import MAX_SKILL_MD_BYTES, SKILL_FILE
from skilldeck.tools.tokens import count_tokens

__all__ = ["SkillSource", "SkillFile", "load_source"]

_KEY = re.compile(r"^([A-Za-z_][\w-]*)\s*:")
_TEXT_LIMIT = 2_000_000  # larger files are counted by size, not read


@dataclass
class SkillFile:
    rel: str          # posix path relative to the skill folder
    path: Path
    size: int
    text: str | None  # None for binary or very large files

    @cached_property
    def lines(self) -> int:
        if self.text is None:
            return 0
        return self.text.count("\n") + (0 if self.text.endswith("\n") or not self.text else 1)

    @cached_property
    def tokens(self) -> int:
        return count_tokens(self.text) if self.text is not None else 0

    @property
    def is_markdown(self) -> bool:
        return self.rel.lower().endswith((".md", ".markdown", ".mdx", ".txt", ".rst"))


@dataclass
class SkillSource:
    dir: Path
    text: str                        # SKILL.md, newlines normalised
    parsed: ParsedSkillMd
    key_lines: dict[str, int]        # frontmatter key -> line in SKILL.md
    files: list[SkillFile] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)

    @property
    def fields(self) -> dict:
        return self.parsed.fields

    @property
    def body(self) -> str:
        return self.parsed.body

    def body_line_no(self, offset: int) -> int:
        """SKILL.md line number of character `offset` in the body."""
        return self.parsed.body_line + self.body.count("\n", 0, offset)

    def line_of(self, key: str) -> int | None:
        return self.key_lines.get(key)

    @cached_property
    def by_rel(self) -> dict[str, SkillFile]:
        return {f.rel: f for f in self.files}


def _key_lines(text: str) -> dict[str, int]:
    front, _, _ = split_frontmatter(text)
    lines: dict[str, int] = {}
    if front is None:
        return lines
    for number, line in enumerate(front.split("\n"), start=2):
        match = _KEY.match(line)
        if match:
            lines.setdefault(match.group(1), number)
    return lines


def _read_file(rel: str, full: Path, base: Path) -> SkillFile | None:
    try:
        if full.is_symlink() and not full.resolve().is_relative_to(base):
            return None  # served by nobody: files.py refuses links that leave the folder
        size = full.stat().st_size
        if size > _TEXT_LIMIT:
            return SkillFile(rel, full, size, None)
        data = full.read_bytes()
    except OSError:
        return None
    text = None if is_binary(data[:8192]) else data.decode("utf-8", errors="replace").replace("\r\n", "\n")
    return SkillFile(rel, full, size, text)


def load_source(folder: Path) -> SkillSource:
    """Read a skill folder for linting (SKILL.md must exist)."""
    raw = (folder / SKILL_FILE).read_bytes()[:MAX_SKILL_MD_BYTES]
    text = raw.decode("utf-8", errors="replace").lstrip("\ufeff").replace("\r\n", "\n")
    source = SkillSource(folder, text, parse_skill_md(text), _key_lines(text))
    base = folder.resolve()
    for rel, full in walk_files(folder):
        item = _read_file(rel, full, base)
        if item is None:
            source.unreadable.append(rel)
        else:
            source.files.append(item)
    return source
