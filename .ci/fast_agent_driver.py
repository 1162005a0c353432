"""Drive fast-agent, an independent SEP-2640 host, against an MCP server: the `/skills` commands run
through fast-agent's own command harness (the code behind its interactive prompt), with the
`passthrough` model, so no LLM is needed.

    python fast_agent_driver.py WORK [SKILL ...] -- SERVER_COMMAND [ARG ...]

Runs `/skills registry skilldeck` (skills/list), `/skills available`, then `/skills add SKILL` for each
(skills/get + resources/read, every size and digest checked, the frontmatter compared with the
served SKILL.md). Installed skills land in WORK/home/skills/. Exits 1 if any command fails.
Runs under fast-agent's Python (>= 3.12), not skilldeck's.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    if "--" not in argv or len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    split = argv.index("--")
    work, skills, server = Path(argv[0]).resolve(), argv[1:split], argv[split + 1:]
    work.mkdir(parents=True, exist_ok=True)
    config = work / "fastagent.config.yaml"
    # JSON is YAML: the server's command and arguments need no quoting rules of their own.
    config.write_text(json.dumps({
        "default_model": "passthrough",
        "logger": {"level": "error", "progress_display": False, "show_chat": False, "show_tools": False},
        "mcp": {"servers": {"skilldeck": {"command": server[0], "args": server[1:], "env": dict(os.environ)}}},
    }))
    os.chdir(work)
    return asyncio.run(_drive(work, config, skills))


async def _drive(work: Path, config: Path, skills: list[str]) -> int:
    # Imported here: this file is also read by tests that run without fast-agent installed.
    from fast_agent import FastAgent
    from fast_agent.commands.harness import execute_harness_command

    fast = FastAgent("skilldeck-check", config_path=str(config), parse_cli_args=False, quiet=True,
                     home=work / "home", workspace=work)

    @fast.agent(name="default", servers=["skilldeck"], model="passthrough")
    async def _agent() -> None:
        pass

    failed = 0
    overrides: dict[str, str] = {}  # the registry chosen by the first command, kept for the next ones
    async with fast.run() as app:
        agent = app._agent("default")
        commands = ["/skills registry skilldeck", "/skills available", *(f"/skills add {name}" for name in skills)]
        for command in commands:
            print(f"$ {command}", flush=True)
            try:
                print(await execute_harness_command(agent, command, skill_source_overrides=overrides), flush=True)
            except Exception as exc:  # noqa: BLE001 - report every failing command, then fail
                failed += 1
                print(f"FAILED: {type(exc).__name__}: {exc}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
