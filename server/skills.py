"""MCP adapter for skills: the catalog, find_skills, use_skill, read_skill_file, resources,
prompts, client roots and hot reload."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import threading
import time
import warnings
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import unquote, urlparse

import anyio
from mcp.server.mcpserver import Context
from mcp.types import CallToolResult, TextContent
from pydantic import BaseModel, Field

from skilldeck.server.client_features import connection_of
from skilldeck.server.errors import tool_errors
from skilldeck.server.mcp_app import SkilldeckServer
from skilldeck.server.settings import Settings
from skilldeck.server import skills_extension
from skilldeck.server.skill_content import SkillContent
from skilldeck.tools.skills.catalog import SkillCatalog
from skilldeck.tools.home import home_dir
from skilldeck.tools.skills.listing import fair_order, render_activation, render_catalog, render_file, render_matches
from skilldeck.tools.skills.roots import skill_roots
from skilldeck.tools.skills.usage import UsageStats
from skilldeck.tools.skills.watch import SkillWatcher

__all__ = ["register", "SkillsRuntime"]

logger = logging.getLogger("skilldeck")

TOOLSET = "find, load and read Agent Skills (always loaded)"

# The search index and the watcher start this long after the first client says it is initialized (its
# tools/list comes right after), or WARMUP_FALLBACK_S after start-up when no client has by then.
WARMUP_DELAY_S = 0.5
WARMUP_FALLBACK_S = 3.0

CATALOG_INTRO = ("Load a skill's instructions by name; call this before starting a task a skill below covers. "
                 "Returns the SKILL.md body and a map of its other files (not their contents).")


class SkillsRuntime:
    """The catalog plus what keeps it current: client roots and the file watcher."""

    def __init__(self, settings: Settings, server: SkilldeckServer) -> None:
        self.settings = settings
        self.server = server
        projects = [settings.project_dir] if settings.project_dir else [Path.cwd()]
        # Edits from here on, before the watcher runs, are caught up (less a margin: file times lag the clock).
        self._indexed_ns = time.time_ns() - 100_000_000
        self.catalog = SkillCatalog(self._roots(projects), max_read_bytes=settings.max_read_bytes)
        self.watcher = SkillWatcher(self._on_change, settings.watch_debounce_ms / 1000)
        served = len(self.catalog.skills)
        roots = len(self.catalog.roots)
        logger.info("%d skill%s from %d root%s", served, "" if served == 1 else "s", roots, "" if roots == 1 else "s")
        problems = [d for d in self.catalog.diagnostics() if any(p["level"] != "info" for p in d["problems"])]
        names = sorted({d["name"] for d in problems})
        if names:
            # diagnostics() has one entry per problem file, so a skill with two problems is counted once.
            logger.warning("%d skill%s %s problems (%s); run `skilldeck skills` to see them", len(names),
                           "" if len(names) == 1 else "s", "has" if len(names) == 1 else "have",
                           ", ".join(names)[:300])
        self._watch_thread: threading.Thread | None = None
        self._warmup: threading.Timer | None = None
        self._warm_lock = threading.Lock()
        self._warmed = False
        self._described: tuple[int, str] = (-1, "")
        self._order_key = catalog_key()
        self.entries: skills_extension.SkillEntries | None = None  # SEP-2640 digests, dropped on change

    def _roots(self, projects: list[Path]):
        s = self.settings
        return skill_roots(s.skills, projects, user=s.user_skills, bundled=s.bundled_skills,
                           claude_folders=s.claude_skills)

    def _on_change(self, paths: set[Path]) -> None:
        if self.entries is not None:
            self.entries.forget(paths)
        before = self.catalog.generation
        if self.catalog.reload(paths):
            logger.info("skills reloaded after %d changed path(s): %d skills (generation %d -> %d)", len(paths),
                        len(self.catalog.skills), before, self.catalog.generation)
            self._log_problems(paths)
            self.server.broadcast_list_changed_threadsafe()
            self.catalog.prepare_search()  # rebuild now (watcher thread), not in the next find_skills
        self.server.resources_updated_threadsafe(paths)

    def _log_problems(self, paths: set[Path]) -> None:
        """One warning per changed skill that has problems now (they reach clients as log notifications)."""
        touched = set(paths).union(*(p.parents for p in paths))  # each changed path and the folders above it
        for found in self.catalog.diagnostics()[:50]:
            folder = Path(found["path"])
            if folder in touched:
                problems = [p for p in found["problems"] if p["level"] != "info"]
                if problems:
                    logger.warning("skill %s (%s): %s", found["name"], folder,
                                   "; ".join(f"{p['level']} at {p['where']}: {p['message']}" for p in problems)[:500])

    def _schedule_warm_up(self, delay: float) -> None:
        """(Re)arm the one warm-up timer; a later call replaces an earlier one that has not fired."""
        with self._warm_lock:
            if self._warmed:
                return
            if self._warmup is not None:
                self._warmup.cancel()
            self._warmup = threading.Timer(delay, self._warm_up)
            self._warmup.daemon = True
            self._warmup.start()

    async def warm_up_after_initialize(self, session: Any) -> None:
        self._schedule_warm_up(WARMUP_DELAY_S)

    def _warm_up(self) -> None:
        with self._warm_lock:
            if self._warmed:
                return
            self._warmed = True
        if self.settings.watch:
            self._watch_thread = threading.Thread(target=self._start_watching, name="skilldeck-watch", daemon=True)
            self._watch_thread.start()
        self.catalog.prepare_search()

    def _start_watching(self) -> None:
        self.watcher.start([r.path for r in self.catalog.roots])
        # Catch up on anything that changed between indexing and the watch taking effect: the
        # skills, the digests served so far (few, this early), and the files clients subscribed to
        # meanwhile (they get resources/updated).
        if self.entries is not None:
            self.entries.forget({r.path for r in self.catalog.roots})
        if self.catalog.reload():
            self.server.broadcast_list_changed_threadsafe()
        self.server.resources_updated_threadsafe(set(), since_ns=self._indexed_ns)

    def describe_catalog(self) -> str:
        generation = self.catalog.generation
        if self._described[0] != generation:
            admit = functools.partial(fair_order, roots=self.catalog.roots, key=self._order_key)
            self._described = (generation, render_catalog(CATALOG_INTRO, self.catalog.skills,
                                                          self.settings.catalog_bytes, admit))
        return self._described[1]

    async def adopt_client_roots(self, session: Any) -> None:
        """Use the client's roots as project folders (unless --project-dir was given, or under --http)."""
        caps = session.client_capabilities
        if self.settings.project_dir or not self.settings.client_roots or caps is None or caps.roots is None:
            return
        with warnings.catch_warnings():
            # Roots are deprecated for 2026-07-28 clients, yet current clients (Claude Code, VS Code)
            # still use them to say which project is open.
            warnings.simplefilter("ignore")
            listed = await session.list_roots()
        projects = [Path(unquote(urlparse(str(r.uri)).path)) for r in listed.roots if str(r.uri).startswith("file:")]
        if not projects:
            return
        roots = self._roots(projects)
        if roots == self.catalog.roots:
            return
        await anyio.to_thread.run_sync(self.catalog.set_roots, roots)
        if self.settings.watch:
            await anyio.to_thread.run_sync(self.watcher.restart, [r.path for r in roots])
        await self.server.broadcast_list_changed()

    @contextlib.asynccontextmanager
    async def watching(self, server: SkilldeckServer) -> AsyncIterator[None]:
        """Warm the search index and start the watcher in a thread once the first client has its tools.

        Both are CPU work that would hold the GIL while the client's first initialize and
        tools/list are answered; a find_skills that comes earlier builds the index itself, and
        the watcher's catch-up reload covers changes made before it watches.
        """
        self._schedule_warm_up(WARMUP_FALLBACK_S)
        try:
            yield
        finally:
            with self._warm_lock:
                self._warmed = True  # no timer may start after this
                if self._warmup is not None:
                    self._warmup.cancel()
            if self._watch_thread is not None:
                # The warm-up timer assigns the thread just before starting it: a client that leaves
                # right after initialize can end the server in between, and join() would raise.
                with contextlib.suppress(RuntimeError):
                    self._watch_thread.join(timeout=10)
            self.watcher.stop()


def catalog_key() -> bytes:
    """A secret kept in the state folder that orders a catalog too long for its budget (see
    `fair_order`): stable across restarts, unknown to skill authors."""
    path = home_dir() / "catalog.key"
    try:
        key = path.read_bytes()
        if len(key) >= 16:
            return key
    except OSError:
        pass
    key = os.urandom(32)
    with contextlib.suppress(OSError):
        path.write_bytes(key)
    return key


def session_key(ctx: Context) -> str:
    """A stable id for the client connection behind a request (the SDK makes a session object per request)."""
    connection = connection_of(ctx.session)
    connection = ctx.session if connection is None else connection
    return f"{os.getpid()}-{id(connection):x}"


def enable_semantic_search(catalog: SkillCatalog) -> bool:
    """Blend embedding scores into find_skills when the `embeddings` extra is installed.
    The vectors are computed in a background thread as soon as the search index is built (the
    warm-up builds it just after start-up), cached by content hash; until they are ready, search is
    lexical and every answer says how far the vectors are."""
    from skilldeck.tools.skills.embeddings import SemanticIndex, embeddings_available

    if not embeddings_available():
        return False
    catalog.semantic = lambda skills, intros: SemanticIndex(skills, intros=intros)
    return True


class SkillMatch(BaseModel):
    """One ranked skill in find_skills' structured answer."""

    name: str
    description: str
    score: float
    why: str = Field(description="Which words of the task matched which fields, and the semantic similarity")
    activation_tokens: int = Field(description="Tokens use_skill returns for this skill")
    fits: bool = Field(description="False: the closest skill, but not a good fit for the task")
    confidence: float = Field(description="Share of the task's informative words this skill matched (0-1)")
    close: bool = Field(description="Score within 15 % of the match above it: a near-twin, choose between them")


class FoundSkills(BaseModel):
    """find_skills' structured answer (its `structuredContent`). It is not declared as an
    outputSchema: the schema would add about 350 tokens to every session's start-up context."""

    ranking: str = Field(description="'hybrid'; 'hybrid (descriptions; full vectors 412/1,000)' while a cold start "
                                     "encodes the full texts; 'lexical (semantic index 412/1,000)' before that")
    fits: bool = Field(description="Whether the first result fits the task well")
    results: list[SkillMatch]


def register(mcp: SkilldeckServer, services: Any) -> None:
    runtime = SkillsRuntime(services.settings, mcp)
    catalog = runtime.catalog
    usage = UsageStats()
    services.catalog = catalog
    services.usage = usage
    if services.settings.embeddings == "auto":
        enable_semantic_search(catalog)
    mcp.content = SkillContent(catalog)
    runtime.entries = skills_extension.register(mcp, mcp.content)
    mcp.describe_tool("use_skill", runtime.describe_catalog)
    mcp.on_session(runtime.adopt_client_roots)
    mcp.on_session(runtime.warm_up_after_initialize)
    mcp.add_lifetime(runtime.watching)

    @mcp.tool(meta={"anthropic/alwaysLoad": True})
    def use_skill(name: Annotated[str, Field(description="Skill name, exactly as listed")], ctx: Context) -> str:
        """(replaced at list time by the catalog of skills)"""
        with tool_errors():
            result = catalog.activate(name)
            usage.record_activation(session_key(ctx), result["name"], result["tokens"],
                                    {f["path"]: f.get("tokens") for f in result["files"]})
            return render_activation(result)

    @mcp.tool()
    def find_skills(
        task: Annotated[str, Field(min_length=1, max_length=4000, description=(
            "What needs doing, in a few plain words of its domain ('speed up a slow SQL query'), "
            "not the user's whole story"))],
        ctx: Context,
        limit: Annotated[int, Field(ge=1, le=25, description="How many matches")] = 5,
        request: Annotated[str | None, Field(max_length=4000, description=(
            "The user's request in their own words, when it says more than task (it counts less)"))] = None,
    ) -> CallToolResult:  # structured_content is a FoundSkills (see there)
        """Search all skills for ones that fit a task; returns ranked matches with why they matched and the
        token cost of loading each, or says that none fits well (listing the closest). Use when the catalog in
        use_skill does not show a fitting skill."""
        with tool_errors():
            hits = catalog.search(task, limit, request=request)
            usage.record_search(session_key(ctx), task, [h["name"] for h in hits])
            ranking = hits[0]["ranking"] if hits else catalog.ranking()
            found = FoundSkills(ranking=ranking, fits=bool(hits and hits[0]["fits"]),
                                results=[SkillMatch(**{k: h[k] for k in SkillMatch.model_fields}) for h in hits])
            return CallToolResult(content=[TextContent(type="text", text=render_matches(task, hits, ranking))],
                                  structured_content=found.model_dump(mode="json"))

    @mcp.tool()
    def read_skill_file(
        name: Annotated[str, Field(description="Skill name")],
        path: Annotated[str, Field(description="File path inside the skill, as listed by use_skill")],
        ctx: Context,
        start_line: Annotated[int, Field(ge=1, description="First line to return")] = 1,
        end_line: Annotated[int | None, Field(ge=1, description="Last line to return (default: to the end)")] = None,
        toc: Annotated[bool, Field(description="Return a markdown file's headings with line numbers instead")] = False,
    ) -> str:
        """Read one file of a skill (a reference, script or template) when its instructions call for it.
        Long files come in pages: continue with the start_line given. Binary files are described, not shown."""
        with tool_errors():
            result = catalog.read_file(name, path, start_line, end_line, toc)
            usage.record_read(session_key(ctx), name, result["path"], result.get("tokens", 0))
            return render_file(result)
