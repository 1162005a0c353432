"""Portability rules: Windows-style paths, files no client can read, file names that one file system
merges, and skills too big to upload or copy around."""

from __future__ import annotations

import re
import unicodedata

from skilldeck.tools.skills.frontmatter import short_repr
from skilldeck.tools.skills.lint.model import Finding, LintConfig
from skilldeck.tools.skills.lint.source import SkillSource

__all__ = ["check_portability"]

# C:\x, or a\b.ext with word characters on both sides of each backslash (not regex escapes like \d+\.\w).
_WINDOWS = re.compile(r"(?<![\w\\])(?:[A-Za-z]:\\[\w.\\-]*|(?:[A-Za-z_][\w.-]*\\)+[\w-]+\.[A-Za-z][A-Za-z0-9]{0,4}(?![\w\\]))")


def check_portability(src: SkillSource, config: LintConfig) -> list[Finding]:
    out = []
    texts = [("SKILL.md", src.body, src.parsed.body_line)]
    texts += [(f.rel, f.text, 1) for f in src.files if f.text is not None and f.is_markdown]
    for rel, text, first in texts:
        for index, line in enumerate(text.split("\n")):
            match = _WINDOWS.search(line)
            if match:
                fixed = match.group(0).replace("\\", "/")
                out.append(Finding("windows-path", "warning", f"Windows-style path {short_repr(match.group(0))}; "
                                   f"use forward slashes ({short_repr(fixed)}): they work on every platform", path=rel,
                                   line=first + index))
    out += _unreadable(src)
    out += _clashing_names(src)
    count = len(src.files) + len(src.unreadable) + src.not_read + 1
    if count > config.max_files:
        out.append(Finding("too-many-files", "error", f"{count} files (at most {config.max_files}); remove "
                           "generated or vendored files", path="."))
    size = sum(f.size for f in src.files) + len(src.text.encode())
    if size > config.max_bytes:
        out.append(Finding("too-large", "error", f"{size / 2**20:.1f} MiB in the skill (at most "
                           f"{config.max_bytes / 2**20:.0f} MiB); move large assets out or fetch them in a script",
                           path="."))
    return out


_MAX_UNREADABLE = 20  # findings; a folder of a thousand FIFOs gets one more that counts the rest


def _unreadable(src: SkillSource) -> list[Finding]:
    out = [Finding("unreadable-file", "warning", f"{reason}; no client will serve it, so remove it or make it a "
                   "regular file inside the skill", path=rel)
           for rel, reason in list(src.unreadable.items())[:_MAX_UNREADABLE]]
    if len(src.unreadable) > _MAX_UNREADABLE:
        out.append(Finding("unreadable-file", "warning", f"{len(src.unreadable) - _MAX_UNREADABLE} more files cannot "
                           "be read", path="."))
    return out


def _clashing_names(src: SkillSource) -> list[Finding]:
    """Paths that differ only in letter case ("Guide.md" and "guide.md": one file on macOS and
    Windows) or Unicode form ("café" with an accent composed or combined: one file on macOS), so a
    copy or an unpacked archive keeps one of them; wherever both survive they look identical.
    Simple lower-casing, not full case folding: "Straße" and "strasse" are two files everywhere."""
    seen: dict[str, list[str]] = {}
    for rel in ["SKILL.md", *(f.rel for f in src.files), *src.unreadable]:
        seen.setdefault(unicodedata.normalize("NFC", rel).lower(), []).append(rel)
    clashes = [rels for rels in seen.values() if len(rels) > 1]
    out = [Finding("name-clash", "warning", f"{' and '.join(ascii(r) for r in rels[:3])} differ only in letter case "
                   "or Unicode form: one file where names are compared that way (macOS; Windows for case), so "
                   "copies keep only one; rename them apart", path=rels[1]) for rels in clashes[:_MAX_UNREADABLE]]
    if len(clashes) > _MAX_UNREADABLE:
        out.append(Finding("name-clash", "warning", f"{len(clashes) - _MAX_UNREADABLE} more names clash", path="."))
    return out
