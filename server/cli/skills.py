"""`skilldeck skills`: what the server would serve, from which roots, and every problem found."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("skills", help="list the skills the server would serve, with their problems",
                              description="List the skills the server would serve (same roots and precedence as "
                                          "`skilldeck serve`), shadowed skills, and every parsing problem.")
    p.add_argument("--skills", action="append", type=Path, default=None, metavar="DIR", help="add a skill root")
    p.add_argument("--project-dir", type=Path, default=None, help="project folder (default: working directory)")
    p.add_argument("--no-user-skills", dest="user_skills", action="store_false", default=None)
    p.add_argument("--no-bundled-skills", dest="bundled_skills", action="store_false", default=None)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from skilldeck.server.settings import load_settings
    from skilldeck.tools.skills.catalog import SkillCatalog
    from skilldeck.tools.skills.roots import skill_roots

    s = load_settings({k: getattr(args, k) for k in ("skills", "project_dir", "user_skills", "bundled_skills")})
    roots = skill_roots(s.skills, [s.project_dir or Path.cwd()], user=s.user_skills, bundled=s.bundled_skills)
    catalog = SkillCatalog(roots)
    report = {"roots": [{"path": str(r.path), "label": r.label, "exists": r.path.is_dir()} for r in roots],
              "skills": [s.summary() for s in catalog.skills], "problems": catalog.diagnostics()}
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print("Roots (highest precedence first):")
    for root in report["roots"]:
        print(f"  [{root['label']}] {root['path']}{'' if root['exists'] else '  (missing)'}")
    count = len(catalog.skills)
    print(f"\n{count} skill{'' if count == 1 else 's'}:")
    for skill in catalog.skills:
        flags = "" if skill.model_invocable else "  (user-invoked only)"
        print(f"  {skill.name:<32} [{skill.root.label}]{flags}")
    if report["problems"]:
        print("\nProblems:")
        for entry in report["problems"]:
            for problem in entry["problems"]:
                print(f"  {entry['name']} ({entry['path']}): {problem['level']} at {problem['where']}: "
                      f"{problem['message']}")
    return 0
