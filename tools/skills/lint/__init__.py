"""Skill linter: the Agent Skills spec, progressive-disclosure leanness, routing quality, portability.

    report = lint_paths([Path("skills")], LintConfig(max_lines=200, budget_tokens=5000))
    print(render_table(report)); report.to_dict()  # JSON-able

Rules (rule id: level): frontmatter, name, name-folder, description, compatibility, metadata: error;
unknown-field: warning (info for known client extensions); body-lines: warning above max_lines, error
above error_lines; activation-budget: error; broken-link: error; dead-reference, reference-depth,
reference-toc: warning; description-when, description-person: warning; description-xml: error;
description-overlap: warning; windows-path, unreadable-file: warning; too-many-files, too-large: error.
"""

from skilldeck.tools.skills.lint.model import Figures, Finding, LintConfig, LintReport, SkillReport
from skilldeck.tools.skills.lint.render import render_table
from skilldeck.tools.skills.lint.runner import find_skill_folders, lint_folders, lint_paths

__all__ = ["Figures", "Finding", "LintConfig", "LintReport", "SkillReport", "render_table", "lint_paths",
           "lint_folders", "find_skill_folders"]
