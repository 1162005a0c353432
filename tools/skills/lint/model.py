"""What the linter reports: findings, per-skill figures and the configuration it runs with."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

__all__ = ["Finding", "Figures", "SkillReport", "LintReport", "LintConfig", "Level"]

Level = Literal["error", "warning", "info"]


@dataclass(frozen=True)
class LintConfig:
    """Thresholds, with the progressive-disclosure playbook's defaults.

    Usage::

        LintConfig(max_lines=150, budget_tokens=3000)
    """

    max_lines: int = 200              # SKILL.md body lines: a warning above this ...
    error_lines: int = 500            # ... and an error above this
    budget_tokens: int = 5000         # first activation (SKILL.md body) in tokens: an error above this
    toc_lines: int = 100              # a reference file longer than this needs a table of contents
    max_files: int = 512              # files in one skill (portability: upload limits)
    max_bytes: int = 16 * 1024 * 1024  # bytes in one skill
    overlap: float = 0.5              # description similarity from which two skills are reported as a pair

    @property
    def line_error(self) -> int:
        return max(self.error_lines, self.max_lines)


@dataclass(frozen=True)
class Finding:
    rule: str
    level: Level
    message: str
    path: str = "SKILL.md"        # relative to the skill's folder
    line: int | None = None

    @property
    def where(self) -> str:
        return self.path + (f":{self.line}" if self.line else "")

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "level": self.level, "path": self.path, "line": self.line, "message": self.message}


@dataclass
class Figures:
    """What a skill costs: lines and tokens on activation, tokens in its other files, file count."""

    body_lines: int = 0
    activation_tokens: int = 0
    reference_tokens: int = 0
    references: int = 0
    files: int = 0
    bytes: int = 0


@dataclass
class SkillReport:
    name: str
    dir: Path
    figures: Figures = field(default_factory=Figures)
    findings: list[Finding] = field(default_factory=list)

    def count(self, level: Level) -> int:
        return sum(f.level == level for f in self.findings)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "path": str(self.dir), "figures": asdict(self.figures),
                "errors": self.count("error"), "warnings": self.count("warning"), "infos": self.count("info"),
                "findings": [f.to_dict() for f in self.findings]}


@dataclass
class LintReport:
    skills: list[SkillReport] = field(default_factory=list)
    pairs: list[dict[str, Any]] = field(default_factory=list)   # overlapping descriptions
    problems: list[str] = field(default_factory=list)           # paths that held no skill

    def count(self, level: Level) -> int:
        return sum(s.count(level) for s in self.skills)

    def to_dict(self) -> dict[str, Any]:
        return {"summary": {"skills": len(self.skills), "errors": self.count("error"),
                            "warnings": self.count("warning"), "infos": self.count("info")},
                "skills": [s.to_dict() for s in self.skills], "overlapping_pairs": self.pairs,
                "problems": self.problems}
