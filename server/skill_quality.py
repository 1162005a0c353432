"""MCP adapter for skill quality: lint_skills and skill_stats."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import Field

from skilldeck.server.errors import tool_errors
from skilldeck.tools.skills.names import printable

__all__ = ["register", "TOOLSET"]

MAX_SKILLS_SHOWN = 40  # a table over thousands of skills would flood the model's context

TOOLSET = "audit skills (spec, size, routing, portability) and see which skills and files agents actually use"


def register(mcp: Any, services: Any) -> None:
    @mcp.tool()
    def lint_skills(
        name: Annotated[str | None, Field(description="One skill to audit (default: every skill served)")] = None,
        output: Annotated[Literal["table", "json"], Field(description="A readable table, or JSON")] = "table",
        max_lines: Annotated[int, Field(ge=1, le=100_000, description="SKILL.md body lines above which to warn")] = 200,
        budget: Annotated[int, Field(ge=1, le=1_000_000, description="Token budget of one activation")] = 5000,
    ) -> str:
        """Audit skills for problems a skill author should fix: Agent Skills spec violations (name,
        description, fields), context cost (SKILL.md over 200 lines or over the token budget, long references
        without a table of contents, files never mentioned, broken links), routing (descriptions that never say
        when to use the skill, first-person wording, two skills a router would confuse) and portability. Each
        finding names the file and line; a summary gives each skill's lines and tokens loaded on activation."""
        from skilldeck.tools.skills.lint import LintConfig, lint_folders, render_table

        with tool_errors():
            catalog = services.catalog
            skills = [catalog.get(name)] if name else catalog.skills
            if not skills:
                return "No skills are served, so there is nothing to lint."
            # files_dir: the real folder read at indexing, never where a swapped link leads now.
            report = lint_folders([s.files_dir for s in skills],
                                  LintConfig(max_lines=max_lines, budget_tokens=budget),
                                  trusted=[s.files_dir for s in skills if s.trusted])
            if output == "json":
                return json.dumps(report.to_dict(), ensure_ascii=False)
            return render_table(report, max_skills=MAX_SKILLS_SHOWN)

    @mcp.tool()
    def skill_stats(
        name: Annotated[str | None, Field(max_length=200,
                                          description="One skill (default: every skill with recorded use)")] = None,
        output: Annotated[Literal["table", "json"], Field(description="A readable table, or JSON")] = "table",
    ) -> str:
        """How skills are used, from the server's usage log: per skill, searches that returned it,
        activations, tokens loaded, and the relevance ratio (share of the tokens a skill offered on activation
        that were used: its body plus the reference documents read afterwards). Lists reference documents that
        were offered and never read, which are dead weight an author can cut or merge."""
        from skilldeck.tools.skills.usage import UsageStats, render_report

        with tool_errors():
            stats = services.usage or UsageStats()
            rows = stats.report(name)
            if name and not rows:
                return (f"No use of skill {printable(name, 100)!r} is recorded yet (searches, activations "
                        "or file reads).")
            if output == "json":
                return json.dumps(rows, ensure_ascii=False)
            return render_report(rows, stats.log_path)
