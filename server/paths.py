"""File paths that MCP tools accept from the model stay inside the project folder.

A tool that reads a file and returns or forwards its content (evidence quotes, batch task
files) must not become a way to read ~/.aws/credentials. The CLI, driven by a person, is not
restricted.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

from skilldeck.tools.errors import AccessDeniedError, InvalidInputError

__all__ = ["inside_project"]


def inside_project(base: Path, raw: object, what: str) -> str:
    """Return `raw` (a relative path or glob) if it stays under `base`; raise AccessDeniedError if not."""
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidInputError(f"{what} must be a non-empty path relative to the project folder {base}")
    text = raw.strip()
    pure = PurePosixPath(text.replace("\\", "/"))
    if pure.is_absolute() or text.startswith("~") or re.match(r"^[A-Za-z]:", text) or ".." in pure.parts:
        raise AccessDeniedError(f"{what} {raw!r} is outside the project folder {base}; tools read files only "
                                "inside the project, so give a path relative to it")
    resolved = (base / text).resolve()
    if "*" not in text and "?" not in text and "[" not in text and not resolved.is_relative_to(base.resolve()):
        raise AccessDeniedError(f"{what} {raw!r} leads outside the project folder {base} through a symlink")
    return text
