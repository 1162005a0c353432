"""Progressive-disclosure rules: body length, activation budget, links, dead weight, depth, tables of contents.

A file is *mentioned* by a text when the text names its path (``references/api.md``, ``./scripts/x.py``),
its name (``api.md``), its module (``core.gif_builder``, ``import gif_builder``) or a folder above it
(``themes/``, ``./canvas-fonts``). Files mentioned by SKILL.md are one level deep; files reached only
through other files are deeper; files reached by nothing are dead weight.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from skilldeck.tools.deadline import check
from skilldeck.tools.errors import AccessDeniedError
from skilldeck.tools.fs import leads_inside, real_path
from skilldeck.tools.skills.lint.model import Finding, LintConfig
from skilldeck.tools.skills.frontmatter import short_repr
from skilldeck.tools.skills.lint.source import SkillFile, SkillSource
from skilldeck.tools.tokens import count_tokens

__all__ = ["check_leanness", "links", "reachability", "body_lines"]

# Neither the text nor the target holds a "[", so each search from a "[" stops at the next one: a
# line of `[a](b` repeated 40,000 times took 5 minutes, and `re` holds the GIL while it searches.
_LINK = re.compile(r"!?\[[^\[\]\n]*\]\(\s*<?([^)\s>\[]+)>?(?:\s+[\"'][^\"'\n]*[\"'])?\s*\)")
_CODE_PATH = re.compile(r"`\.?/?((?:[\w.-]+/)+[\w.-]+\.[A-Za-z0-9]{1,6})`")
# The wildcard is looked for ahead, then the path taken whole: "`" and 40,000 "*" took 8 s.
_GLOB = re.compile(r"`(?=[^`\s]*(?:\*|\{\w+\}))([^`\s]++)`")
_FENCE = re.compile(r"^\s*(```|~~~)")
_TOC_HEADING = re.compile(r"^#{1,6}\s+(table of contents|contents|toc|index|on this page|sections|quick "
                          r"(navigation|links|reference))\b", re.I)
_ANCHOR_ITEM = re.compile(r"^\s*(?:[-*+]|\d+\.)\s+\[[^\]]+\]\(#[^)]+\)")
_HEADING = re.compile(r"^#{1,6}\s+\S")
# Files that tooling uses without SKILL.md naming them.
_INFRA = re.compile(r"(^|/)(license[^/]*|licence[^/]*|notice[^/]*|requirements[^/]*\.txt|__init__\.py|"
                    r"package(-lock)?\.json|[^/]*\.lock|pyproject\.toml|setup\.(py|cfg)|conftest\.py|"
                    r"tsconfig\.json|\.gitignore|[^/]*-ofl\.txt|ofl\.txt)$", re.I)
_DOC_SUFFIXES = (".md", ".markdown", ".mdx")


def body_lines(body: str) -> int:
    body = body.strip("\n")
    return body.count("\n") + 1 if body else 0


def check_leanness(src: SkillSource, config: LintConfig) -> list[Finding]:
    out = _length(src, config)
    out += _broken_links(src)
    reach, via = reachability(src)
    for f in src.files:
        if f.rel not in reach and not _INFRA.search(f.rel):
            out.append(Finding("dead-reference", "warning", f"{f.rel} is never mentioned by SKILL.md (nor by a file "
                               "it mentions), so an agent will not know to read it; link it where it is needed "
                               "or delete it", path=f.rel))
        elif reach.get(f.rel, 0) > 1 and f.rel.lower().endswith(_DOC_SUFFIXES):
            parent, line = via[f.rel]
            out.append(Finding("reference-depth", "warning", f"{f.rel} is reached only through {parent}: agents "
                               "may read nested references partially; link it from SKILL.md (one level deep)",
                               path=parent, line=line))
    out += _tables_of_contents(src, config)
    return out


def _length(src: SkillSource, config: LintConfig) -> list[Finding]:
    out = []
    lines = body_lines(src.body)
    if lines > config.line_error:
        out.append(Finding("body-lines", "error", f"SKILL.md body is {lines} lines (error above "
                           f"{config.line_error}); move detail into reference files", line=src.parsed.body_line))
    elif lines > config.max_lines:
        out.append(Finding("body-lines", "warning", f"SKILL.md body is {lines} lines (aim for {config.max_lines} "
                           "or fewer); keep a map in SKILL.md and move detail into reference files",
                           line=src.parsed.body_line))
    tokens = count_tokens(src.body)
    if tokens > config.budget_tokens:
        out.append(Finding("activation-budget", "error", f"activating this skill loads {tokens} tokens "
                           f"(budget {config.budget_tokens}); split the body into references read on demand",
                           line=src.parsed.body_line))
    return out


def _unfenced(text: str) -> list[tuple[int, str]]:
    """(0-based line index, line) outside fenced code blocks."""
    out, fenced = [], False
    for index, line in enumerate(text.split("\n")):
        if _FENCE.match(line):
            fenced = not fenced
        elif not fenced:
            out.append((index, line))
    return out


def links(text: str) -> list[tuple[int, str]]:
    """(0-based line index, target) of relative markdown links outside code blocks."""
    found = []
    for index, line in _unfenced(text):
        for match in _LINK.finditer(line):
            target = match.group(1).split("#", 1)[0].split("?", 1)[0]
            if target and not re.match(r"^[a-zA-Z][\w+.-]*:", target) and not target.startswith(("/", "~")):
                found.append((index, target))
    return found


def _resolve(src: SkillSource, base: str, target: str) -> str | None:
    """Normalised path of `target` relative to the folder of file `base`, or None if it leaves the skill."""
    parts: list[str] = list(PurePosixPath(base).parent.parts)
    for part in PurePosixPath(target.replace("\\", "/")).parts:
        if part == "..":
            if not parts:
                return None
            parts.pop()
        elif part != ".":
            parts.append(part)
    return "/".join(parts)


def _exists(src: SkillSource, rel: str) -> bool:
    if rel in src.by_rel or rel in src.unreadable:
        return True
    try:
        # Only inside the skill: through `sub -> ~/.ssh`, `[k](sub/id_rsa)` would be told apart from
        # `[k](sub/id_dsa)`, and a skill would learn, link by link, which of your files exist.
        path = src.dir / rel
        return leads_inside(path, [real_path(src.dir)]) and path.exists()
    except (OSError, ValueError, AccessDeniedError):  # a name too long, a NUL byte, a loop: no such file
        return False


def _broken_links(src: SkillSource) -> list[Finding]:
    out = []
    dirs = {PurePosixPath(f.rel).parts[0] for f in src.files if "/" in f.rel}
    for index, target in links(src.body):
        rel = _resolve(src, "SKILL.md", target)
        if rel is not None and not _exists(src, rel):
            out.append(Finding("broken-link", "error", f"link to {short_repr(target)}, which does not exist in the "
                               "skill", line=src.parsed.body_line + index))
    for index, line in _unfenced(src.body):
        for match in _CODE_PATH.finditer(line):
            rel = match.group(1)
            # Only paths into a folder the skill has: others are usually files the task creates.
            if rel.split("/", 1)[0] in dirs and not _exists(src, rel):
                out.append(Finding("broken-link", "error", f"`{rel}` is named as a file of the skill but does "
                                   "not exist", line=src.parsed.body_line + index))
    return out


_Patterns = tuple[list[tuple[str, re.Pattern[str]]], tuple[str, re.Pattern[str]] | None]


def _patterns(f: SkillFile) -> _Patterns:
    """How texts mention file `f`: by path, name, module or a folder above it, each with a text it
    cannot match without; and, for code, by import."""
    path = PurePosixPath(f.rel)
    needles = [f.rel, path.name, str(path.with_suffix("")).replace("/", ".")]
    # The name first and the look-behind after it, so that `re` scans for the name's letters: with
    # the look-behind first it tried every position, and 2,000 files that 15 references of 1 MB
    # never mention took half an hour to lint.
    patterns = [(n, re.compile(re.escape(n) + rf"(?<![\w-]{re.escape(n)})(?![\w-])")) for n in dict.fromkeys(needles)]
    for parent in path.parents:
        if str(parent) != ".":
            # The folder itself ("themes/", "`fonts`", "./fonts"), not another path inside it.
            p = re.escape(str(parent))
            patterns.append((str(parent), re.compile(
                rf"(?<![\w/.-])(?:\./)?{p}/(?![\w.-])|`(?:\./)?{p}/?`|(?<![\w/.-])\./{p}(?![\w/.-])")))
    imports = None
    if path.suffix in (".py", ".js", ".ts", ".mjs"):
        imports = path.stem, re.compile(r"\b(?:import|from|require\()\s*['\"]?\.{0,2}/?" + re.escape(path.stem) + r"\b")
    return patterns, imports


def _mentions(text: str, patterns: _Patterns, code: bool) -> int | None:
    """0-based index of the first line of `text` that mentions the file, or None."""
    found = [m.start() for needle, p in patterns[0] if needle in text and (m := p.search(text))]
    if code and patterns[1] is not None and patterns[1][0] in text and (m := patterns[1][1].search(text)):
        found.append(m.start())
    return text.count("\n", 0, min(found)) if found else None


def _globs(text: str) -> list[tuple[int, re.Pattern[str]]]:
    """Wildcard paths such as `shared/managed-agents-*.md` or `{lang}/README.md`, as (line index, regex)."""
    out = []
    for match in _GLOB.finditer(text):
        pattern = re.escape(match.group(1).lstrip("./"))
        pattern = re.sub(r"\\\{[^}/]*\\\}", "[^/]+", pattern).replace(r"\*\*", ".*").replace(r"\*", "[^/]*")
        out.append((text.count("\n", 0, match.start()), re.compile(pattern)))
    return out


LINT_ADVICE = "Lint one skill at a time."  # what a lint past its call's time limit is told


def reachability(src: SkillSource) -> tuple[dict[str, int], dict[str, tuple[str, int]]]:
    """Depth of each file reachable from SKILL.md through mentions, and for each the first file
    (with line) that mentions it."""
    depth: dict[str, int] = {}
    via: dict[str, tuple[str, int]] = {}
    frontier: list[tuple[str, str, int]] = [("SKILL.md", src.body, src.parsed.body_line)]
    patterns = {f.rel: _patterns(f) for f in src.files}
    level = 0
    while frontier:
        level += 1
        found: list[tuple[str, str, int]] = []
        for name, text, first_line in frontier:
            code = not name.lower().endswith(_DOC_SUFFIXES + (".txt",))
            globs = _globs(text)
            for number, f in enumerate(src.files):
                if not number % 64:  # each file's patterns search every text that mentions files
                    check("Linting", LINT_ADVICE)
                if f.rel in depth or f.rel == name:
                    continue
                index = _mentions(text, patterns[f.rel], code)
                if index is None:
                    index = next((i for i, g in globs if g.fullmatch(f.rel)), None)
                if index is not None:
                    depth[f.rel] = level
                    via[f.rel] = (name, first_line + index)
                    if f.text is not None:
                        found.append((f.rel, f.text, 1))
        frontier = found
    return depth, via


def _has_toc(text: str) -> bool:
    lines = text.split("\n")[:60]
    anchors = sum(bool(_ANCHOR_ITEM.match(line)) for line in lines)
    return anchors >= 3 or any(_TOC_HEADING.match(line) for line in lines)


def _tables_of_contents(src: SkillSource, config: LintConfig) -> list[Finding]:
    out = []
    for f in src.files:
        if f.text is None or not f.rel.lower().endswith(_DOC_SUFFIXES) or f.lines <= config.toc_lines:
            continue
        headings = sum(bool(_HEADING.match(line)) for _, line in _unfenced(f.text))
        if headings >= 3 and not _has_toc(f.text):
            out.append(Finding("reference-toc", "warning", f"{f.lines} lines and no table of contents at the top: "
                               f"an agent previewing it cannot see what it holds; add a '## Contents' list of its "
                               f"{headings} sections", path=f.rel, line=1))
    return out
