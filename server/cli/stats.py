"""`skilldeck stats`: which skills were searched, activated and read, and which files are dead weight."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "stats", help="skill usage: activations, tokens loaded, relevance ratio, unread files",
        description="Report skill usage recorded by the server (the usage log in $SKILLDECK_HOME). Relevance "
                    "ratio: of the tokens a skill offered on activation (body plus listed reference documents), the "
                    "share that was used (body plus documents read afterwards in the same session). Dead weight: "
                    "reference documents offered and never read.")
    p.add_argument("name", nargs="?", help="one skill (default: all)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--log", type=Path, default=None, help="usage log to read (default $SKILLDECK_HOME/usage.jsonl)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json

    from skilldeck.tools.errors import NotFoundError
    from skilldeck.tools.skills.usage import UsageStats, render_report

    stats = UsageStats(args.log)
    rows = stats.report(args.name)
    if args.name and not rows:
        raise NotFoundError(f"No usage recorded for skill {args.name!r} in {stats.log_path}. Run "
                            "`skilldeck stats` without a name to list the skills that have some.")
    if args.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
    else:
        print(render_report(rows, stats.log_path))
    return 0
