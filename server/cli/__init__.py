"""The `skilldeck` command.

Each module in this package adds one subcommand group through ``register(subparsers)``.
Modules import only argparse at the top; engines are imported inside the handlers so
``skilldeck serve`` starts fast.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys

__all__ = ["main", "build_parser"]

EPILOG = """\
configuration (highest precedence first): flags, SKILLDECK_* environment variables,
skilldeck.toml (--config, $SKILLDECK_CONFIG or ./skilldeck.toml, keys as in
`skilldeck serve --help`, optionally under a [skilldeck] table), defaults.
State (jobs, caches, logs) lives in $SKILLDECK_HOME (default $XDG_DATA_HOME/skilldeck, else ~/.local/share/skilldeck).
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="skilldeck",
        description="MCP server for Agent Skills with progressive disclosure, plus tools that make LLM work "
                    "reliable: claim verification, rate-limited batching and LoRA fine-tuning.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")):
        importlib.import_module(f"{__name__}.{module}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    stderr = sys.stderr
    sys.stderr = _Escaping(stderr)  # argparse echoes arguments: `skilldeck lint *` passes strangers' folder names
    try:
        args = parser.parse_args(argv)
    finally:
        sys.stderr = stderr
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    streams = sys.stdout, sys.stderr
    if args.command != "serve":  # serve's stdout is the protocol; its log lines are escaped where made
        sys.stdout, sys.stderr = _Escaping(sys.stdout), _Escaping(sys.stderr)
    try:
        return _run(args)
    finally:
        sys.stdout, sys.stderr = streams


def _run(args: argparse.Namespace) -> int:
    from skilldeck.tools.errors import SkilldeckError

    try:
        return int(args.func(args) or 0)
    except SkilldeckError as exc:
        print(f"skilldeck: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`skilldeck lint --json | head`): not an error worth a traceback.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception:  # noqa: BLE001 - a bug: its traceback may quote a stranger's skill text or a secret
        import traceback

        from skilldeck.server.errors import redact
        from skilldeck.tools.skills.names import escape_unsafe

        # Escaped here, not only by the stream: serve's stderr is not wrapped (its log lines are escaped where made).
        sys.stderr.write(escape_unsafe(redact(traceback.format_exc())))
        return 1


class _Escaping:
    """A text stream that writes unsafe characters as escapes (see `escape_unsafe`): the CLI prints
    what strangers' skills hold (names, paths, headings, problems), and a terminal would obey them.
    JSON stays valid: such characters only occur inside its strings, where ``\\u202e`` is an escape."""

    def __init__(self, stream) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        from skilldeck.tools.skills.names import escape_unsafe

        self._stream.write(escape_unsafe(text))
        return len(text)

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


if __name__ == "__main__":
    sys.exit(main())
