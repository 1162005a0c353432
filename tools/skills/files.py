"""A skill's other files: confinement, the file map, and reading one file on demand.

Every path from a caller is untrusted. `resolve_inside` refuses absolute paths, ``..``
components and symlinks whose target leaves the skill's folder; the resolved path must stay
under the folder's real path.
"""

from __future__ import annotations

import mimetypes
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from skilldeck.tools.errors import AccessDeniedError, InvalidInputError, NotFoundError
from skilldeck.tools.skills.skill import SKILL_FILE
from skilldeck.tools.tokens import ENCODING_NOTE, count_tokens

__all__ = ["FileInfo", "FileMap", "walk_files", "leaves", "resolve_inside", "read_text_slice", "markdown_toc", "is_binary"]

MAX_FILES = 2000          # files listed per skill; the rest are counted, not listed
COUNT_TOKENS_UP_TO = 512_000  # larger text files get a character-based estimate
_SKIP_DIRS = {".git", "__pycache__", "node_modules", ".venv", ".DS_Store"}
_SCRIPT_EXT = {".py", ".sh", ".bash", ".js", ".mjs", ".ts", ".rb", ".pl", ".ps1", ".bat"}
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)(?:\s+#+)?\s*$")


def resolve_inside(folder: Path, rel: str) -> Path:
    """Resolve `rel` inside `folder` or raise AccessDeniedError / InvalidInputError."""
    if not isinstance(rel, str) or not rel.strip():
        raise InvalidInputError("path must be a non-empty relative path such as 'references/guide.md'")
    if "\x00" in rel:
        raise InvalidInputError("path contains a NUL byte")
    cleaned = rel.strip().replace("\\", "/")
    pure = PurePosixPath(cleaned)
    if pure.is_absolute() or re.match(r"^[A-Za-z]:", cleaned) or cleaned.startswith("~"):
        raise AccessDeniedError(f"path {rel!r} is absolute; give a path relative to the skill's folder")
    if ".." in pure.parts:
        raise AccessDeniedError(f"path {rel!r} uses '..'; only files inside the skill's folder can be read")
    hidden = [p for p in pure.parts if p.startswith(".") or p in _SKIP_DIRS]
    if hidden:
        # The file map never lists them, and .env or .git/config may hold secrets.
        raise AccessDeniedError(f"path {rel!r} is inside the hidden or tool folder {hidden[0]!r}; not served")
    try:
        base = folder.resolve()
        target = (base / Path(*pure.parts)).resolve()
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop (Python 3.11)
        raise AccessDeniedError(f"path {rel!r} cannot be resolved ({exc}); refused") from exc
    if not target.is_relative_to(base):
        raise AccessDeniedError(f"path {rel!r} leads outside the skill's folder (through a symlink); refused")
    return target


def is_binary(head: bytes) -> bool:
    if b"\x00" in head:
        return True
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start < len(head) - 4  # a multi-byte character cut at the end is fine
    return False


def _kind(rel: str, binary: bool) -> str:
    top = rel.split("/", 1)[0] if "/" in rel else ""
    if top in ("references", "reference", "docs"):
        return "reference"
    if top == "scripts" or PurePosixPath(rel).suffix in _SCRIPT_EXT:
        return "script"
    if top in ("assets", "templates") or binary:
        return "asset"
    if PurePosixPath(rel).suffix in (".md", ".markdown", ".txt", ".rst"):
        return "reference"
    return "other"


@dataclass(frozen=True)
class FileInfo:
    path: str          # posix, relative to the skill folder
    kind: str          # reference | script | asset | other
    size: int
    binary: bool
    lines: int | None
    tokens: int | None
    heading: str | None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path, "kind": self.kind, "bytes": self.size}
        if self.binary:
            out["binary"] = True
        else:
            out.update(lines=self.lines, tokens=self.tokens)
        if self.heading:
            out["heading"] = self.heading
        return out


def _describe(path: Path, rel: str, size: int) -> FileInfo:
    with open(path, "rb") as fh:
        head = fh.read(8192)
        binary = is_binary(head)
        if binary:
            return FileInfo(rel, _kind(rel, True), size, True, None, None, None)
        data = head + fh.read(COUNT_TOKENS_UP_TO)
    text = data.decode("utf-8", errors="replace")
    if size > len(data):
        lines = None
        tokens = size // 4
    else:
        lines = text.count("\n") + (0 if text.endswith("\n") or not text else 1)
        tokens = count_tokens(text)
    heading = None
    for line in text.split("\n", 200)[:200]:
        m = _HEADING.match(line)
        if m:
            heading = m.group(2)[:120]
            break
    return FileInfo(rel, _kind(rel, False), size, False, lines, tokens, heading)


def walk_files(folder: Path) -> Iterator[tuple[str, Path]]:
    """Yield (posix path relative to `folder`, full path) for every file but SKILL.md, sorted,
    skipping hidden files and tool folders. Symlinks are yielded; callers check where they lead."""
    base = folder.resolve()
    for dirpath, dirnames, filenames in os.walk(base, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS and not d.startswith("."))
        for fname in sorted(filenames):
            full = Path(dirpath) / fname
            rel = full.relative_to(base).as_posix()
            if rel != SKILL_FILE and not fname.startswith("."):
                yield rel, full


def leaves(full: Path, base: Path) -> bool:
    """True if `full` is a symlink whose target is outside `base` or cannot be resolved (a loop)."""
    if not full.is_symlink():
        return False
    try:
        return not full.resolve().is_relative_to(base)
    except (OSError, RuntimeError):
        return True


class FileMap:
    """Lists a skill's files (all but SKILL.md) with sizes and token counts, cached by mtime."""

    def __init__(self) -> None:
        self._cache: dict[str, tuple[int, int, FileInfo]] = {}

    def files(self, folder: Path) -> tuple[list[FileInfo], list[str]]:
        """Return (files, problems). Symlinks leaving the folder are skipped and reported."""
        base = folder.resolve()
        infos: list[FileInfo] = []
        problems: list[str] = []
        for rel, full in walk_files(base):
            if len(infos) >= MAX_FILES:
                problems.append(f"more than {MAX_FILES} files; the rest are not listed")
                break
            info = self._info(full, rel, base, problems)
            if info is not None:
                infos.append(info)
        return infos, problems

    def _info(self, full: Path, rel: str, base: Path, problems: list[str]) -> FileInfo | None:
        try:
            if leaves(full, base):
                problems.append(f"{rel}: symlink leading outside the skill (or in a loop); not served")
                return None
            st = full.stat()
        except OSError as exc:  # vanished mid-walk, or a dangling link
            problems.append(f"{rel}: cannot read ({exc.strerror or exc})")
            return None
        if not stat.S_ISREG(st.st_mode):  # a FIFO or device would block or never end
            problems.append(f"{rel}: not a regular file; not served")
            return None
        key = str(full)
        cached = self._cache.get(key)
        if cached and cached[0] == st.st_mtime_ns and cached[1] == st.st_size:
            return cached[2]
        try:
            info = _describe(full, rel, st.st_size)
        except OSError as exc:
            problems.append(f"{rel}: cannot read ({exc.strerror or exc})")
            return None
        self._cache[key] = (st.st_mtime_ns, st.st_size, info)
        return info


def markdown_toc(text: str) -> list[dict[str, Any]]:
    """Headings of a markdown text with their line numbers (fenced code is skipped)."""
    toc, fenced = [], False
    for number, line in enumerate(text.split("\n"), start=1):
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
            continue
        m = None if fenced else _HEADING.match(line)
        if m:
            toc.append({"level": len(m.group(1)), "title": m.group(2), "line": number})
    return toc


def read_text_slice(path: Path, start_line: int, end_line: int | None, max_bytes: int) -> dict[str, Any]:
    """Read lines start_line..end_line (1-based, inclusive) of a text file, capped at max_bytes.

    Returns the content plus what is needed to page on: total_lines and next_start_line.
    """
    if start_line < 1:
        raise InvalidInputError(f"start_line must be 1 or more, got {start_line}")
    if end_line is not None and end_line < start_line:
        raise InvalidInputError(f"end_line ({end_line}) is before start_line ({start_line})")
    try:
        text = path.read_bytes().decode("utf-8", errors="replace")
    except FileNotFoundError as exc:
        raise NotFoundError(f"{path.name} disappeared while being read; list the skill's files again") from exc
    lines = text.replace("\r\n", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    total = len(lines)
    if start_line > max(total, 1):
        raise InvalidInputError(f"start_line {start_line} is past the end of the file ({total} lines)")
    stop = total if end_line is None else min(end_line, total)
    out, used, line_no = [], 0, start_line
    while line_no <= stop:
        piece = lines[line_no - 1] + "\n"
        cost = len(piece.encode("utf-8"))
        if out and used + cost > max_bytes:
            break
        out.append(piece if cost <= max_bytes else piece[: max_bytes // 4] + "…[line cut]\n")
        used += cost
        line_no += 1
    content = "".join(out)
    result: dict[str, Any] = {"start_line": start_line, "end_line": line_no - 1, "total_lines": total,
                              "content": content, "tokens": count_tokens(content), "tokens_note": ENCODING_NOTE}
    if line_no <= stop:
        result["next_start_line"] = line_no
        result["truncated"] = f"size cap of {max_bytes} bytes reached; call again with start_line={line_no}"
    return result


def describe_binary(path: Path, rel: str) -> dict[str, Any]:
    mime = mimetypes.guess_type(rel)[0] or "application/octet-stream"
    return {"path": rel, "binary": True, "bytes": path.stat().st_size, "mime_type": mime,
            "note": "binary file: not shown as text. Use it by path (e.g. from a script) or read the MCP resource."}
