"""The linter's readable report: findings per skill, then a summary table with each skill's figures."""

from __future__ import annotations

from collections import Counter

from skilldeck.tools.skills.lint.model import LintReport
from skilldeck.tools.skills.names import escape_unsafe

__all__ = ["render_table"]

SHOW_PER_RULE = 3  # a rule that fires on 40 files of one skill shows three and a count


def _k(n: int) -> str:
    return f"{n / 1000:.1f}k" if n >= 10_000 else str(n)


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'s' if count != 1 else ''}"


def render_table(report: LintReport, show_info: bool = False, max_skills: int | None = None) -> str:
    """Findings per skill, then a table of figures; with `max_skills`, only that many skills (most
    errors and warnings first) are shown in each part, and the rest are counted."""
    out: list[str] = []
    for problem in report.problems:
        out.append(f"note: {problem}")
    skills = report.skills
    if max_skills is not None and len(skills) > max_skills:
        skills = sorted(skills, key=lambda s: (-s.count("error"), -s.count("warning"), s.name))[:max_skills]
    for skill in skills:
        shown = [f for f in skill.findings if show_info or f.level != "info"]
        if not shown:
            continue
        out.append(f"{skill.name}  ({skill.dir})")
        totals = Counter(f.rule for f in shown)
        seen: Counter[str] = Counter()
        listed = []
        for f in shown:
            seen[f.rule] += 1
            if seen[f.rule] <= SHOW_PER_RULE or totals[f.rule] == SHOW_PER_RULE + 1:
                listed.append(f)
        width = max(len(f.where) for f in listed)
        rule_width = max(len(f.rule) for f in listed)
        for f in listed:
            out.append(f"  {f.level:<7}  {f.where:<{width}}  {f.rule:<{rule_width}}  {f.message}")
        for rule, count in totals.items():
            if count > SHOW_PER_RULE + 1:
                out.append(f"  {'':<7}  {'':<{width}}  {rule:<{rule_width}}  … and {count - SHOW_PER_RULE} more "
                           "like this (--json lists all)")
        out.append("")
    rows = [("skill", "lines", "act.tok", "ref.tok", "files", "errors", "warnings")]
    for s in skills:
        fig = s.figures
        rows.append((s.name, str(fig.body_lines), _k(fig.activation_tokens), _k(fig.reference_tokens),
                     str(fig.files), str(s.count("error")), str(s.count("warning"))))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for index, row in enumerate(rows):
        cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:])]
        out.append("  ".join(cells).rstrip())
        if index == 0:
            out.append("  ".join("-" * w for w in widths))
    if len(skills) < len(report.skills):
        out.append(f"… and {len(report.skills) - len(skills)} more skills, with fewer findings (ask for one skill "
                   "by name, or for JSON)")
    infos = report.count("info")
    hidden = f", {infos} notes (--verbose shows them)" if infos and not show_info else ""
    out.append(f"\n{_n(len(report.skills), 'skill')}: {_n(report.count('error'), 'error')}, "
               f"{_n(report.count('warning'), 'warning')}{hidden}. lines and act.tok: SKILL.md body loaded on activation; ref.tok: tokens in the "
               "skill's other text files.")
    # Names, folders, file names and messages come from strangers' skills: no terminal escapes.
    return escape_unsafe("\n".join(out))
