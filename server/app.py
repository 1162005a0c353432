"""build_server(settings) -> MCPServer: builds the engines and registers the adapters."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from functools import cached_property

from skilldeck.server.settings import Settings
from skilldeck.tools.home import home_dir
from skilldeck.tools.jobs import JobManager

__all__ = ["Services", "build_server"]

# One adapter module per engine; each exposes register(mcp, services).
ADAPTERS = ("skills",)


@dataclass
class Services:
    """What adapters share. Engines are built lazily so start-up stays fast."""

    settings: Settings
    extras: dict = field(default_factory=dict)

    @cached_property
    def jobs(self) -> JobManager:
        return JobManager(home_dir() / "jobs")


def build_server(settings: Settings):
    from skilldeck.server.mcp_app import SkilldeckServer

    services = Services(settings)
    mcp = SkilldeckServer(services)
    for name in ADAPTERS:
        importlib.import_module(f"skilldeck.server.{name}").register(mcp, services)
    return mcp
