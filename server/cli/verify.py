"""`skilldeck verify`: check an answer file's claims against evidence files and print a report."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "verify", help="check an answer's claims against evidence files",
        description="Split an answer into claims, check each against the evidence (numbers, names, negation, "
                    "attribution), cite the supporting sentences and print a report with a grounded rewrite. "
                    "Exit status: 0 supported/accepted, 1 not (partly) supported or rejected, 2 usage error.")
    p.add_argument("--answer", required=True, metavar="FILE", help="file holding the answer ('-' for stdin)")
    p.add_argument("--evidence", nargs="+", default=[], metavar="PATH",
                   help="evidence files, folders or globs (text or markdown)")
    p.add_argument("--question", default=None, help="the question the answer responds to (enables the drift check)")
    p.add_argument("--risk", choices=["normal", "high"], default="normal",
                   help="'high' fails closed: any unsupported claim or warning rejects the answer")
    p.add_argument("--rewrite", choices=["mark", "remove"], default=None,
                   help="mark or remove unsupported sentences in the rewrite (default: mark; remove with --risk high)")
    p.add_argument("--nli", metavar="DIR", default=None,
                   help="also judge claims with a local sequence-classification model (NLI / fact-check) in DIR")
    p.add_argument("--judge-url", metavar="URL", default=None,
                   help="also judge claims with an OpenAI-compatible chat completions endpoint "
                        "(API key from $SKILLDECK_JUDGE_API_KEY)")
    p.add_argument("--judge-model", metavar="NAME", default=None, help="model name for --judge-url")
    p.add_argument("--json", action="store_true", help="print the full report as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json
    import sys
    from pathlib import Path

    from skilldeck.tools.errors import InvalidInputError
    from skilldeck.tools.verify import VerifyOptions, render_text, verify_answer

    if args.answer == "-":
        answer = sys.stdin.read()
    else:
        try:
            answer = Path(args.answer).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidInputError(f"cannot read the answer file {args.answer}: {exc}. "
                                    "Pass a readable UTF-8 text file, or '-' for stdin.") from exc
    options = VerifyOptions(risk=args.risk, rewrite=args.rewrite)
    if args.judge_url:
        report = _with_http_judge(args, answer, options)
    else:
        judge = None
        if args.nli:
            from skilldeck.tools.verify.nli import NliJudge

            judge = NliJudge(args.nli)
        report = verify_answer(answer, paths=args.evidence, question=args.question, options=options, judge=judge)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    else:
        print(render_text(report))
    return 0 if report.supported else 1


def _with_http_judge(args: argparse.Namespace, answer: str, options):
    import os

    import anyio
    import httpx2

    from skilldeck.tools.errors import InvalidInputError
    from skilldeck.tools.verify import verify_answer_async
    from skilldeck.tools.verify.judge import LLMJudge, http_completer

    if not args.judge_model:
        raise InvalidInputError("--judge-url needs --judge-model NAME (the model the endpoint should use).")

    async def go():
        async with httpx2.AsyncClient(timeout=120) as client:
            complete = http_completer(client, args.judge_url, args.judge_model, os.environ.get("SKILLDECK_JUDGE_API_KEY"))
            return await verify_answer_async(answer, paths=args.evidence, question=args.question, options=options,
                                             judge=LLMJudge(complete, name=args.judge_model))

    return anyio.run(go)
