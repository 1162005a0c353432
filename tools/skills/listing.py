"""The catalog text the model sees at session start: names and descriptions within a byte budget."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import re
from collections.abc import Callable, Sequence

from skilldeck.tools.skills.names import neutralise_tags
from skilldeck.tools.skills.skill import Skill

__all__ = ["render_catalog", "fair_order", "render_matches", "render_activation", "render_file"]

_MAX_DESC = 300
_MIN_WIDTH = 40


_TRIGGER = re.compile(r"\b(use (?:this|it)?\s*(?:skill\s*)?(?:when|whenever|for|if)|trigger)", re.IGNORECASE)


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1].rsplit(" ", 1)[0] + "…"


def shorten_description(desc: str, width: int) -> str:
    """Fit a description in `width` characters, keeping its "Use when ..." clause if it has one:
    that clause is what tells a model when to pick the skill."""
    if len(desc) <= width:
        return desc
    match = _TRIGGER.search(desc)
    if not match or match.start() < 20:
        return _cut(desc, width)
    head = _cut(desc[: match.start()].rstrip(" .,;"), int(width * 0.45))
    return f"{head.rstrip('…')}… {_cut(desc[match.start():], width - len(head) - 2)}"


def _line(skill: Skill, width: int) -> str:
    return f"- {skill.name}: {shorten_description(skill.description or '(no description)', width)}"


def _size_note(size_bytes: int) -> str:
    # tiktoken is not loaded for tools/list (it costs start-up time), so this one figure is a
    # bytes/4 estimate; bodies and files report tiktoken counts.
    return f"\n(this list: ~{-(-size_bytes // 4)} tokens, estimated as bytes/4)"


def render_catalog(intro: str, skills: Sequence[Skill], budget_bytes: int,
                   overflow_order: Callable[[Sequence[Skill]], Sequence[Skill]] | None = None) -> str:
    """Return `intro` plus one line per skill, cut to fit `budget_bytes` (UTF-8).

    Descriptions are shortened first; if the list still does not fit, it stops early and
    says how many skills are not shown and that find_skills searches all of them. Which skills make
    it into a cut list is decided by `overflow_order` (default: as given), so that names chosen to
    sort first cannot take the whole budget. The text ends with its own size in tokens.
    """
    visible = [s for s in skills if s.model_invocable]
    header = f"{intro}\nSkills available ({len(visible)}):"
    room = budget_bytes - len(_size_note(budget_bytes))

    def full_list(width: int) -> str:
        return "\n".join([header, *(_line(s, width) for s in visible)])

    # Cheap lower bound first: at thousands of skills no width fits, so skip the search.
    if len(header) + sum(len(s.name) + 5 + _MIN_WIDTH for s in visible) <= room:
        lo, hi = _MIN_WIDTH, _MAX_DESC  # the widest descriptions that still fit, by bisection
        if len(full_list(lo).encode()) <= room:
            while lo < hi:
                mid = (lo + hi + 1) // 2
                lo, hi = (mid, hi) if len(full_list(mid).encode()) <= room else (lo, mid - 1)
            text = full_list(lo)
            return text + _size_note(len(text.encode()))
    budget_bytes -= len(_size_note(budget_bytes))
    if overflow_order is not None:
        visible = list(overflow_order(visible))
    chosen: list[str] = []
    used = len(header.encode())
    for shown, skill in enumerate(visible):
        line = _line(skill, 80)
        tail = (f"\n… and {len(visible) - shown} more not listed here (the list exceeds this description's "
                "size limit). Call find_skills with the task to search all of them.")
        if used + len(line.encode()) + 1 + len(tail.encode()) > budget_bytes:
            text = "\n".join([header, *sorted(chosen)]) + tail
            return text + _size_note(len(text.encode()))
        chosen.append(line)
        used += len(line.encode()) + 1
    return "\n".join([header, *sorted(chosen)])


def fair_order(skills: Sequence[Skill], roots: Sequence[object], key: bytes) -> list[Skill]:
    """The order in which a catalog too long for its budget admits skills: one skill from each root
    in turn (highest precedence first), and within a root an order keyed by a secret, so neither a
    root holding many skills nor names chosen to sort first ("0000-...") can fill the budget."""
    rank = {root: i for i, root in enumerate(roots)}
    groups: dict[int, list[Skill]] = {}
    for skill in skills:
        groups.setdefault(rank.get(skill.root, len(rank)), []).append(skill)
    for group in groups.values():
        group.sort(key=lambda s: hmac.new(key, s.name.encode(), hashlib.sha256).digest())
    turns = itertools.zip_longest(*(groups[r] for r in sorted(groups)))
    return [skill for turn in turns for skill in turn if skill is not None]


def render_matches(task: str, hits: Sequence[dict], ranking: str = "lexical") -> str:
    """find_skills' answer: ranked skills with score, reason and activation cost; says plainly when
    none fits well (still listing the closest) and when the top matches are near-twins."""
    if not hits:
        return (f"No skill matches {task!r}. Proceed without a skill, or try other words "
                "(the names of tools, file types or outcomes involved).")
    fits = hits[0].get("fits", True)
    if fits:
        lines = [f"Skills matching {task!r}, best first (ranking: {ranking}; activation cost in tokens):"]
    else:
        lines = [f"No skill fits {task!r} well (ranking: {ranking}). The closest, in case one does "
                 "(activation cost in tokens):"]
    for rank, hit in enumerate(hits, start=1):
        twin = " [close to the one above]" if hit.get("close") else ""
        lines.append(f"{rank}. {hit['name']} (score {hit['score']}, ~{hit['activation_tokens']} tokens){twin} — "
                     f"{hit['description']}\n   why: {hit['why']}")
    if not fits:
        lines.append("Proceed without a skill unless one of these clearly covers the task, or search once more "
                     "naming the task itself (what must be done, the tools, file types or outcome involved) "
                     "if the request described a situation.")
    elif len(hits) > 1 and hits[1].get("close"):
        lines.append(f"{hits[0]['name']} and {hits[1]['name']} match almost equally: read both descriptions and "
                     "call use_skill(name) on the one that fits the task.")
    else:
        lines.append("Call use_skill(name) on the best match before starting the task.")
    return "\n".join(lines)


def _size(n: int) -> str:
    return f"{n} B" if n < 1024 else f"{n / 1024:.1f} KB" if n < 1024 * 1024 else f"{n / 1048576:.1f} MB"


def render_activation(result: dict) -> str:
    """use_skill's answer: the body, then the map of the skill's other files (no contents)."""
    parts = [f"<skill name=\"{result['name']}\" tokens=\"{result['tokens']}\" "
             f"note=\"{result['tokens_note']}\">", neutralise_tags(result["body"].strip()), "</skill>"]
    files = result.get("files", [])
    if files:
        parts.append(f"\nFiles in this skill ({len(files)}; not loaded — read one with "
                     f"read_skill_file(name=\"{result['name']}\", path=...) only when needed):")
        for f in files:
            if f.get("binary"):
                desc = f"{f['kind']}, binary, {_size(f['bytes'])}"
            else:
                lines = f"{f['lines']} lines, " if f.get("lines") is not None else ""
                desc = f"{f['kind']}, {lines}{_size(f['bytes'])}, ~{f['tokens']} tokens"
            heading = f" — {f['heading']}" if f.get("heading") else ""
            parts.append(f"- {f['path']} ({desc}){heading}")
    for problem in result.get("file_problems", []):
        parts.append(f"(note: {problem})")
    for problem in result.get("skill_problems", []):
        parts.append(f"(skill {problem['level']} at {problem['where']}: {problem['message']})")
    if result.get("allowed_tools"):
        parts.append(f"Tools this skill expects: {neutralise_tags(', '.join(result['allowed_tools']))}")
    return "\n".join(parts)


def render_file(result: dict) -> str:
    """read_skill_file's answer: a header with position and size, then the text."""
    if result.get("binary"):
        return (f"{result['path']}: binary file ({result['mime_type']}, {result['bytes']} bytes). "
                f"{result['note']}")
    if "toc" in result:
        lines = [f"{result['path']}: {result['total_lines']} lines, ~{result['file_tokens']} tokens "
                 f"({result['tokens_note']}). Table of contents:"]
        lines += [f"{'  ' * (h['level'] - 1)}- {h['title']} (line {h['line']})" for h in result["toc"]]
        lines.append(result["hint"])
        return "\n".join(lines)
    header = (f"{result['path']} lines {result['start_line']}-{result['end_line']} of {result['total_lines']}, "
              f"~{result['tokens']} tokens ({result['tokens_note']})")
    if result.get("next_start_line"):
        header += f"; more follows: call again with start_line={result['next_start_line']}"
    return f"{header}\n---\n{result['content']}"
