"""Rules from the Agent Skills specification: frontmatter, name, description, compatibility, metadata."""

from __future__ import annotations

import re

from skilldeck.tools.skills.frontmatter import short_repr
from skilldeck.tools.skills.lint.model import Finding
from skilldeck.tools.skills.lint.source import SkillSource
from skilldeck.tools.skills.skill import KNOWN_FIELDS

__all__ = ["check_spec", "SPEC_FIELDS"]

SPEC_FIELDS = frozenset({"name", "description", "license", "compatibility", "metadata", "allowed-tools"})
_NAME = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


def check_spec(src: SkillSource) -> list[Finding]:
    out: list[Finding] = []
    if src.parsed.refused:  # past a bound of the parser: nothing in it was read, so nothing else to check
        return [Finding("frontmatter", "error", message, line=line) for line, message in src.parsed.problems]
    if not src.parsed.has_frontmatter:
        return [Finding("frontmatter", "error", "SKILL.md has no YAML frontmatter: start it with '---', then "
                        "'name:' and 'description:' lines, then '---'", line=1)]
    for line, message in src.parsed.problems:
        out.append(Finding("frontmatter", "error", message, line=line))
    out += _name(src)
    out += _description(src)
    out += _compatibility(src)
    out += _metadata(src)
    out += _unknown(src)
    return out


def _name(src: SkillSource) -> list[Finding]:
    name = src.fields.get("name")
    folder = src.dir.name
    if name is None or (isinstance(name, str) and not name.strip()):
        return [Finding("name", "error", f"no 'name' in the frontmatter; add 'name: {folder}'", line=2)]
    line = src.line_of("name")
    if not isinstance(name, str):
        return [Finding("name", "error", f"'name' must be text, got {type(name).__name__}", line=line)]
    out = []
    problems = []
    if len(name) > 64:
        problems.append(f"is {len(name)} characters (at most 64)")
    if not _NAME.match(name):
        if re.search(r"[^a-z0-9-]", name):
            problems.append("may use only lower-case letters, digits and hyphens")
        if name.startswith("-") or name.endswith("-"):
            problems.append("must not start or end with a hyphen")
        if "--" in name:
            problems.append("must not contain '--'")
    if problems:
        suggestion = re.sub(r"-+", "-", re.sub(r"[^a-z0-9]+", "-", re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", name).lower()))
        out.append(Finding("name", "error", f"name {short_repr(name, 80)} {'; '.join(problems)}; e.g. "
                           f"{suggestion.strip('-')[:64]!r}", line=line))
    if name != folder:
        out.append(Finding("name-folder", "error", f"name {short_repr(name, 80)} differs from its folder {folder!r}; "
                           "rename one so they match", line=line))
    return out


def _description(src: SkillSource) -> list[Finding]:
    desc = src.fields.get("description")
    line = src.line_of("description")
    if desc is None or (isinstance(desc, str) and not desc.strip()):
        return [Finding("description", "error", "no 'description': agents cannot tell when to use this skill; "
                        "say what it does and when to use it", line=line or 2)]
    if not isinstance(desc, str):
        return [Finding("description", "error", f"'description' must be text, got {type(desc).__name__}",
                        line=line)]
    if len(desc) > 1024:
        return [Finding("description", "error", f"description is {len(desc)} characters (at most 1024); "
                        "keep what decides when to use the skill and move the rest into the body", line=line)]
    return []


def _compatibility(src: SkillSource) -> list[Finding]:
    value = src.fields.get("compatibility")
    if value is None:
        return []
    line = src.line_of("compatibility")
    if not isinstance(value, str):
        return [Finding("compatibility", "error", f"'compatibility' must be text, got {type(value).__name__}",
                        line=line)]
    if not value.strip() or len(value) > 500:
        return [Finding("compatibility", "error", f"compatibility is {len(value)} characters (1 to 500)",
                        line=line)]
    return []


def _metadata(src: SkillSource) -> list[Finding]:
    value = src.fields.get("metadata")
    if value is None:
        return []
    line = src.line_of("metadata")
    if not isinstance(value, dict):
        return [Finding("metadata", "error", f"'metadata' must map text keys to text values, got "
                        f"{type(value).__name__}", line=line)]
    bad = [f"{short_repr(k, 40)} ({type(v).__name__})" for k, v in value.items()
           if not isinstance(k, str) or not isinstance(v, str)]
    if bad:
        shown = ", ".join(bad[:10]) + (f" and {len(bad) - 10} more" if len(bad) > 10 else "")
        return [Finding("metadata", "error", f"metadata values must be text; quote these: {shown}",
                        line=line)]
    return []


def _unknown(src: SkillSource) -> list[Finding]:
    out = []
    for key in sorted(src.fields):
        if key in SPEC_FIELDS:
            continue
        if key in KNOWN_FIELDS:
            out.append(Finding("unknown-field", "info", f"'{key}' is a client extension, not in the Agent Skills "
                               "spec; other clients ignore it", line=src.line_of(key)))
        else:
            out.append(Finding("unknown-field", "warning", f"'{key}' is not an Agent Skills field; put custom "
                               "values under 'metadata:'", line=src.line_of(key)))
    return out
