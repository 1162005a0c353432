"""`skilldeck bundle`: build the desktop extension (`.mcpb`) from a checkout.

Two kinds of bundle, both started from their manifest's `mcp_config`:

- `uv` (default, any platform): the package sources and `pyproject.toml`; the host runs
  `uv run --project <bundle> skilldeck serve`, which installs the dependencies on first start.
- `--vendor`: the package and its dependencies installed into `lib/` for this platform and
  this Python version; the host runs `python3 -P -m skilldeck.server.cli serve` with
  `PYTHONPATH=<bundle>/lib`, offline, with no uv.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "bundle", help="build the desktop extension (.mcpb) from a checkout",
        description="Build skilldeck's desktop extension (MCPB). By default a uv bundle: the host installs "
                    "the dependencies from the bundled pyproject.toml with uv on first start. --vendor "
                    "installs them into the bundle instead, for this platform and Python only.")
    p.add_argument("-o", "--output", type=Path, default=None,
                   help="the .mcpb to write (default: dist/skilldeck-VERSION.mcpb, -PLATFORM-pyXY with --vendor)")
    p.add_argument("--vendor", action="store_true",
                   help="install the dependencies into lib/ so the bundle starts with python3 alone, offline")
    p.add_argument("--source", type=Path, default=None,
                   help="checkout to bundle (default: the one this skilldeck runs from)")
    p.add_argument("--mcpb", default=None,
                   help="the mcpb command that validates and packs (default: mcpb on PATH, else a plain zip)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from skilldeck.server.cli._bundler import build

    source = (args.source or Path(__file__).resolve().parents[2]).resolve()  # the checkout of `pip install -e .`
    print(build(source, args.output, vendor=args.vendor, mcpb=args.mcpb))
    return 0
