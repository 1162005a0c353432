"""`skilldeck lint`: audit skills against the spec, the progressive-disclosure playbook, routing and portability."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "lint", help="audit skills: spec, leanness, routing quality, portability",
        description="Lint one skill folder, a SKILL.md, or folders of skills. Reports each finding with file and "
                    "line, then each skill's figures: SKILL.md body lines and tokens (loaded on activation), tokens "
                    "in its other text files, file count. Without PATH: ./.claude/skills and ./skills, else '.'.")
    p.add_argument("paths", nargs="*", type=Path, metavar="PATH", help="skill folder, SKILL.md or folder of skills")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--strict", action="store_true", help="exit with status 1 if there is any error (for CI)")
    p.add_argument("--max-lines", type=int, default=200, metavar="N",
                   help="SKILL.md body lines above which to warn (default 200; an error above max(500, N))")
    p.add_argument("--budget", type=int, default=5000, metavar="N",
                   help="token budget of the first activation, the SKILL.md body (default 5000)")
    p.add_argument("--verbose", "-v", action="store_true", help="also show notes (level info)")
    p.set_defaults(func=run)


def _default_paths() -> list[Path]:
    found = [p for p in (Path(".claude/skills"), Path("skills")) if p.is_dir()]
    return found or [Path(".")]


def run(args: argparse.Namespace) -> int:
    import json

    from skilldeck.tools.errors import InvalidInputError
    from skilldeck.tools.skills.lint import LintConfig, lint_paths, render_table

    if args.max_lines < 1 or args.budget < 1:
        raise InvalidInputError(f"--max-lines and --budget must be 1 or more, got {args.max_lines} and {args.budget}")
    report = lint_paths(args.paths or _default_paths(), LintConfig(max_lines=args.max_lines,
                                                                   budget_tokens=args.budget))
    if args.json:
        print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    else:
        print(render_table(report, show_info=args.verbose))
    return 1 if args.strict and report.count("error") else 0
