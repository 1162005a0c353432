"""build_server(settings) -> SkilldeckServer: builds the engines and registers the adapters."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import cached_property
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Annotated, Any

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

from skilldeck.server.errors import add_secret, install_log_redaction
from skilldeck.server.limits import CallLimits
from skilldeck.server.mcp_app import SkilldeckServer
from skilldeck.server.settings import Settings
from skilldeck.tools.errors import InvalidInputError
from skilldeck.tools.home import home_dir
from skilldeck.tools.jobs import JobManager

if TYPE_CHECKING:
    from skilldeck.tools.skills.catalog import SkillCatalog
    from skilldeck.tools.skills.usage import UsageStats

__all__ = ["INSTRUCTIONS", "Services", "build_server"]

# One adapter module per engine; each exposes register(mcp, services) and a one-line TOOLSET
# summary. Each module's tools form a toolset; only "skills" and those named in
# settings.toolsets are listed at start, the rest load through enable_tools.
ADAPTERS = ("skills", "skill_quality", "verify", "finetune", "batch")

# Sent to the client at initialize; kept under 2 KB, most important first.
INSTRUCTIONS = """\
skilldeck serves Agent Skills: folders of expert instructions for specific tasks.
BEFORE starting a task, check for a matching skill: the use_skill tool's description lists the \
skills; if none there fits or the list is cut short, call find_skills with the task in a few words \
of its domain, and the user's own words as request. When one matches, call use_skill(name) and follow its instructions; read the files it \
mentions with read_skill_file only when the instructions call for them (large files: ask for toc \
or a line range). These skills come from this server and are separate from any skills your client \
has built in; prefer a skilldeck skill when it is the better match for the task.
Every payload reports its size in tokens (estimates), so you can budget context.
More skilldeck tools load on demand with enable_tools: verify (check an answer's claims against \
evidence before presenting it), batch (run many small LLM tasks under provider rate limits), \
finetune (decide on, validate data for, run and evaluate LoRA fine-tuning). Long jobs run in the \
background; poll their status tools."""


@dataclass
class Services:
    """What adapters share. Engines are built lazily so start-up stays fast."""

    settings: Settings
    # Set by the skills adapter, which registers first; the skill-quality tools read them.
    catalog: SkillCatalog | None = None
    usage: UsageStats | None = None

    @cached_property
    def jobs(self) -> JobManager:
        return JobManager(home_dir() / "jobs")


def package_version() -> str:
    try:
        return version("skilldeck")
    except PackageNotFoundError:
        return "0.0.0"


def build_server(settings: Settings) -> SkilldeckServer:
    services = Services(settings)
    install_log_redaction()
    if settings.http_token is not None:  # skilldeck.toml, in the project folder tools read, may hold it
        add_secret(settings.http_token.get_secret_value())
    limits = CallLimits(timeout_s=settings.call_timeout_s, answer_bytes=settings.max_answer_bytes,
                        argument_chars=settings.max_argument_chars, concurrent_calls=settings.concurrent_calls)
    mcp = SkilldeckServer(instructions=INSTRUCTIONS, version=package_version(), page_size=settings.page_size,
                          log_level=settings.log_level, limits=limits)
    mcp.services = services
    summaries: dict[str, str] = {}
    for name in ADAPTERS:
        module = importlib.import_module(f"skilldeck.server.{name}")
        before = {t.name for t in mcp._tool_manager.list_tools()}
        module.register(mcp, services)
        mcp.toolsets[name] = sorted({t.name for t in mcp._tool_manager.list_tools()} - before)
        summaries[name] = getattr(module, "TOOLSET", "")
    wanted = set(mcp.toolsets) if "all" in settings.toolsets else set(settings.toolsets) | {"skills"}
    unknown = wanted - set(mcp.toolsets)
    if unknown:
        raise InvalidInputError(f"unknown toolset(s) {', '.join(sorted(unknown))}; "
                                f"available: all, {', '.join(mcp.toolsets)}")
    mcp.enabled = wanted
    if set(mcp.toolsets) - wanted:
        register_toolsets_tool(mcp, summaries)
    return mcp


def register_toolsets_tool(mcp: SkilldeckServer, summaries: dict[str, str]) -> None:
    """`enable_tools`: progressive disclosure for tools — groups load when a task needs them.

    Loading is per session: it changes the tool list of the client that asked (and only that
    client hears tools/list_changed); other clients of the same HTTP server keep theirs. A
    tool of a group not loaded in a session can still be called by name: groups decide what is
    listed, not what may run.
    """

    def describe() -> str:
        enabled = mcp.listing_enabled()
        lines = ["Load a group of skilldeck tools when the task needs it (they are not listed until then):"]
        lines += [f"- {name}: {summaries[name]}" for name in mcp.toolsets if name not in enabled]
        return "\n".join(lines) if len(lines) > 1 else "All skilldeck tool groups are loaded."

    @mcp.tool()
    async def enable_tools(toolset: Annotated[str, Field(max_length=100, description="Name of the tool group")],
                           ctx: Context) -> str:
        """(replaced at list time by the groups that can be loaded)"""
        if toolset not in mcp.toolsets or toolset == "enable_tools":
            raise ToolError(f"No tool group {toolset!r}. Groups: {', '.join(n for n in mcp.toolsets)}.")
        names = ", ".join(mcp.toolsets[toolset])
        if not mcp.keeps_sessions(ctx.session):
            return (f"The {toolset} tools ({names}) can be called by name now. This client's protocol version keeps "
                    "no session, so they cannot be added to its tool list alone; to list them, restart skilldeck "
                    f"with --toolsets {toolset}.")
        if mcp.enable_for(ctx.session, toolset):
            await ctx.session.send_tool_list_changed()
        return (f"Loaded {toolset}: {names}. They appear in your tool list now (the server sent "
                "tools/list_changed). If your client does not refresh its tools, restart skilldeck with "
                "--toolsets all.")

    mcp.describe_tool("enable_tools", describe)
