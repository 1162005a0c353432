"""Skills as MCP resources (``skill://<name>/<path>``) and prompts (one per user-invocable skill)."""

from __future__ import annotations

import base64
import mimetypes
import threading
from bisect import bisect_right
from pathlib import Path
from urllib.parse import quote, unquote

import mcp.types as types

from skilldeck.tools.errors import InvalidInputError, NotFoundError
from skilldeck.tools.fs import real_path
from skilldeck.tools.skills.catalog import SkillCatalog
from skilldeck.tools.skills.files import is_binary, open_skill_file, servable, walk_files
from skilldeck.tools.skills.skill import SKILL_FILE, Skill, read_body
from skilldeck.tools.tokens import count_tokens

__all__ = ["SkillContent", "skill_uri"]

SCHEME = "skill://"
MAX_RESOURCE_BYTES = 10 * 1024 * 1024
MAX_PROMPT_BYTES = 1024 * 1024  # a prompt whose argument substitution would grow past this is refused


def skill_uri(name: str, path: str) -> str:
    return f"{SCHEME}{quote(name, safe='')}/{quote(path, safe='/')}"


def _mime(path: str) -> str:
    if path.endswith((".md", ".markdown")):
        return "text/markdown"
    return mimetypes.guess_type(path)[0] or "application/octet-stream"


class _Offsets:
    """Where each skill's resources start in the listing, so a page finds its first skill by
    bisection instead of walking every folder before it.

    Counts are kept per skill folder and refreshed whenever a page lists the skill, so a walk of
    all pages begun after a change sees that change consistently (a file added to a skill changes
    no catalog generation, only the count). The starts belong to one `catalog.skills` list (a new
    list each generation) and are extended lazily, only as far as a cursor needs.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._skills: list[Skill] = []
        self._starts = [0]                  # _starts[i]: index of skill i's first resource
        self._counts: dict[Path, int] = {}  # skill folder -> resources (SKILL.md + files)

    def locate(self, skills: list[Skill], cursor: int, walked: dict[int, list[tuple[str, int]]]) -> tuple[int, int]:
        """(i, start): the skill holding resource `cursor` (len(skills) past the end) and the index
        of its first resource. Folders walked to count them are left in `walked` for the page."""
        with self._lock:
            if skills is not self._skills:
                live = {s.dir for s in skills}
                self._counts = {d: n for d, n in self._counts.items() if d in live}
                self._skills, self._starts = skills, [0]
            starts = self._starts
            while starts[-1] <= cursor and len(starts) <= len(skills):
                i = len(starts) - 1
                count = self._counts.get(skills[i].dir)
                if count is None:
                    walked[i] = _resources_of(skills[i])
                    count = self._counts[skills[i].dir] = len(walked[i])
                starts.append(starts[-1] + count)
            i = bisect_right(starts, cursor) - 1
            return i, starts[i]

    def update(self, skills: list[Skill], i: int, count: int) -> None:
        """Skill `i` of `skills` was just listed with `count` resources."""
        with self._lock:
            if self._counts.get(skills[i].dir) != count:
                self._counts[skills[i].dir] = count
                if skills is self._skills:
                    del self._starts[i + 1:]


class SkillContent:
    """The `ContentSource` for skills. Listing pages walk only the skills they need."""

    def __init__(self, catalog: SkillCatalog) -> None:
        self.catalog = catalog
        self._offsets = _Offsets()

    # -- resources -------------------------------------------------------------------------
    def list_resources(self, cursor: int, limit: int) -> tuple[list[types.Resource], int | None]:
        """Resources in a stable order: each skill's SKILL.md, then its files. Cursor = index."""
        skills = self.catalog.skills
        walked: dict[int, list[tuple[str, int]]] = {}
        first, index = self._offsets.locate(skills, cursor, walked)
        out: list[types.Resource] = []
        for i in range(first, len(skills)):
            if len(out) == limit:
                return out, index  # every skill has at least its SKILL.md: there is a next page
            skill = skills[i]
            paths = walked.pop(i, None) or _resources_of(skill)
            self._offsets.update(skills, i, len(paths))
            for rel, size in paths:
                if index >= cursor:
                    if len(out) == limit:
                        return out, index
                    desc = skill.description if rel == SKILL_FILE else f"File of skill {skill.name}"
                    out.append(types.Resource(uri=skill_uri(skill.name, rel), name=f"{skill.name}/{rel}",
                                              description=desc[:300], mime_type=_mime(rel), size=size))
                index += 1
        return out, None

    def resource_templates(self) -> list[types.ResourceTemplate]:
        return [types.ResourceTemplate(
            uri_template=SCHEME + "{name}/{+path}", name="skill-file",
            description="A file of a skill: SKILL.md or any path listed by use_skill (e.g. references/guide.md).")]

    def read_resource(self, uri: str) -> list[types.TextResourceContents | types.BlobResourceContents]:
        if not uri.startswith(SCHEME):
            raise InvalidInputError(f"Unknown resource {uri!r}: skilldeck serves skill://<name>/<path>")
        name, _, path = uri[len(SCHEME):].partition("/")
        name, path = unquote(name), unquote(path) or SKILL_FILE
        skill = self.catalog.get(name)
        try:
            rel, f = open_skill_file(skill.dir, path, hardlinks=skill.trusted)
        except NotFoundError as exc:
            raise NotFoundError(f"Skill {name!r} has no file {path!r}") from exc
        with f:
            data = f.read(MAX_RESOURCE_BYTES + 1)
        if len(data) > MAX_RESOURCE_BYTES:
            raise InvalidInputError(f"{name}/{path} is over the {MAX_RESOURCE_BYTES}-byte limit for resources; "
                                    "read it in pages with read_skill_file")
        if is_binary(data[:8192]):
            return [types.BlobResourceContents(uri=uri, mime_type=_mime(path),
                                               blob=base64.b64encode(data).decode())]
        text = data.decode("utf-8", errors="replace")
        meta = {"tokens": count_tokens(text), "tokens_note": "estimate (cl100k)"}
        return [types.TextResourceContents(uri=uri, mime_type=_mime(path), text=text, _meta=meta)]

    # -- prompts ---------------------------------------------------------------------------
    def _prompt_skills(self):
        return [s for s in self.catalog.skills if s.user_invocable]

    def list_prompts(self, cursor: int, limit: int) -> tuple[list[types.Prompt], int | None]:
        skills = self._prompt_skills()
        page = skills[cursor: cursor + limit]
        prompts = [types.Prompt(name=s.name, description=s.description[:1024] or None, arguments=[
            types.PromptArgument(name="request", required=False,
                                 description=s.argument_hint or "What to apply the skill to (optional)")])
            for s in page]
        nxt = cursor + limit if cursor + limit < len(skills) else None
        return prompts, nxt

    def get_prompt(self, name: str, arguments: dict[str, str]) -> types.GetPromptResult:
        skill = self.catalog.get(name)
        if not skill.user_invocable:
            raise InvalidInputError(f"Skill {name!r} sets user-invocable: false; it is not offered as a prompt")
        request = (arguments.get("request") or arguments.get("arguments") or "").strip()
        body = read_body(skill)
        grown = len(body.encode()) + body.count("$ARGUMENTS") * len(request.encode())
        if grown > MAX_PROMPT_BYTES:
            raise InvalidInputError(f"the prompt for {name!r} would be {grown:,} bytes with this request (the skill "
                                    f"uses $ARGUMENTS {body.count('$ARGUMENTS')} times), over the "
                                    f"{MAX_PROMPT_BYTES:,}-byte limit; give a shorter request")
        body = body.replace("$ARGUMENTS", request)
        text = (f"Use the skill '{skill.name}' (folder {skill.dir}). Its instructions follow; read its other files "
                f"with read_skill_file(name={skill.name!r}, path=...) only when they are needed.\n\n{body.strip()}\n")
        if request:
            text += f"\nThe request: {request}\n"
        return types.GetPromptResult(description=skill.description[:1024] or None, messages=[
            types.PromptMessage(role="user", content=types.TextContent(type="text", text=text))])


def _resources_of(skill: Skill) -> list[tuple[str, int]]:
    return [(SKILL_FILE, skill.size)] + _sized_files(skill.dir, skill.trusted)


def _sized_files(folder: Path, hardlinks: bool) -> list[tuple[str, int]]:
    """(relative path, size) of the files of a skill that reads would serve, without reading them."""
    base = real_path(folder)
    out = []
    for rel, full in walk_files(base):
        st = servable(full, rel, base, hardlinks)
        if not isinstance(st, str):
            out.append((rel, st.st_size))
    return out
