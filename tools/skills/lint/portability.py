"""Portability rules: Windows-style paths, and skills too big to upload or copy around."""

from __future__ import annotations

import re

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
                out.append(Finding("windows-path", "warning", f"Windows-style path {match.group(0)!r}; use "
                                   f"forward slashes ({fixed!r}): they work on every platform", path=rel,
                                   line=first + index))
    count = len(src.files) + len(src.unreadable) + 1
    if count > config.max_files:
        out.append(Finding("too-many-files", "error", f"{count} files (at most {config.max_files}); remove "
                           "generated or vendored files", path="."))
    size = sum(f.size for f in src.files) + len(src.text.encode())
    if size > config.max_bytes:
        out.append(Finding("too-large", "error", f"{size / 2**20:.1f} MiB in the skill (at most "
                           f"{config.max_bytes / 2**20:.0f} MiB); move large assets out or fetch them in a script",
                           path="."))
    return out
