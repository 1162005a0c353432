"""The one way skilldeck opens a file it did not write: confined, regular-only, never blocking, bounded.

Every read of untrusted content (a skill's files, evidence, task and dataset files) goes through
`open_file`. It refuses, *after* opening, anything a path check alone cannot catch:

- a FIFO, socket or device (checked before the open, and the open is non-blocking, so a file
  swapped for a FIFO in between cannot stall the reader; `fstat` on the open descriptor decides);
- with `within`, a file whose real location is outside those folders: the location is read from
  the open descriptor (``/proc/self/fd`` on Linux, ``F_GETPATH`` on macOS), so a component
  swapped for a symlink between a check and the open is caught, because what is read is what was
  checked;
- with `within`, a hard link (``st_nlink > 1``): the other name may be outside, and nothing says
  where, unless the caller trusts the tree (`allow_hardlinks`, for skilldeck's own bundled skills,
  which package installers such as uv hard-link from their cache).

`OpenFile.read(limit)` and `OpenFile.lines()` never hold more than they were asked for, so a 200 MB
file can be scanned in constant memory.

    with open_file(path, within=[skill_dir]) as f:
        head = f.read(8192)
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Collection, Iterator, Sequence
from pathlib import Path

from skilldeck.tools.errors import AccessDeniedError, InvalidInputError, NotFoundError

__all__ = ["OpenFile", "open_file", "read_limited", "real_path", "is_within", "leads_inside", "under_any",
           "check_within", "TooLargeError"]

_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
CHUNK = 1 << 16
MAX_LINE = 1 << 20  # longer lines are cut when read line by line


class TooLargeError(InvalidInputError):
    """A file is larger than the limit its reader allows."""


def under_any(path: Path, folders: Collection[Path]) -> bool:
    """`path` is one of `folders` (a set) or lexically below one: a set lookup per level of `path`,
    not a comparison per folder (a `git pull` of 5,000 files against 1,000 subscriptions froze the
    event loop 38 s as pairs)."""
    return path in folders or any(parent in folders for parent in path.parents)


def is_within(path: Path, bases: Sequence[Path]) -> bool:
    """True if the (already real) `path` is one of `bases` (real paths) or below one."""
    return _inside(str(path), [str(b) for b in bases])


def leads_inside(path: Path, bases: Sequence[Path]) -> bool:
    """Whether `path`, with every link followed, is one of the real `bases` or below one; False
    for a link loop or one that cannot be resolved."""
    try:
        return is_within(real_path(path), bases)
    except AccessDeniedError:
        return False


_O_PATH = getattr(os, "O_PATH", 0)  # Linux: a handle on the name only, nothing is opened for reading


def _real(path: str | os.PathLike[str]) -> str:
    """The real path as text (see `real_path`)."""
    if _O_PATH and sys.platform.startswith("linux"):
        # The kernel resolves it in one call (os.path.realpath costs an lstat per component in Python).
        try:
            fd = os.open(path, _O_PATH | os.O_CLOEXEC)
        except (OSError, ValueError):
            pass  # missing (the realpath below still resolves what exists), a loop, a NUL byte
        else:
            try:
                return os.readlink(f"/proc/self/fd/{fd}")
            except OSError:
                pass
            finally:
                os.close(fd)
    try:
        return os.path.realpath(path, strict=False)
    except (OSError, RuntimeError, ValueError) as exc:  # a loop; a NUL byte
        raise AccessDeniedError(f"{path} cannot be resolved ({exc}); refused") from exc


def real_path(path: Path) -> Path:
    """`path` with every symlink resolved; AccessDeniedError on a loop or an unresolvable link."""
    return Path(_real(path))


def _inside(real: str, bases: Sequence[str]) -> bool:
    return any(real == base or real.startswith(base.rstrip(os.sep) + os.sep) for base in bases)


def hidden_part(real: Path, bases: Sequence[Path]) -> str | None:
    """The first hidden name (".env", ".git") on the way from the base that holds the real path
    `real` down to it, or None. Hidden files hold secrets and tool state (.env, .git/config,
    .npmrc), so readers of paths a model chose refuse them even inside an allowed folder."""
    text = str(real)
    roots = [str(b).rstrip(os.sep) for b in bases]
    holding = [r for r in roots if text == r or text.startswith(r + os.sep)]
    if not holding:
        return None
    # The innermost base decides: the jobs folder may lie in ~/.local inside a project that is ~.
    parts = text[len(max(holding, key=len)):].split(os.sep)
    return next((p for p in parts if p.startswith(".") and p not in (".", "..")), None)


def check_within(path: Path, bases: Sequence[Path], what: str) -> Path:
    """Return the real path of `path` if it lies inside one of `bases`; else AccessDeniedError.

    A pre-check for paths that are not opened for reading here (a folder to write to, a glob match to
    list); readers still go through `open_file`, which checks the descriptor itself.
    """
    real = real_path(path)
    allowed = [real_path(b) for b in bases]
    if not is_within(real, allowed):
        where = ", ".join(str(b) for b in bases)
        raise AccessDeniedError(f"{what} {str(path)!r} is outside the folders it may use ({where}); refused")
    return real


def _descriptor_path(fd: int) -> Path | None:
    """Where the open file really is, or None where the platform cannot say."""
    if sys.platform.startswith("linux"):
        try:
            return Path(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            return None
    if sys.platform == "darwin":  # pragma: no cover - exercised on macOS only
        import fcntl

        try:
            raw = fcntl.fcntl(fd, fcntl.F_GETPATH, bytes(1024))  # type: ignore[attr-defined]
            return Path(os.fsdecode(raw.split(b"\0", 1)[0]))
        except (OSError, AttributeError):
            return None
    return None


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISDIR(mode):
        return "a folder"
    return "not a regular file"


class OpenFile:
    """A regular file opened for reading by `open_file`. Use as a context manager."""

    def __init__(self, fd: int, path: Path, real: Path | None, st: os.stat_result) -> None:
        self.fd, self.path, self.real, self.stat = fd, path, real, st
        self._file = os.fdopen(fd, "rb", buffering=0)

    @property
    def size(self) -> int:
        return self.stat.st_size

    def _room(self, want: int) -> int:
        """How much of `want` may still be read from the current position: the file as it was when
        opened, so a file that grows (or is appended to without end) is never followed."""
        return max(0, min(want, self.stat.st_size - self._file.tell()))

    def read(self, limit: int) -> bytes:
        """At most `limit` bytes from the current position, within the size the file had when opened."""
        parts, left = [], limit
        while left > 0:
            chunk = self._file.read(self._room(min(left, CHUNK)))
            if not chunk:
                break
            parts.append(chunk)
            left -= len(chunk)
        return b"".join(parts)

    def seek(self, offset: int) -> None:
        """Read on from byte `offset` (within the size the file had when opened)."""
        self._file.seek(max(0, min(offset, self.stat.st_size)))

    def read_all(self, limit: int, what: str) -> bytes:
        """The whole file, or TooLargeError naming `what` if it holds more than `limit` bytes."""
        data = self.read(limit + 1)
        if len(data) > limit:
            raise TooLargeError(f"{what} is larger than the {limit:,}-byte limit; refused")
        return data

    def lines(self, limit: int | None = None, max_line: int = MAX_LINE) -> Iterator[bytes]:
        """Lines (with their newline), read in chunks: memory stays flat however large the file.
        A line longer than `max_line` bytes is yielded cut to it (the rest of it is skipped), so
        line numbers still match the file's. `limit` caps the bytes read; reading stops at the size
        the file had when opened."""
        pending, skipping = b"", False
        left = limit if limit is not None else 1 << 62
        while left > 0:
            chunk = self._file.read(self._room(min(CHUNK, left)))
            if not chunk:
                break
            left -= len(chunk)
            start = 0
            if skipping:
                end = chunk.find(b"\n")
                if end == -1:
                    continue
                skipping, start = False, end + 1
            pending += chunk[start:]
            start = 0
            while (end := pending.find(b"\n", start)) != -1:
                yield pending[start:end + 1]
                start = end + 1
            pending = pending[start:]
            if len(pending) > max_line:
                yield pending[:max_line] + b"\n"
                pending, skipping = b"", True
        if pending:
            yield pending

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> OpenFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_file(path: Path | str, within: Sequence[Path] = (), *, what: str = "file",
              allow_hardlinks: bool = False, allow_hidden: bool = True, within_is_real: bool = False) -> OpenFile:
    """Open `path` for reading if it is a regular file (and, with `within`, really inside one of them;
    without `allow_hidden`, by no hidden name below that folder, see `hidden_part`).

    `within` is resolved at each call, unless `within_is_real`: then its paths are real paths taken
    as they are, so a folder swapped for a symlink since they were resolved leads outside them.

    Raises NotFoundError (missing), AccessDeniedError (outside, hard link, FIFO, device...),
    InvalidInputError (a NUL byte). Nothing that is not a regular file is ever opened blocking.
    """
    path = Path(path)
    if "\x00" in str(path):
        raise InvalidInputError(f"{what} path contains a NUL byte")
    bases = [str(b) for b in within] if within_is_real else [_real(b) for b in within]
    if within and not _inside(_real(path), bases):
        # Before anything follows the link: where it leads, and whether anything is there, stay unsaid.
        raise AccessDeniedError(f"{what} {str(path)!r} leads outside its folder; refused")
    try:
        before = os.stat(path)
    except FileNotFoundError as exc:
        raise NotFoundError(f"{what} {str(path)!r} does not exist") from exc
    except OSError as exc:  # a loop, a name too long, no permission
        raise AccessDeniedError(f"{what} {str(path)!r} cannot be opened ({exc.strerror or exc}); refused") from exc
    if not stat.S_ISREG(before.st_mode):
        raise AccessDeniedError(f"{what} {str(path)!r} is {_kind(before.st_mode)}; only regular files are read")
    try:
        fd = os.open(path, _FLAGS)
    except FileNotFoundError as exc:
        raise NotFoundError(f"{what} {str(path)!r} disappeared while being opened") from exc
    except OSError as exc:
        raise AccessDeniedError(f"{what} {str(path)!r} cannot be opened ({exc.strerror or exc}); refused") from exc
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):  # swapped between the stat and the open
            raise AccessDeniedError(f"{what} {str(path)!r} is {_kind(st.st_mode)}; only regular files are read")
        real = _confirm_location(fd, path, st, bases, what, allow_hardlinks)
        hidden = None if allow_hidden or real is None else hidden_part(real, [Path(b) for b in bases])
        if hidden:
            raise AccessDeniedError(f"{what} {str(path)!r} is inside or is the hidden {hidden!r} (hidden files hold "
                                    "secrets and tool state); refused")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return OpenFile(fd, path, real, st)
    except BaseException:
        os.close(fd)
        raise


def _confirm_location(fd: int, path: Path, st: os.stat_result, within: Sequence[str], what: str,
                      allow_hardlinks: bool) -> Path | None:
    if not within:
        return _descriptor_path(fd)
    real = _descriptor_path(fd)
    if real is None:  # no /proc: resolve the name, then make sure it names the file that is open
        real = real_path(path)
        try:
            again = os.stat(real)
        except OSError as exc:
            raise AccessDeniedError(f"{what} {str(path)!r} changed while being opened; refused") from exc
        if (again.st_dev, again.st_ino) != (st.st_dev, st.st_ino):
            raise AccessDeniedError(f"{what} {str(path)!r} changed while being opened; refused")
    if not _inside(str(real), list(within)):
        raise AccessDeniedError(f"{what} {str(path)!r} leads outside its folder; refused")
    if st.st_nlink > 1 and not allow_hardlinks:
        raise AccessDeniedError(f"{what} {str(path)!r} is a hard link (one of {st.st_nlink} names of the same file, "
                                "and the others may be outside); copy it instead of linking it")
    return real


def read_limited(path: Path | str, limit: int, within: Sequence[Path] = (), *, what: str = "file",
                 allow_hardlinks: bool = False) -> bytes:
    """The whole of a regular file, confined like `open_file`; TooLargeError past `limit` bytes."""
    with open_file(path, within, what=what, allow_hardlinks=allow_hardlinks) as f:
        return f.read_all(limit, what)
