"""Lint skill folders: find them under the given paths, run every rule, add overlapping pairs."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Iterable
from pathlib import Path

from skilldeck.tools.deadline import check
from skilldeck.tools.errors import InvalidInputError, SkilldeckError
from skilldeck.tools.fs import is_within, real_path
from skilldeck.tools.skills.discovery import skill_folders
from skilldeck.tools.skills.lint.leanness import LINT_ADVICE, body_lines, check_leanness
from skilldeck.tools.skills.lint.model import Figures, LintConfig, LintReport, SkillReport
from skilldeck.tools.skills.lint.portability import check_portability
from skilldeck.tools.skills.lint.routing import check_description, overlap_finding, overlapping_pairs
from skilldeck.tools.skills.lint.source import SkillSource, load_source
from skilldeck.tools.skills.lint.spec import check_spec
from skilldeck.tools.skills.roots import bundled_skills_dir
from skilldeck.tools.skills.skill import SKILL_FILE
from skilldeck.tools.tokens import count_tokens

__all__ = ["lint_paths", "lint_folders", "find_skill_folders"]

_ORDER = {"error": 0, "warning": 1, "info": 2}
MAX_PAIRS_PER_SKILL = 5


def find_skill_folders(paths: Iterable[Path]) -> tuple[list[Path], list[str]]:
    """Skill folders under each path (a skill folder, its SKILL.md, or a root of skills) and problems."""
    folders: dict[Path, None] = {}
    problems = []
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_file() and path.name == SKILL_FILE:
            path = path.parent
        if not path.exists():
            problems.append(f"{raw}: no such file or folder")
            continue
        found = list(skill_folders(path))
        if not found:
            problems.append(f"{raw}: no SKILL.md here or in the folders below (up to two levels)")
        folders.update(dict.fromkeys(found))
    return list(folders), problems


def lint_paths(paths: Iterable[Path], config: LintConfig | None = None) -> LintReport:
    """Lint every skill under `paths`; raises InvalidInputError if none is found."""
    folders, problems = find_skill_folders(paths)
    if not folders:
        raise InvalidInputError("No skills to lint: " + "; ".join(problems) + ". Give a skill folder (with "
                                "SKILL.md) or a folder of skills.")
    bundled = real_path(bundled_skills_dir())
    report = lint_folders(folders, config, trusted=[f for f in folders if is_within(real_path(f), [bundled])])
    report.problems[:0] = problems  # keeping lint_folders' own (SKILL.md files it could not read)
    return report


def _name(src: SkillSource) -> str:
    name = src.fields.get("name")
    return name.strip() if isinstance(name, str) and name.strip() else src.dir.name


def _figures(src: SkillSource) -> Figures:
    texts = [f for f in src.files if f.text is not None]
    return Figures(body_lines=body_lines(src.body), activation_tokens=count_tokens(src.body),
                   reference_tokens=sum(f.tokens for f in texts), references=len(texts),
                   files=len(src.files) + 1, bytes=sum(f.size for f in src.files) + len(src.text.encode()))


def lint_folders(folders: list[Path], config: LintConfig | None = None,
                 trusted: Collection[Path] = ()) -> LintReport:
    """Lint skill folders; those in `trusted` (skilldeck's bundled skills) may be hard-linked, as
    the server allows when it serves them."""
    config = config or LintConfig()
    report = LintReport()
    sources: list[tuple[str, SkillSource]] = []
    for folder in folders:
        check("Linting", LINT_ADVICE)
        try:
            src = load_source(folder, allow_hardlinks=folder in trusted)
        except (OSError, SkilldeckError) as exc:  # missing, a FIFO, a link out of the folder...
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            report.problems.append(f"{folder}: cannot read SKILL.md ({reason})")
            continue
        name = _name(src)
        findings = check_spec(src) + check_description(src) + check_leanness(src, config) + \
            check_portability(src, config)
        report.skills.append(SkillReport(name, folder, _figures(src), findings))
        # The overlap check reads only the frontmatter: a skill's files (up to 16 MB of text each)
        # are not kept for it, or linting 100 skills would hold them all at once.
        sources.append((name, dataclasses.replace(src, files=[])))
    pairs = overlapping_pairs(sources, config.overlap)
    per_skill: dict[int, int] = {}
    for pair in pairs:
        for side, index in enumerate(pair.pop("index")):
            per_skill[index] = per_skill.get(index, 0) + 1
            if per_skill[index] <= MAX_PAIRS_PER_SKILL:  # copies of one skill would otherwise flood the report
                report.skills[index].findings.append(overlap_finding(pair, side, sources[index][1]))
    report.pairs = pairs
    for skill_report in report.skills:
        skill_report.findings.sort(key=lambda f: (_ORDER[f.level], f.path != SKILL_FILE, f.path, f.line or 0))
    return report
