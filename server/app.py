"""build_server(settings) -> SkilldeckServer: builds the engines and registers the adapters."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from functools import cached_property
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from skilldeck.server.mcp_app import SkilldeckServer
from skilldeck.server.settings import Settings
from skilldeck.tools.home import home_dir
from skilldeck.tools.jobs import JobManager

__all__ = ["INSTRUCTIONS", "Services", "build_server"]

# One adapter module per engine; each exposes register(mcp, services).
ADAPTERS = ("skills",)

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
Other tools here: verify an answer's claims against evidence before presenting it \
(verify_answer), run many small LLM tasks under provider rate limits (plan_batches, run_batches), \
and decide on, validate data for and run LoRA fine-tuning (finetune_advice, validate_dataset, \
start_training). Long jobs run in the background; poll their status tools."""


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
    for name in ADAPTERS:
        importlib.import_module(f"skilldeck.server.{name}").register(mcp, services)
    return mcp
