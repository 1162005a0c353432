"""A skill's other files: confinement, the file map, and reading one file on demand.

Every path from a caller is untrusted. `skill_path` refuses absolute paths, ``..`` components,
hidden and tool folders, and names with control or format characters; `open_skill_file` then opens
the file through `skilldeck.tools.fs.open_file`, which checks the *open descriptor*: a regular file
(never a FIFO, socket or device), really inside the skill's folder (a symlink may point to another
file of the same skill, never outside it, however and whenever a component is swapped), and not a
hard link (other names of the file may be outside), except in the trusted bundled skills.
Reads are bounded and large files are streamed, so a 200 MB reference costs no more memory than a
small one.
"""

from __future__ import annotations

import dataclasses
import heapq
import mimetypes
import os
import re
import stat
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from skilldeck.tools.deadline import check
from skilldeck.tools.errors import AccessDeniedError, InvalidInputError
from skilldeck.tools.fs import OpenFile, TooLargeError, hidden_part, is_within, leads_inside, open_file, real_path
from skilldeck.tools.skills.names import printable, unsafe_char
from skilldeck.tools.skills.skill import SKILL_FILE
from skilldeck.tools.tokens import ENCODING_NOTE, count_tokens

__all__ = ["FileInfo", "FileMap", "walk_files", "served_files", "skill_path", "open_skill_file", "servable", "read_text_slice",
           "read_toc", "markdown_toc", "is_binary", "describe_binary", "MAX_PATH_CHARS", "MAX_FILE_BYTES", "WALK_CUT"]

MAX_FILES = 2000          # files listed per skill; the rest are counted, not listed
MAX_PATH_CHARS = 1024
# Bounds on a skill's tree, so that no listing, read or digest of a hostile skill is unbounded: a
# file larger than MAX_FILE_BYTES is not served (a sparse file can claim a terabyte in 4 KB of disk,
# and counting its lines or hashing it would never end); a walk enters at most MAX_DEPTH folder
# levels and looks at most at MAX_ENTRIES directory entries (100,000 files made every page of
# resources/list take seconds).
MAX_FILE_BYTES = 256 * 1024 * 1024
MAX_DEPTH = 32
MAX_ENTRIES = 20_000
WALK_CUT = f"more than {MAX_ENTRIES:,} entries in the skill's folders; the rest are not listed"
COUNT_TOKENS_UP_TO = 512_000  # larger text files get a character-based estimate
MAX_TOC_ENTRIES = 1000
BIG_FOLDER = 2000         # a folder with this many entries keeps its listing (`_folder_entries`) ...
_BIG_FOLDERS_KEPT = 4     # ... for this many such folders, most recently used first (each up to
                          # MAX_ENTRIES names: 8.6 MB for 20,001 names of 255 characters)
_SETTLED_S = 2.0          # a folder changed more recently than this is never kept: a second change
                          # within the clock's tick would leave its mtime and ctime as they were
_SKIP_DIRS = {".git", "__pycache__", "node_modules", ".venv", ".DS_Store"}
_SCRIPT_EXT = {".py", ".sh", ".bash", ".js", ".mjs", ".ts", ".rb", ".pl", ".ps1", ".bat"}
_HEADING_START = re.compile(r"(#{1,6})\s+")  # the rest is cut in Python: lazy patterns backtracked


def markdown_heading(line: str) -> tuple[int, str] | None:
    """(level, title) of an ATX heading line (``## Title ##``), or None. Linear in the line's length:
    a pattern with a lazy title before optional closing hashes and spaces took quadratic time on a
    long run of spaces (``# a`` + 20,000 spaces + ``b`` held the event loop 9 s)."""
    m = _HEADING_START.match(line)
    if not m:
        return None
    title = line[m.end():].rstrip()
    closed = title.rstrip("#")
    if closed != title and closed[-1:].isspace():  # a closing sequence: "# Title ##", never "# C#"
        title = closed.rstrip()
    return (len(m.group(1)), title) if title else None


def skill_path(folder: Path, rel: object) -> tuple[str, Path]:
    """Check a caller's relative path; return (normalised posix path, path under `folder`).

    Only the name is checked here; what it leads to is checked when it is opened.
    """
    if not isinstance(rel, str) or not rel.strip():
        raise InvalidInputError("path must be a non-empty relative path such as 'references/guide.md'")
    if len(rel) > MAX_PATH_CHARS:
        raise InvalidInputError(f"path is {len(rel):,} characters long; at most {MAX_PATH_CHARS} are accepted")
    if "\x00" in rel:
        raise InvalidInputError("path contains a NUL byte")
    cleaned = rel.strip().replace("\\", "/")
    bad = unsafe_char(cleaned)
    if bad is not None:
        raise InvalidInputError(f"path {printable(rel)!r} contains the control or format character "
                                f"U+{ord(bad):04X}; not served")
    pure = PurePosixPath(cleaned)
    if pure.is_absolute() or re.match(r"^[A-Za-z]:", cleaned) or cleaned.startswith("~"):
        raise AccessDeniedError(f"path {rel!r} is absolute; give a path relative to the skill's folder")
    if ".." in pure.parts:
        raise AccessDeniedError(f"path {rel!r} uses '..'; only files inside the skill's folder can be read")
    hidden = [p for p in pure.parts if p.startswith(".") or p in _SKIP_DIRS]
    if hidden:
        # The file map never lists them, and .env or .git/config may hold secrets.
        raise AccessDeniedError(f"path {rel!r} is inside the hidden or tool folder {hidden[0]!r}; not served")
    return pure.as_posix(), folder / Path(*pure.parts)


def open_skill_file(folder: Path, rel: str, *, hardlinks: bool = False) -> tuple[str, OpenFile]:
    """Open a file of the skill in `folder` (its real path when the skill was read, `Skill.files_dir`)
    by its relative path, confined to that folder and to MAX_FILE_BYTES."""
    rel, target = skill_path(folder, rel)
    # allow_hidden=False: the name asked for is checked above, and where a symlink leads is checked here
    # (references/setup.md -> ../.git/config would hand the model a token-bearing remote URL).
    f = open_file(target, within=[folder], what=f"file {rel!r}", allow_hardlinks=hardlinks, allow_hidden=False,
                  within_is_real=True)
    if f.size > MAX_FILE_BYTES:
        f.close()
        raise TooLargeError(_too_large(rel, f.size))
    return rel, f


def _too_large(rel: str, size: int) -> str:
    return f"{rel}: {size:,} bytes, over the {MAX_FILE_BYTES:,}-byte limit for a skill's file; not served"


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


def _describe(f: OpenFile, rel: str) -> FileInfo:
    head = f.read(8192)
    if is_binary(head):
        return FileInfo(rel, _kind(rel, True), f.size, True, None, None, None)
    data = head + f.read(COUNT_TOKENS_UP_TO)
    text = data.decode("utf-8", errors="replace")
    if f.size > len(data):
        lines = None
        tokens = f.size // 4
    else:
        lines = text.count("\n") + (0 if text.endswith("\n") or not text else 1)
        tokens = count_tokens(text)
    heading = None
    for line in text.split("\n", 200)[:200]:
        found = markdown_heading(line)
        if found:
            heading = printable(found[1], 120)
            break
    return FileInfo(rel, _kind(rel, False), f.size, False, lines, tokens, heading)


def walk_files(folder: Path, problems: list[str] | None = None,
               max_depth: int = MAX_DEPTH) -> Iterator[tuple[str, Path]]:
    """Yield (posix path relative to `folder`, full path) for every file but SKILL.md, sorted,
    skipping hidden files and tool folders. Symlinked folders are not entered: one inside the skill
    is passed over, one leading outside is yielded like a linked file, so `servable` refuses it in the
    same words whether or not its target exists. Iterative (a folder nested thousands deep cannot
    exhaust the stack) and bounded by `max_depth` folder levels and MAX_ENTRIES; what is left out for
    those bounds is said in `problems`."""
    base = real_path(folder)
    stack: list[tuple[Path, int]] = [(base, 0)]
    seen = 0
    while stack:
        here, depth = stack.pop()
        try:
            entries = _folder_entries(here)
        except OSError:
            continue  # vanished, unreadable, or a path too long: as os.walk, skip it
        cut = len(entries) > MAX_ENTRIES - seen
        entries = entries[:MAX_ENTRIES - seen]
        seen += len(entries)
        folders = []
        for name, is_dir, is_link in entries:
            if name.startswith("."):
                continue
            full = here / name
            if is_dir and not is_link:
                if name not in _SKIP_DIRS:
                    folders.append(full)
                continue
            if is_dir and leads_inside(full, [base]):
                continue
            rel = full.relative_to(base).as_posix()
            if rel != SKILL_FILE:
                yield rel, full
        if cut:
            _note(problems, WALK_CUT)
            return
        if folders and depth + 1 > max_depth:
            _note(problems, f"folders more than {max_depth} levels deep are not listed")
            continue
        stack.extend((f, depth + 1) for f in reversed(folders))


class _FolderListings:
    """The sorted first entries of the few big folders read last, each kept while the folder's
    (device, inode, mtime, ctime) stay as they were: a skill holding 300,000 files cost every
    use_skill half a second or more of directory reading, most of it for entries never listed."""

    def __init__(self) -> None:
        self._kept: OrderedDict[str, tuple[tuple[int, ...], list[tuple[str, bool, bool]]]] = OrderedDict()
        self._lock = threading.Lock()  # walks run in the server's worker threads

    def entries(self, folder: Path) -> list[tuple[str, bool, bool]]:
        """(name, is a folder, is a symlink) of `folder`'s first MAX_ENTRIES + 1 entries by name."""
        st = os.stat(folder)
        key = (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_ctime_ns)
        with self._lock:
            kept = self._kept.get(str(folder))
            if kept is not None and kept[0] == key:
                self._kept.move_to_end(str(folder))
                return kept[1]
        # ctime as well: a skill's owner can set mtime back, never ctime.
        settled = time.time() - max(st.st_mtime_ns, st.st_ctime_ns) / 1e9 > _SETTLED_S
        with os.scandir(folder) as it:  # keep no more than the bound leaves: 300,000 entries took 1.7 GB
            entries = [(e.name, _is_dir(e), e.is_symlink())
                       for e in heapq.nsmallest(MAX_ENTRIES + 1, it, key=lambda e: e.name)]
        if len(entries) >= BIG_FOLDER and settled:
            with self._lock:
                self._kept[str(folder)] = (key, entries)
                self._kept.move_to_end(str(folder))
                while len(self._kept) > _BIG_FOLDERS_KEPT:
                    self._kept.popitem(last=False)
        return entries


def _is_dir(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False


_folder_entries = _FolderListings().entries


def _note(problems: list[str] | None, text: str) -> None:
    if problems is not None and text not in problems:
        problems.append(text)


def servable(full: Path, rel: str, base: Path, hardlinks: bool = False) -> os.stat_result | str:
    """Would `open_skill_file` serve this file? Its stat if so, else the reason (for listings,
    which must show what reads will serve, without opening every file)."""
    bad = unsafe_char(rel)
    if bad is not None:
        return f"{printable(rel)}: the name holds the control or format character U+{ord(bad):04X}; not served"
    if "\\" in rel:  # a read path turns a backslash into a folder separator: it would name another file
        return f"{printable(rel)}: a backslash in the name; not served"
    if rel != rel.strip():  # a read path is stripped: "x.md " would read x.md
        return f"{printable(rel)!r}: white space at the start or end of the path; not served"
    if len(rel) > MAX_PATH_CHARS:
        return f"{printable(rel, 80)}: a path over {MAX_PATH_CHARS} characters; not served"
    try:
        real = real_path(full)
    except AccessDeniedError:
        return f"{rel}: symlink in a loop; not served"
    # Where a link leads is checked before anything is looked up there: a link to a missing host path
    # and one to an existing file get the same words, so a skill cannot learn which host paths exist.
    if not is_within(real, [base]):
        return f"{rel}: symlink leading outside the skill; not served"
    hidden = hidden_part(real, [base])
    if hidden is not None:
        return f"{rel}: symlink leading into the hidden {hidden!r} (hidden files hold secrets); not served"
    try:
        st = os.stat(full)
    except OSError as exc:  # vanished mid-walk, a dangling link inside the skill, a loop
        return f"{rel}: cannot read ({exc.strerror or exc})"
    if not stat.S_ISREG(st.st_mode):  # a FIFO or device would block or never end
        return f"{rel}: not a regular file; not served"
    if st.st_nlink > 1 and not hardlinks:
        return f"{rel}: a hard link (its other names may be outside the skill); not served"
    if st.st_size > MAX_FILE_BYTES:
        return _too_large(rel, st.st_size)
    return st


def _unmoved(folder: Path, problems: list[str] | None) -> Path | None:
    """`folder` (a real path, `Skill.files_dir`) if it still is one; None, and why, if it has been
    swapped for a symlink since: nothing below it is then the skill's."""
    try:
        if real_path(folder) == folder:
            return folder
    except AccessDeniedError:
        pass
    if problems is not None:
        problems.append("the skill's folder has been replaced since it was read (by a symlink?); no file is served "
                        "until it is read again")
    return None


def served_files(folder: Path, hardlinks: bool = False,
                 problems: list[str] | None = None) -> Iterator[tuple[str, Path, os.stat_result]]:
    """(relative path, full path, stat) of every file but SKILL.md that a read would serve, sorted;
    the reason each other file is left out goes to `problems`."""
    base = _unmoved(folder, problems)
    for rel, full in walk_files(base, problems) if base else ():
        st = servable(full, rel, base, hardlinks)
        if isinstance(st, str):
            if problems is not None:
                problems.append(st)
            continue
        yield rel, full, st


class FileMap:
    """Lists a skill's files (all but SKILL.md) with sizes and token counts, cached by mtime."""

    def __init__(self) -> None:
        # Keyed by the file itself, not by its path: eighty links inside a skill to one 512 KB file were
        # eighty token counts (each link is listed; the count is the file's).
        self._cache: dict[tuple[int, int, int, int], FileInfo] = {}

    def files(self, folder: Path, hardlinks: bool = False) -> tuple[list[FileInfo], list[str]]:
        """Return (files, problems) of the skill in `folder` (`Skill.files_dir`). Files that would
        not be served are skipped and reported."""
        infos: list[FileInfo] = []
        problems: list[str] = []
        for rel, full, st in served_files(folder, hardlinks, problems):
            check("Listing the skill's files")
            if len(infos) >= MAX_FILES:
                problems.append(f"more than {MAX_FILES} files; the rest are not listed")
                break
            info = self._info(full, rel, folder, st, hardlinks, problems)
            if info is not None:
                infos.append(info)
        return infos, problems

    def _info(self, full: Path, rel: str, base: Path, st: os.stat_result, hardlinks: bool,
              problems: list[str]) -> FileInfo | None:
        cached = self._cache.get((st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size))
        if cached is not None:
            if cached.path == rel:
                return cached
            return dataclasses.replace(cached, path=rel, kind=_kind(rel, cached.binary))  # another link to it
        try:
            with open_file(full, within=[base], what=rel, allow_hardlinks=hardlinks, within_is_real=True) as f:
                info = _describe(f, rel)
                st = f.stat
        except (OSError, AccessDeniedError, InvalidInputError) as exc:
            problems.append(f"{rel}: not served ({exc})")
            return None
        except Exception as exc:  # noqa: BLE001 - NotFoundError and friends: it vanished
            problems.append(f"{rel}: cannot read ({exc})")
            return None
        if len(self._cache) >= 4 * MAX_FILES * 8:
            self._cache.clear()  # edited files leave old keys behind; start again past a bound
        self._cache[(st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)] = info
        return info


def markdown_toc(lines: Iterable[str | bytes], limit: int = MAX_TOC_ENTRIES) -> list[dict[str, Any]]:
    """Headings of markdown lines (text or bytes) with their line numbers (fenced code is skipped),
    at most `limit`. Only heading lines are decoded, so streaming a large file stays cheap."""
    toc, fenced = [], False
    for number, line in enumerate(lines, start=1):
        if not number % 8192:  # a file of 256 MB of newlines is 256 million lines
            check("Reading the table of contents", "Read the file in line ranges instead (start_line, end_line).")
        raw = line.encode("utf-8", errors="replace") if isinstance(line, str) else line
        if raw.lstrip()[:3] in (b"```", b"~~~"):
            fenced = not fenced
            continue
        if fenced or raw[:1] != b"#":
            continue
        found = markdown_heading(raw.decode("utf-8", errors="replace"))
        if found:
            toc.append({"level": found[0], "title": printable(found[1], 200), "line": number})
            if len(toc) == limit:
                break
    return toc


def _count_lines(f: OpenFile) -> int:
    """Lines in the file from the start, counted in chunks; leaves the position at the start."""
    os.lseek(f.fd, 0, os.SEEK_SET)
    count, last = 0, b"\n"
    while chunk := f.read(1 << 20):
        count += chunk.count(b"\n")
        last = chunk[-1:]
    os.lseek(f.fd, 0, os.SEEK_SET)
    return count + (0 if last == b"\n" else 1)


def _seek_line(f: OpenFile, line: int) -> None:
    """Put the position at the start of 1-based `line`, counting newlines a chunk at a time."""
    os.lseek(f.fd, 0, os.SEEK_SET)
    to_skip, offset = line - 1, 0
    while to_skip > 0 and (chunk := f.read(1 << 20)):
        found = chunk.count(b"\n")
        if found < to_skip:
            to_skip -= found
            offset += len(chunk)
            continue
        pos = -1
        for _ in range(to_skip):
            pos = chunk.find(b"\n", pos + 1)
        offset += pos + 1
        break
    os.lseek(f.fd, offset, os.SEEK_SET)


def read_toc(f: OpenFile) -> dict[str, Any]:
    """A markdown file's table of contents and size, streamed: memory stays flat for any size."""
    os.lseek(f.fd, 0, os.SEEK_SET)
    if f.size <= COUNT_TOKENS_UP_TO:
        text = f.read(COUNT_TOKENS_UP_TO).decode("utf-8", errors="replace")
        lines = text.replace("\r\n", "\n").split("\n")
        total = len(lines) - (1 if lines and lines[-1] == "" else 0)
        return {"total_lines": total, "file_tokens": count_tokens(text), "toc": markdown_toc(lines)}
    toc, total = _streamed_toc(f)
    return {"total_lines": total, "file_tokens": f.size // 4, "toc": toc}


# At a line's start: a code fence (after blanks) or a "#" (a heading candidate).
_TOC_MARK = re.compile(rb"^[ \t\r\x0b\x0c]*(?:```|~~~)|^#", re.MULTILINE)
_TOC_BLOCK = 1 << 18


def _streamed_toc(f: OpenFile, limit: int = MAX_TOC_ENTRIES) -> tuple[list[dict[str, Any]], int]:
    """`markdown_toc` of a large file and its line count, in one pass of 256 KB blocks: the lines that
    may matter are found by one regular expression per block, not a Python step per line (211 MB of
    newlines: 5 s instead of about 80). A line longer than a block is read as cut there."""
    toc: list[dict[str, Any]] = []
    fenced, line = False, 1

    def scan(block: bytes) -> None:  # whole lines (the last may be cut)
        nonlocal fenced, line
        at = 0
        for m in _TOC_MARK.finditer(block) if len(toc) < limit else ():
            line += block.count(b"\n", at, m.start())
            at = m.start()
            if m.group() != b"#":
                fenced = not fenced
            elif not fenced:
                stop = block.find(b"\n", at)
                head = block[at:stop if stop != -1 else len(block)][:4096]
                found = markdown_heading(head.decode("utf-8", errors="replace"))
                if found:
                    toc.append({"level": found[0], "title": printable(found[1], 200), "line": line})
                    if len(toc) == limit:
                        break
        line += block.count(b"\n", at)

    os.lseek(f.fd, 0, os.SEEK_SET)
    carry, mid_line, last = b"", False, b"\n"
    while chunk := f.read(_TOC_BLOCK):
        check("Reading the table of contents", "Read the file in line ranges instead (start_line, end_line).")
        last, data = chunk[-1:], carry + chunk
        if mid_line:  # the rest of a line already read as cut
            cut = data.find(b"\n")
            carry = b""
            if cut == -1:
                continue
            data, mid_line = data[cut + 1:], False
            line += 1
        end = data.rfind(b"\n") + 1
        if not end and len(data) < _TOC_BLOCK:
            carry = data
            continue
        block, carry = (data[:end], data[end:]) if end else (data, b"")
        mid_line = not end
        scan(block)
    if carry:
        scan(carry)
    os.lseek(f.fd, 0, os.SEEK_SET)
    return toc, line - 1 + (0 if last == b"\n" else 1)


def read_text_slice(f: OpenFile, start_line: int, end_line: int | None, max_bytes: int) -> dict[str, Any]:
    """Lines start_line..end_line (1-based, inclusive) of an open text file, capped at max_bytes.

    Streams the file: memory holds the slice, not the file. Returns the content plus what is needed
    to page on: total_lines and next_start_line.
    """
    if start_line < 1:
        raise InvalidInputError(f"start_line must be 1 or more, got {start_line}")
    if end_line is not None and end_line < start_line:
        raise InvalidInputError(f"end_line ({end_line}) is before start_line ({start_line})")
    total = _count_lines(f)
    if start_line > max(total, 1):
        raise InvalidInputError(f"start_line {start_line} is past the end of the file ({total} lines)")
    stop = total if end_line is None else min(end_line, total)
    out, used, line_no = [], 0, start_line
    _seek_line(f, start_line)
    for number, raw in enumerate(f.lines(), start=start_line):
        if number > stop:
            break
        piece = raw.decode("utf-8", errors="replace").removesuffix("\n").removesuffix("\r") + "\n"
        cost = len(piece.encode("utf-8"))
        if out and used + cost > max_bytes:
            break
        out.append(piece if cost <= max_bytes else piece[: max_bytes // 4] + "…[line cut]\n")
        used += cost
        line_no = number + 1
    content = "".join(out)
    result: dict[str, Any] = {"start_line": start_line, "end_line": line_no - 1, "total_lines": total,
                              "content": content, "tokens": count_tokens(content), "tokens_note": ENCODING_NOTE}
    if line_no <= stop:
        result["next_start_line"] = line_no
        result["truncated"] = f"size cap of {max_bytes} bytes reached; call again with start_line={line_no}"
    return result


def describe_binary(f: OpenFile, rel: str) -> dict[str, Any]:
    mime = mimetypes.guess_type(rel)[0] or "application/octet-stream"
    return {"path": rel, "binary": True, "bytes": f.size, "mime_type": mime,
            "note": "binary file: not shown as text. Use it by path (e.g. from a script) or read the MCP resource."}
