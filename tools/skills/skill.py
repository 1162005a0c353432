"""One skill as the index knows it: its frontmatter, where it lives, and its problems.

`load_skill(folder, root)` reads only SKILL.md (never reference files) and never raises:
anything wrong becomes a `Diagnostic` attached to the skill.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from skilldeck.tools.errors import SkilldeckError
from skilldeck.tools.fs import open_file, real_path
from skilldeck.tools.skills.frontmatter import parse_skill_md, short_repr
from skilldeck.tools.skills.names import NAME_RULES, printable, unsafe_char, valid_name

logger = logging.getLogger(__name__)

__all__ = ["Diagnostic", "Skill", "SkillRoot", "load_skill", "SKILL_FILE", "MAX_SKILL_MD_BYTES"]

SKILL_FILE = "SKILL.md"
MAX_SKILL_MD_BYTES = 1_000_000
HEAD_BYTES = 4096
_FENCE = re.compile(rb"\n(?:---|\.\.\.)[ \t]*\r?(?:\n|$)")
KNOWN_FIELDS = frozenset({
    "name", "description", "license", "compatibility", "metadata", "allowed-tools", "when_to_use",
    "when-to-use", "disable-model-invocation", "user-invocable", "argument-hint", "model", "version",
})


@dataclass(frozen=True)
class Diagnostic:
    """A problem with a skill, shown to the user; it never stops other skills from loading."""

    level: Literal["error", "warning", "info"]
    message: str
    path: str = SKILL_FILE  # relative to the skill's folder
    line: int | None = None

    def to_dict(self) -> dict[str, Any]:
        where = self.path + (f":{self.line}" if self.line else "")
        return {"level": self.level, "where": where, "message": self.message}


@dataclass(frozen=True)
class SkillRoot:
    """A folder that holds skills; `label` says where it came from (flag, project, user, bundled)."""

    path: Path
    label: str

    @property
    def trusted(self) -> bool:
        """skilldeck's own bundled skills: package installers may hard-link their files from a cache."""
        return self.label == "bundled"


@dataclass
class Skill:
    name: str
    description: str
    dir: Path
    root: SkillRoot
    when_to_use: str = ""
    allowed_tools: list[str] = field(default_factory=list)
    model_invocable: bool = True   # False with `disable-model-invocation: true`
    user_invocable: bool = True    # False with `user-invocable: false`
    argument_hint: str = ""
    license: str = ""
    compatibility: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    _headings: list[str] | None = field(default=None, repr=False)
    body_line: int = 1
    body_chars: int = 0
    mtime_ns: int = 0
    size: int = 0
    diagnostics: list[Diagnostic] = field(default_factory=list)
    served: bool = True            # False when SKILL.md cannot be read safely or no usable name exists
    real_dir: Path | None = field(default=None, repr=False)  # the folder's real path when SKILL.md was read

    @property
    def trusted(self) -> bool:
        return self.root.trusted

    @property
    def files_dir(self) -> Path:
        """Where the skill's files are read from, and the bound they must stay inside: the real
        folder its SKILL.md was read from. A folder swapped for a symlink after indexing (a `git
        pull` can do that) moves `dir` elsewhere, never this: reads fail until it is read again."""
        return self.real_dir or self.dir

    @property
    def skill_md(self) -> Path:
        return self.dir / SKILL_FILE

    @property
    def headings(self) -> list[str]:
        """SKILL.md's level 1-3 headings, read on first use (indexing reads only the frontmatter)."""
        if self._headings is None:
            try:
                self._headings = _headings(read_body(self))
            except (OSError, SkilldeckError):
                self._headings = []
        return self._headings

    def summary(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "root": self.root.label,
                "path": str(self.dir), "problems": [d.to_dict() for d in self.diagnostics]}


def _as_bool(value: Any, default: bool, key: str, diags: list[Diagnostic]) -> bool:
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "on", "1"):
        return True
    if text in ("false", "no", "off", "0"):
        return False
    diags.append(Diagnostic("warning", f"'{key}' should be true or false, got {short_repr(value)}; using {default}"))
    return default


def _as_text(value: Any, key: str, diags: list[Diagnostic]) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    diags.append(Diagnostic("warning", f"'{key}' should be text, got {type(value).__name__}"))
    return str(value)


def _tools(value: Any, diags: list[Diagnostic]) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [t.strip() for t in re.split(r"[,\s]+(?![^()]*\))", value) if t.strip()]
    if isinstance(value, list):
        return [str(t).strip() for t in value if str(t).strip()]
    diags.append(Diagnostic("warning", f"'allowed-tools' should be a list or a string, got {type(value).__name__}"))
    return []


_MAX_METADATA_NOTES = 5


def _metadata(value: Any, diags: list[Diagnostic]) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        diags.append(Diagnostic("warning", f"'metadata' should be a mapping, got {type(value).__name__}; ignored"))
        return {}
    out, converted = {}, 0
    for k, v in value.items():
        if not isinstance(v, str):
            converted += 1
            if converted <= _MAX_METADATA_NOTES:  # one note per value would flood a large mapping
                diags.append(Diagnostic("info", f"metadata value for {short_repr(k, 80)} is {type(v).__name__}, "
                                        "not text; converted to text"))
        out[_one_line(str(k))] = _one_line(v if isinstance(v, str) else str(v))
    if converted > _MAX_METADATA_NOTES:
        diags.append(Diagnostic("info", f"{converted - _MAX_METADATA_NOTES} more metadata values are not text; "
                                "converted to text"))
    return out


def _headings(body: str, limit: int = 40) -> list[str]:
    """Level 1-3 markdown headings. Jumps between "\n#" with str.find: at 10,000 skills a
    line-by-line scan or a multiline regex costs about a second of start-up."""
    found: list[str] = []
    pos = 0 if body.startswith("#") else body.find("\n#") + 1
    while pos > 0 or (pos == 0 and body.startswith("#") and not found):
        end = body.find("\n", pos)
        line = body[pos:] if end == -1 else body[pos:end]
        level = len(line) - len(line.lstrip("#"))
        title = line[level:].strip().rstrip("#").strip()
        if level <= 3 and title and line[level:level + 1] in (" ", "\t"):
            found.append(title)
            if len(found) == limit:
                break
        if end == -1:
            break
        pos = body.find("\n#", end) + 1
    return found


def _one_line(text: str) -> str:
    """Text for one catalog line: whitespace runs become one space; control, bidi and zero-width
    characters are dropped, so a description cannot start a line of its own or reorder what follows."""
    text = " ".join(text.split())
    if unsafe_char(text) is not None:
        text = " ".join("".join(ch for ch in text if not unsafe_char(ch)).split())
    return text


def _open_skill_md(folder: Path, root: SkillRoot):
    """SKILL.md of `folder` (a real path: see `Skill.files_dir`), confined to it as it is."""
    return open_file(folder / SKILL_FILE, within=[folder], what=SKILL_FILE,
                     allow_hardlinks=root.trusted, allow_hidden=False, within_is_real=True)


_PLAIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._ -]*$")


def rules_form(name: str) -> str:
    """The naming rules' form of a plain-ASCII name: ``file_reader``, ``PDF Tools``, ``my.skill`` ->
    ``file-reader``, ``pdf-tools``, ``my-skill``; "" for anything else (other scripts, symbols)."""
    if not _PLAIN.match(name):
        return ""
    return re.sub(r"-{2,}", "-", re.sub(r"[._ ]", "-", name.lower())).strip("-")


def _choose_name(declared: str, folder: Path, diags: list[Diagnostic]) -> str | None:
    """The name a skill is served under: the declared name if it follows the rules; else the
    folder's name if that does; else the rules' form of the declared (else the folder's) name, when
    that is plain ASCII (``file_reader`` is served as ``file-reader``); else None: not served. The served
    name is always one the rules allow, so it is listed and searchable like any other, and a
    look-alike (capitals, spaces, invisible characters) is never shown."""
    if declared and valid_name(declared):
        return declared
    what = (f"name {printable(declared, 80)!r} breaks the naming rules ({NAME_RULES})" if declared
            else "no 'name' in frontmatter")
    if valid_name(folder.name):
        diags.append(Diagnostic("error" if declared else "warning",
                                f"{what}; served as its folder name {folder.name!r}"))
        return folder.name
    for fixed in (rules_form(declared), rules_form(folder.name)):
        if valid_name(fixed):
            diags.append(Diagnostic("error", f"{what}, and so does the folder name; it takes the name {fixed!r}"))
            return fixed
    diags.append(Diagnostic("error", f"{what}, and so does the folder name {printable(folder.name, 80)!r}; "
                            "not served"))
    return None


def load_skill(folder: Path, root: SkillRoot) -> Skill:
    """Read `folder/SKILL.md` leniently and return the skill with its diagnostics; never raises.

    Whatever a stranger's SKILL.md makes go wrong is this skill's problem: it is not served, the
    error is its diagnostic, and every other skill still loads (a catalog reload reads them all)."""
    try:
        return _load_skill(folder, root)
    except Exception as exc:  # noqa: BLE001 - one hostile skill must not stop the server or a reload
        logger.warning("skill folder %s could not be read: %s: %s", folder, type(exc).__name__, exc)
        return Skill(name=printable(folder.name, 64), description="", dir=folder, root=root, served=False,
                     diagnostics=[Diagnostic("error", f"SKILL.md could not be read ({type(exc).__name__}: "
                                                      f"{printable(str(exc), 200)}); not served")])


def _load_skill(folder: Path, root: SkillRoot) -> Skill:
    diags: list[Diagnostic] = []
    bad = unsafe_char(folder.relative_to(root.path).as_posix()) if folder.is_relative_to(root.path) else None
    if bad is not None:  # an undecodable byte (a surrogate) or a control character in a folder name
        return Skill(name=printable(folder.name, 64), description="", dir=folder, root=root, served=False,
                     diagnostics=[Diagnostic("error", f"the folder's path holds U+{ord(bad):04X} (a control or "
                                                      "format character, or a byte that is not UTF-8); not served")])
    try:
        real_dir = real_path(folder)
        with _open_skill_md(real_dir, root) as fh:
            stat = fh.stat
            # The frontmatter is at the top: read a head first, the rest only if the fence is not in it.
            raw = fh.read(HEAD_BYTES)
            if len(raw) == HEAD_BYTES and raw.startswith(b"---") and not _FENCE.search(raw, 3):
                raw += fh.read(MAX_SKILL_MD_BYTES + 1 - HEAD_BYTES)
    except (OSError, SkilldeckError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return Skill(name=printable(folder.name, 64), description="", dir=folder, root=root, served=False,
                     diagnostics=[Diagnostic("error", f"cannot read SKILL.md: {reason}; not served")])
    if len(raw) > MAX_SKILL_MD_BYTES:
        raw = raw[:MAX_SKILL_MD_BYTES]
        diags.append(Diagnostic("error", f"SKILL.md is larger than {MAX_SKILL_MD_BYTES} bytes; only the start is read"))
    text = raw.decode("utf-8", errors="replace")
    if "\ufffd" in text[:-4] and b"\xef\xbf\xbd" not in raw:
        diags.append(Diagnostic("warning", "SKILL.md is not valid UTF-8; undecodable bytes were replaced"))
    parsed = parse_skill_md(text)
    diags += [Diagnostic("warning" if parsed.has_frontmatter else "error", msg, SKILL_FILE, line)
              for line, msg in parsed.problems]
    f = parsed.fields

    name = _choose_name(_as_text(f.get("name"), "name", diags), folder, diags)
    served = name is not None
    name = name or printable(folder.name, 64)
    description = _as_text(f.get("description"), "description", diags)
    if not description:
        diags.append(Diagnostic("error", "no 'description': agents cannot tell when to use this skill"))
    unknown = sorted(set(f) - KNOWN_FIELDS)
    if unknown:
        diags.append(Diagnostic("info", f"fields not in the Agent Skills spec: {', '.join(unknown)}"))

    body = parsed.body
    return Skill(
        name=name, description=_one_line(description), dir=folder, root=root,
        # Every field a client shows or a model reads as the server's own text is one clean line:
        # a newline in allowed-tools wrote a fake <skill> block after use_skill's real one.
        when_to_use=_one_line(_as_text(f.get("when_to_use", f.get("when-to-use")), "when_to_use", diags)),
        allowed_tools=[t for t in (_one_line(t) for t in _tools(f.get("allowed-tools"), diags)) if t],
        model_invocable=not _as_bool(f.get("disable-model-invocation"), False, "disable-model-invocation", diags),
        user_invocable=_as_bool(f.get("user-invocable"), True, "user-invocable", diags),
        argument_hint=_one_line(_as_text(f.get("argument-hint"), "argument-hint", diags)),
        license=_one_line(_as_text(f.get("license"), "license", diags)),
        compatibility=_one_line(_as_text(f.get("compatibility"), "compatibility", diags)),
        metadata=_metadata(f.get("metadata"), diags),
        body_line=parsed.body_line, body_chars=max(0, stat.st_size - (len(raw) - len(body.encode()))),
        mtime_ns=stat.st_mtime_ns, size=stat.st_size,
        diagnostics=diags, served=served, real_dir=real_dir,
    )


def read_body(skill: Skill) -> str:
    """Read the current SKILL.md body (without frontmatter) from disk, confined to the skill's folder."""
    with _open_skill_md(skill.files_dir, skill.root) as fh:
        text = fh.read(MAX_SKILL_MD_BYTES).decode("utf-8", errors="replace")
    return parse_skill_md(text).body
