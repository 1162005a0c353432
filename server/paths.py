"""The one confinement for every file path an MCP tool takes from the model.

A tool that reads a file and returns or forwards its content (evidence quotes, batch tasks,
datasets) or writes one (dataset splits, training output) must not become a way to read
~/.aws/credentials or to write over ~/.bashrc. Every such path goes through `Confinement`:

    where = Confinement.from_settings(settings, jobs_dir=jobs.root)
    where.allowed_path("data/train.jsonl", "train_path")          # -> real absolute Path
    where.allowed_path("out", "write_splits_to", write=True)       # a folder to write into
    where.allowed_model("Qwen/Qwen2-0.5B", "base_model")           # a hub id stays a hub id
    where.allowed_pattern("docs/**/*.md", "paths[0]")              # a glob; matches are checked again

Allowed folders: the project (``project_dir``, else the working directory) for everything;
``data_dirs`` for data (read and write); ``model_dirs`` and the server's own jobs folder (the
adapters training jobs wrote) for models, read only. Paths are resolved (symlinks included)
before the check, so a link out of the project is refused like the path it leads to. The CLI,
driven by a person, does not use this.
"""

from __future__ import annotations

import glob
import os
import re
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from skilldeck.tools.errors import AccessDeniedError, InvalidInputError
from skilldeck.tools.fs import hidden_part, is_within, real_path

__all__ = ["Confinement", "MAX_PATH_CHARS", "check_text"]

MAX_PATH_CHARS = 4096  # PATH_MAX on Linux: longer is never a real path
MAX_MODEL_ENTRIES = 20_000  # files and folders checked in a local model folder
Kind = Literal["data", "model"]
# "Qwen/Qwen2-0.5B", "gpt2": a Hugging Face hub id (at most one slash, no leading dot or slash).
_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*)?$")
_HOW = ("give a path inside the project folder, or ask the user to allow the folder in the server's "
        "configuration (--data-dir / --model-dir DIR, SKILLDECK_DATA_DIRS / SKILLDECK_MODEL_DIRS, or "
        "data_dirs / model_dirs in skilldeck.toml)")


def _shown(raw: str) -> str:
    return repr(raw if len(raw) <= 120 else raw[:100] + "...")


def check_text(raw: object, what: str) -> str:
    """`raw` as a path string, or InvalidInputError naming `what` (not a string, blank, NUL, too long)."""
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidInputError(f"{what} must be a non-empty path (relative to the project folder), "
                                f"not {raw!r}")
    if "\x00" in raw:
        raise InvalidInputError(f"{what} {_shown(raw)} contains a NUL byte; give a plain file path")
    if len(raw) > MAX_PATH_CHARS:
        raise InvalidInputError(f"{what} is {len(raw):,} characters long; a path is at most "
                                f"{MAX_PATH_CHARS:,} characters")
    return raw.strip()


def _check_model_file(path: Path, what: str, raw: str) -> None:
    """A model given as one file (a GGUF) is read by the job, not by `fs`: it must be a regular file
    (a FIFO would stall the job) and not a hard link (its other names may be outside)."""
    st = path.stat()
    if not stat.S_ISREG(st.st_mode):
        raise InvalidInputError(f"{what} {_shown(raw)} is not a regular file (a pipe, socket or device)")
    if st.st_nlink > 1:
        raise InvalidInputError(f"{what} {_shown(raw)} is a hard link (its other names may be outside the "
                                "allowed folders); copy the file instead")


@dataclass(frozen=True)
class Confinement:
    """The folders MCP tools may use, built once from the settings."""

    project: Path
    data_dirs: tuple[Path, ...] = ()
    model_dirs: tuple[Path, ...] = ()

    @classmethod
    def from_settings(cls, settings: Any, jobs_dir: Path | None = None) -> Confinement:
        project = Path(settings.project_dir or Path.cwd()).expanduser()
        models = [Path(p).expanduser() for p in getattr(settings, "model_dirs", None) or []]
        if jobs_dir is not None:
            models.append(Path(jobs_dir))
        data = tuple(Path(p).expanduser() for p in getattr(settings, "data_dirs", None) or [])
        return cls(project, data, tuple(models))

    def bases(self, kind: Kind = "data", write: bool = False) -> list[Path]:
        """The folders a path of this kind may lie in (writes: the project and data_dirs only)."""
        extra = self.data_dirs if write or kind == "data" else self.data_dirs + self.model_dirs
        return [self.project, *extra]

    def _refusal(self, what: str, raw: str, kind: Kind, write: bool, via_link: bool) -> AccessDeniedError:
        others = [str(b) for b in self.bases(kind, write)[1:]]
        where = f"the project folder {self.project}" + (f" and {', '.join(others)}" if others else "")
        how = " through a symlink" if via_link else ""
        verb = "writes" if write else "reads"
        return AccessDeniedError(f"{what} {_shown(raw)} leads outside {where}{how}; this tool {verb} files only "
                                 f"there, so {_HOW}")

    def allowed_path(self, raw: object, what: str, kind: Kind = "data", write: bool = False) -> Path:
        """The real absolute path of `raw` (relative paths start at the project) if it is allowed.

        Raises InvalidInputError (not a usable path) or AccessDeniedError (outside), naming `what`.
        """
        text = check_text(raw, what)
        if re.match(r"^[A-Za-z]:[\\/]", text) or text.startswith("\\\\"):
            raise self._refusal(what, text, kind, write, False)  # a Windows drive or share
        path = Path(os.path.expanduser(text))
        full = path if path.is_absolute() else self.project / path
        bases = self.bases(kind, write)
        real = real_path(full)
        allowed = [real_path(b) for b in bases]
        if not is_within(real, allowed):
            lexical = Path(os.path.normpath(full))
            via_link = is_within(lexical, [Path(os.path.normpath(b.absolute())) for b in bases])
            raise self._refusal(what, text, kind, write, via_link)
        hidden = hidden_part(real, allowed)
        if hidden:
            raise AccessDeniedError(f"{what} {_shown(text)} is inside or is the hidden {hidden!r}; tools do not read or "
                                    "write hidden files and folders (they hold secrets such as .env and tool state "
                                    "such as .git), so give a path without a name that starts with '.'")
        if kind == "model" and not write and real.is_dir():
            self._check_model_folder(real, allowed, what, text)
        elif kind == "model" and not write and real.exists():
            _check_model_file(real, what, text)
        return real

    def _check_model_folder(self, folder: Path, allowed: list[Path], what: str, raw: str) -> None:
        """A model folder is read by transformers, not by `fs`: check what it holds before a job does.

        Every entry must be a regular file or a folder, and a symlink must lead inside the allowed
        folders (a Hugging Face cache links snapshots to its blobs, inside the same cache). A FIFO
        would stall the training job; a link to ~/.ssh would have it read that file.
        """
        seen, stack = 0, [folder]
        while stack:  # by hand, not os.walk: it recurses once per level, and a chain of 1,200 folders broke it
            top = stack.pop()
            try:
                with os.scandir(top) as it:
                    names = sorted(e.name for e in it)
            except OSError:
                continue
            for name in names:
                seen += 1
                if seen > MAX_MODEL_ENTRIES:
                    raise InvalidInputError(f"{what} {_shown(raw)} holds more than {MAX_MODEL_ENTRIES:,} files and "
                                            "folders; give the model's own folder")
                entry = Path(top) / name
                try:
                    target = entry.stat()  # follows a link: what transformers would open
                except OSError:
                    raise InvalidInputError(f"{what} {_shown(raw)}: {entry.relative_to(folder)} is a broken "
                                            "link or cannot be read") from None
                if entry.is_symlink() and not is_within(real_path(entry), allowed):
                    raise self._refusal(what, f"{raw}/{entry.relative_to(folder)}", "model", False, True)
                if not (stat.S_ISREG(target.st_mode) or stat.S_ISDIR(target.st_mode)):
                    raise InvalidInputError(f"{what} {_shown(raw)}: {entry.relative_to(folder)} is not a regular "
                                            "file (a pipe, socket or device); a model folder holds files only")
                if stat.S_ISDIR(target.st_mode) and not entry.is_symlink():
                    stack.append(entry)

    def allowed_model(self, raw: object, what: str) -> str:
        """A hub id ("Qwen/Qwen2-0.5B") as given, or the confined real path of a local model folder.

        Anything that looks like a path (".", "/", "~", "..", more than one slash) or exists as one
        under the project or the working directory is a local path and must lie in an allowed folder.
        """
        text = check_text(raw, what)
        is_hub = bool(_HUB_ID.match(text)) and ".." not in text
        if is_hub and not (self.project / text).exists() and not Path(text).exists():
            return text
        return str(self.allowed_path(text, what, kind="model"))

    def allowed_pattern(self, raw: object, what: str) -> str:
        """A file path or glob whose fixed leading part is allowed, as an absolute pattern.

        The matches of a glob can still lead anywhere through symlinks: readers check each one
        against `bases()` again (`skilldeck.tools.verify.evidence` does, reading through
        `skilldeck.tools.fs.open_file`).
        """
        text = check_text(raw, what)
        if not glob.has_magic(text):
            return str(self.allowed_path(text, what))
        parts = PurePosixPath(text.replace("\\", "/")).parts
        if ".." in parts:
            raise self._refusal(what, text, "data", False, False)
        hidden = next((p for p in parts if p.startswith(".") and p != "."), None)
        if hidden:
            raise AccessDeniedError(f"{what} {_shown(text)} names hidden files ({hidden!r}); tools do not read hidden "
                                    "files and folders (they hold secrets such as .env), so match names that do not "
                                    "start with '.'")
        fixed = next(i for i, p in enumerate(parts) if glob.has_magic(p))
        head = self.allowed_path(str(PurePosixPath(*parts[:fixed])) if fixed else ".", what)
        return str(head / PurePosixPath(*parts[fixed:]))

    def allowed_paths(self, raws: Sequence[object], what: str) -> list[str]:
        """`allowed_pattern` for each item; errors name the item: ``paths[2] '/etc/passwd' ...``."""
        return [self.allowed_pattern(raw, f"{what}[{i}]") for i, raw in enumerate(raws)]
