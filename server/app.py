"""build_server(settings) -> SkilldeckServer: builds the engines and registers the adapters."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from functools import cached_property
from importlib.metadata import PackageNotFoundError, version
from typing import Annotated, Any

from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

from skilldeck.server.mcp_app import SkilldeckServer
from skilldeck.server.settings import Settings
from skilldeck.tools.errors import InvalidInputError
from skilldeck.tools.home import home_dir
from skilldeck.tools.jobs import JobManager

__all__ = ["INSTRUCTIONS", "Services", "build_server"]

# One adapter module per engine; each exposes register(mcp, services) and a one-line TOOLSET
# summary. Each module's tools form a toolset; only "skills" and those named in
# settings.toolsets are listed at start, the rest load through enable_tools.
ADAPTERS = ("skills", "skill_quality", "verify", "finetune", "batch")

# Sent to the client at initialize; kept under 2 KB, most important first.
INSTRUCTIONS = """\
skilldeck serves Agent Skills: folders of expert instructions for specific tasks.
BEFORE starting a task, check for a matching skill: the use_skill tool's description lists the \
skills; if none there fits or the list is cut short, call find_skills with a short description of \
the task. When one matches, call use_skill(name) and follow its instructions; read the files it \
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
    extras: dict[str, Any] = field(default_factory=dict)

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
    mcp = SkilldeckServer(instructions=INSTRUCTIONS, version=package_version(), page_size=settings.page_size,
                          log_level=settings.log_level)
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
    """`enable_tools`: progressive disclosure for tools — groups load when a task needs them."""

    def describe() -> str:
        lines = ["Load a group of skilldeck tools when the task needs it (they are not listed until then):"]
        lines += [f"- {name}: {summaries[name]}" for name in mcp.toolsets if name not in mcp.enabled]
        return "\n".join(lines) if len(lines) > 1 else "All skilldeck tool groups are loaded."

    @mcp.tool()
    async def enable_tools(toolset: Annotated[str, Field(description="Name of the tool group")]) -> str:
        """(replaced at list time by the groups that can be loaded)"""
        if toolset not in mcp.toolsets or toolset == "enable_tools":
            raise ToolError(f"No tool group {toolset!r}. Groups: {', '.join(n for n in mcp.toolsets)}.")
        names = mcp.toolsets[toolset]
        if toolset not in mcp.enabled:
            mcp.enabled.add(toolset)
            await mcp.broadcast_list_changed()
        return (f"Loaded {toolset}: {', '.join(names)}. They appear in your tool list now (the server sent "
                "tools/list_changed). If your client does not refresh its tools, restart skilldeck with "
                "--toolsets all.")

    mcp.describe_tool("enable_tools", describe)
