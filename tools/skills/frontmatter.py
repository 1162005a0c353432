"""Lenient SKILL.md parsing: real-world frontmatter is often not valid YAML.

`parse_skill_md(text)` never raises. It returns the fields it could read, the body, the
line where the body starts, and a list of problems. Strict YAML is tried first; when it
fails, a forgiving line reader recovers ``key: value`` pairs (values may contain colons),
indented continuation lines and block scalars (``|``, ``>``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ParsedSkillMd", "parse_skill_md", "split_frontmatter"]

_SIMPLE_LINE = re.compile(r"""^([A-Za-z_][\w-]*): ([^\s'"&*!|>%@`{\[#?,:-][^\t]*?)\s*$""")
_KEY_LINE = re.compile(r"^([A-Za-z_][\w-]*)\s*:(?:\s(.*)|)$")


@dataclass
class ParsedSkillMd:
    fields: dict[str, Any]
    body: str
    body_line: int  # 1-based line number of the body's first line in SKILL.md
    problems: list[tuple[int, str]] = field(default_factory=list)  # (line, message)
    has_frontmatter: bool = True


def _normalise(text: str) -> str:
    text = text.lstrip("\ufeff")
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


def split_frontmatter(text: str) -> tuple[str | None, str, int]:
    """Return (frontmatter or None, body, 1-based line where the body starts)."""
    text = _normalise(text)
    start = text.find("\n") + 1
    if start == 0 or text[:start].strip() != "---":
        return None, text, 1
    pos = start
    while True:
        end = text.find("\n", pos)
        line = text[pos:] if end == -1 else text[pos:end]
        if line.strip() in ("---", "..."):
            front = text[start:pos].removesuffix("\n")
            body = "" if end == -1 else text[end + 1:]
            return front, body, text.count("\n", 0, pos) + 2
        if end == -1:
            return None, text, 1  # an opening fence with no closing one: treat it all as body
        pos = end + 1


def _simple_fields(front: str) -> dict[str, str] | None:
    """Fast path for the common case: only ``key: plain text`` lines.

    Returns None unless every line is a key with a plain scalar that YAML would read as the
    same text (no quotes, block markers, flow collections, anchors, tags or comments), so
    anything unusual still goes through the real YAML parser.
    """
    fields: dict[str, str] = {}
    for line in front.split("\n"):
        match = _SIMPLE_LINE.match(line)
        if not match:
            return None
        value = match.group(2)
        if ": " in value or " #" in value or value.endswith(":"):
            return None
        fields[match.group(1)] = value
    return fields


def _fallback_yaml(front: str) -> tuple[dict[str, Any], list[tuple[int, str]]]:
    """Recover top-level keys from frontmatter that is not valid YAML."""
    fields: dict[str, Any] = {}
    problems: list[tuple[int, str]] = []
    key: str | None = None
    chunks: list[str] = []
    block = ""

    def flush() -> None:
        if key is None:
            return
        if block:
            joiner = "\n" if block.startswith("|") else " "
            fields[key] = joiner.join(c.strip() for c in chunks if c.strip())
        else:
            value = " ".join(c.strip() for c in chunks).strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            fields[key] = value

    for lineno, line in enumerate(front.split("\n"), start=2):
        match = _KEY_LINE.match(line)
        if match and not line[:1].isspace():
            flush()
            key, rest = match.group(1), (match.group(2) or "").strip()
            block = rest if rest[:1] in ("|", ">") else ""
            chunks = [] if block else [rest]
        elif key is not None and (line[:1].isspace() or not line.strip()):
            chunks.append(line)
        elif line.strip() and not line.lstrip().startswith("#"):
            problems.append((lineno, f"ignored frontmatter line that is not 'key: value': {line.strip()[:80]!r}"))
    flush()
    for k, v in fields.items():
        if isinstance(v, str) and v.startswith("[") and v.endswith("]"):
            fields[k] = [p.strip().strip("'\"") for p in v[1:-1].split(",") if p.strip()]
    return fields, problems


def parse_skill_md(text: str) -> ParsedSkillMd:
    """Parse SKILL.md text leniently; never raises."""
    front, body, body_line = split_frontmatter(text)
    if front is None:
        return ParsedSkillMd({}, body, body_line, [(1, "no YAML frontmatter (--- ... ---) at the top")], False)
    problems: list[tuple[int, str]] = []
    simple = _simple_fields(front)
    if simple is not None:
        return ParsedSkillMd(simple, body, body_line, problems)
    # Imported here: most SKILL.md files take the fast path, and start-up need not pay for PyYAML.
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml is ~10x faster where present
    try:
        data = yaml.load(front, Loader=loader)  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 2 if mark is not None else 2
        reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        problems.append((line, f"frontmatter is not valid YAML ({reason}); read it leniently instead"))
        data, more = _fallback_yaml(front)
        problems += more
    if data is None:
        data = {}
    if not isinstance(data, dict):
        problems.append((2, f"frontmatter must be a mapping of keys to values, not {type(data).__name__}"))
        data = {}
    return ParsedSkillMd({str(k): v for k, v in data.items()}, body, body_line, problems)
