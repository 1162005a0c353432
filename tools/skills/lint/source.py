"""Everything the rules look at for one skill, read once: SKILL.md (raw and parsed) and its files.

A skill folder may be hostile: files are opened only through `open_file` (regular files really
inside the folder, never blocking), each read is capped, and frontmatter goes through the same
bounded parser as the server's (`parse_skill_md`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from skilldeck.tools.errors import SkilldeckError
from skilldeck.tools.fs import open_file
from skilldeck.tools.skills.files import is_binary, walk_files
from skilldeck.tools.skills.frontmatter import ParsedSkillMd, parse_skill_md, split_frontmatter
from skilldeck.tools.skills.skill import MAX_SKILL_MD_BYTES, SKILL_FILE
from skilldeck.tools.tokens import count_tokens

__all__ = ["SkillSource", "SkillFile", "load_source"]

_KEY = re.compile(r"^([A-Za-z_][\w-]*)\s*:")
MAX_FILE_BYTES = 1_000_000     # larger files are counted by size, not read
MAX_TOTAL_BYTES = 16_000_000   # text read per skill; later files are counted by size
MAX_FILES = 2_000              # files opened per skill; the rest are only counted


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
    unreadable: dict[str, str] = field(default_factory=dict)  # rel -> why it cannot be read
    not_read: int = 0                # files past MAX_FILES, counted but not opened

    @property
    def fields(self) -> dict:
        return self.parsed.fields

    @property
    def body(self) -> str:
        return self.parsed.body

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


def _reason(exc: Exception) -> str:
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)


def _read_file(rel: str, full: Path, folder: Path, budget: list[int], allow_hardlinks: bool) -> SkillFile | str:
    """The file, or why it cannot be read. Only regular files really inside `folder` are opened, never
    blocking; at most MAX_FILE_BYTES of each, and MAX_TOTAL_BYTES for the whole skill (`budget`)."""
    try:
        # allow_hidden=False, as the server's reads: `ref.md -> .env` is refused, not linted.
        with open_file(full, within=[folder], allow_hardlinks=allow_hardlinks, allow_hidden=False) as fh:
            size = fh.size
            if size > MAX_FILE_BYTES or size > budget[0]:
                return SkillFile(rel, full, size, None)  # counted by size, not read
            data = fh.read(MAX_FILE_BYTES)
    except (OSError, SkilldeckError) as exc:
        return _reason(exc)
    budget[0] -= len(data)
    text = None if is_binary(data[:8192]) else data.decode("utf-8", errors="replace").replace("\r\n", "\n")
    return SkillFile(rel, full, size, text)


def _read_skill_md(folder: Path, allow_hardlinks: bool) -> tuple[str, list[tuple[int, str]]]:
    """SKILL.md's text (newlines normalised) and problems; OSError or SkilldeckError if it cannot be read."""
    with open_file(folder / SKILL_FILE, within=[folder], what=SKILL_FILE, allow_hardlinks=allow_hardlinks,
                   allow_hidden=False) as fh:
        raw = fh.read(MAX_SKILL_MD_BYTES + 1)
    problems = []
    if len(raw) > MAX_SKILL_MD_BYTES:
        raw = raw[:MAX_SKILL_MD_BYTES]
        problems.append((1, f"SKILL.md is larger than {MAX_SKILL_MD_BYTES:,} bytes; only the start is read"))
    text = raw.decode("utf-8", errors="replace").lstrip("\ufeff").replace("\r\n", "\n")
    return text, problems


def load_source(folder: Path, allow_hardlinks: bool = False) -> SkillSource:
    """Read a skill folder for linting, as the server reads it to serve it (hard links only where
    `allow_hardlinks`: skilldeck's bundled skills). Raises OSError or SkilldeckError if SKILL.md
    cannot be read (missing, not a regular file, a link out of the folder); every other file that
    cannot be read is listed in `unreadable` with the reason."""
    text, problems = _read_skill_md(folder, allow_hardlinks)
    parsed = parse_skill_md(text)
    parsed.problems[:0] = problems
    source = SkillSource(folder, text, parsed, _key_lines(text))
    budget = [MAX_TOTAL_BYTES]
    for count, (rel, full) in enumerate(walk_files(folder)):
        if count >= MAX_FILES:
            source.not_read += 1  # counted, not opened: a skill of a million files must not stall lint
            continue
        item = _read_file(rel, full, folder, budget, allow_hardlinks)
        if isinstance(item, str):
            source.unreadable[rel] = item
        else:
            source.files.append(item)
    return source
