"""`skilldeck serve`: run the MCP server over stdio (default) or Streamable HTTP."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "serve", help="run the MCP server (stdio by default)",
        description="Run the skilldeck MCP server. Skill roots, highest precedence first: every --skills DIR; "
                    "the project's .claude/skills/ and skills/ (from the client's roots, else --project-dir or the "
                    "working directory); ~/.claude/skills/; the bundled skills.",
        epilog="Each flag has an environment variable SKILLDECK_<NAME> (e.g. SKILLDECK_CATALOG_BYTES=4096; "
               "SKILLDECK_SKILLS takes ':'-separated folders) and a skilldeck.toml key of the same name.")
    p.add_argument("--http", action="store_true", help="serve Streamable HTTP on --host/--port instead of stdio; "
                   "the project is --project-dir or the working directory, never a client's roots")
    p.add_argument("--host", default=None, help="HTTP bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=None, help="HTTP port (default 8765)")
    p.add_argument("--allow-remote", dest="allow_remote", action="store_true", default=None,
                   help="allow --host other than loopback; needs a bearer token (SKILLDECK_HTTP_TOKEN or "
                   "--http-token-file)")
    p.add_argument("--http-token-file", type=Path, default=None, metavar="FILE",
                   help="file whose first line is the bearer token HTTP clients must send")
    p.add_argument("--allowed-hosts", type=_comma_list, default=None, metavar="H:P,H:*",
                   help="Host header values accepted besides the bind address (DNS-rebinding protection)")
    p.add_argument("--allowed-origins", type=_comma_list, default=None, metavar="URL,URL",
                   help="Origin header values accepted besides loopback ones")
    p.add_argument("--call-timeout-s", type=float, default=None, help="seconds one tool call may run (default 90)")
    p.add_argument("--skills", action="append", type=Path, default=None, metavar="DIR",
                   help="add a skill root (repeatable; highest precedence)")
    p.add_argument("--project-dir", type=Path, default=None, help="project folder whose .claude/skills/ and "
                   "skills/ are searched (default: the client's roots, else the working directory)")
    p.add_argument("--no-claude-skills", dest="claude_skills", action="store_false", default=None,
                   help="do not load the folders Claude Code loads itself (~/.claude/skills/ and the project's "
                        ".claude/skills/): for the Claude Code plugin")
    p.add_argument("--no-user-skills", dest="user_skills", action="store_false", default=None,
                   help="do not load ~/.claude/skills/")
    p.add_argument("--no-bundled-skills", dest="bundled_skills", action="store_false", default=None,
                   help="do not load the skills bundled with skilldeck")
    p.add_argument("--toolsets", type=lambda v: [t.strip() for t in v.split(",") if t.strip()], default=None,
                   metavar="A,B", help="tool groups listed from the start, or 'all' (default: skills; the others "
                   "load on demand through the enable_tools tool)")
    p.add_argument("--no-watch", dest="watch", action="store_false", default=None, help="disable hot reload")
    p.add_argument("--catalog-bytes", type=int, default=None, help="byte budget of the skill catalog (default 2048)")
    p.add_argument("--page-size", type=int, default=None, help="items per page of resource and prompt lists (default 100)")
    p.add_argument("--log-level", default=None, choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                   help="what the server logs to stderr (default WARNING; INFO adds start-up, reload and job events)")
    p.add_argument("--model-dir", dest="model_dirs", action="append", type=Path, default=None, metavar="DIR",
                   help="let tools read models (base models, adapters, tokenizers) from DIR outside the project "
                   "(repeatable)")
    p.add_argument("--data-dir", dest="data_dirs", action="append", type=Path, default=None, metavar="DIR",
                   help="let tools read and write data (datasets, task files, evidence, splits) in DIR outside "
                   "the project (repeatable)")
    p.add_argument("--provider-url", dest="provider_urls", action="append", default=None, metavar="URL",
                   help="an LLM endpoint a tool call may name as base_url (repeatable); API keys are sent only "
                   "to these and the providers' own defaults")
    p.add_argument("--config", type=Path, default=None, help="skilldeck.toml to read (default ./skilldeck.toml)")
    p.set_defaults(func=run)


def _comma_list(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def run(args: argparse.Namespace) -> int:
    from skilldeck.server.app import build_server
    from skilldeck.server.settings import load_settings

    flags = {k: getattr(args, k) for k in ("host", "port", "skills", "project_dir", "user_skills", "claude_skills", "bundled_skills",
                                            "watch", "catalog_bytes", "page_size", "log_level", "toolsets")}
    flags.update({k: getattr(args, k) for k in ("model_dirs", "data_dirs", "provider_urls")})
    flags.update({k: getattr(args, k) for k in ("allow_remote", "http_token_file", "allowed_hosts",
                                                "allowed_origins", "call_timeout_s")})
    if args.http:
        flags["client_roots"] = False  # one process, many clients: the project is --project-dir or the cwd
    settings = load_settings(flags, config=args.config)
    if args.http:
        from skilldeck.server.http_transport import check_bind, http_token

        check_bind(settings, http_token(settings))  # before building anything: refuse an unsafe bind at once
    server = build_server(settings)
    if args.http:
        from skilldeck.server.http_transport import serve_http

        serve_http(server, settings)
    else:
        server.run("stdio")
    return 0
