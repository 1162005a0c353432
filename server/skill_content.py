"""Skills as MCP resources and prompts (one per user-invocable skill).

A skill file's URI is ``skill://<skill-path>/<file-path>`` (SEP-2640): the skill path is the
skill's group folders, if it sits in one (``ROOT/<group>/<skill>/``), then its name, so the last
segment is always the name. The older ``skill://<name>/<file-path>`` still reads a grouped skill.
`serve_file` is the one reader behind resources/read and the SEP-2640 digests, so a digest always
covers the bytes a read sends.
"""

from __future__ import annotations

import base64
import mimetypes
import re
import threading
from bisect import bisect_right
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote

import mcp.types as types

from skilldeck.server.errors import redact
from skilldeck.tools.errors import InvalidInputError, NotFoundError, SkilldeckError
from skilldeck.tools.fs import TooLargeError
from skilldeck.tools.skills.catalog import SkillCatalog
from skilldeck.tools.skills.discovery import MAX_DEPTH
from skilldeck.tools.skills.files import is_binary, open_skill_file, served_files
from skilldeck.tools.skills.files import skill_path as skill_path_checked
from skilldeck.tools.skills.skill import SKILL_FILE, Skill, read_body
from skilldeck.tools.tokens import count_tokens

__all__ = ["SkillContent", "ServedFile", "resources_of", "serve_file", "skill_path", "skill_uri", "SKILL_META"]

SCHEME = "skill://"
MAX_RESOURCE_BYTES = 10 * 1024 * 1024
MAX_PROMPT_BYTES = 1024 * 1024  # a prompt whose argument substitution would grow past this is refused
MAX_COMPLETIONS = 100  # the most values completion/complete may return
SKILL_META = "io.modelcontextprotocol.skills/"  # SEP-2640's prefix for frontmatter fields in _meta


def skill_path(skill: Skill) -> str:
    """The skill's place in the ``skill://`` namespace: its group folder (if any), then its name."""
    try:
        groups = skill.dir.relative_to(skill.root.path).parts[:-1]
    except ValueError:
        groups = ()
    return "/".join([*groups, skill.name])


def skill_uri(path: str, rel: str = SKILL_FILE) -> str:
    """``skill://<skill-path>/<rel>``, each segment percent-encoded (a group folder's name may hold
    any printable character)."""
    head = "/".join(quote(segment, safe="") for segment in path.split("/"))
    return f"{SCHEME}{head}/{quote(rel, safe='/')}" if rel else f"{SCHEME}{head}"


@dataclass(frozen=True)
class ServedFile:
    """What resources/read sends for one skill file: `data` is exactly the bytes a client gets back
    (a text file's UTF-8, after redaction; a blob's decoded bytes), so its size and digest are the
    SEP-2640 manifest's."""

    rel: str
    data: bytes
    mime: str
    text: str | None  # None: binary, sent as a blob


def serve_file(skill: Skill, path: str) -> ServedFile:
    """Read one file of `skill` as resources/read serves it, through `open_skill_file` (confined,
    regular files only, never blocking) and at most `MAX_RESOURCE_BYTES`."""
    try:
        rel, f = open_skill_file(skill.files_dir, path, hardlinks=skill.trusted)
    except NotFoundError as exc:
        raise NotFoundError(f"Skill {skill.name!r} has no file {path!r}") from exc
    with f:
        data = f.read(MAX_RESOURCE_BYTES + 1)
    if len(data) > MAX_RESOURCE_BYTES:
        raise TooLargeError(f"{skill.name}/{rel} is over the {MAX_RESOURCE_BYTES}-byte limit for resources; "
                            "read it in pages with read_skill_file")
    text = _as_text(data)
    if text is not None:
        # Redacted here rather than on the way out, so that the digest covers what is sent.
        cleaned = redact(text)
        if cleaned != text:
            text, data = cleaned, cleaned.encode()
    return ServedFile(rel, data, _mime(rel), text)


def _as_text(data: bytes) -> str | None:
    """The file as text if all of it is UTF-8 without NUL bytes (sent as text, it round-trips to the
    same bytes); None for anything else, which goes as a blob."""
    if is_binary(data[:8192]) or b"\x00" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


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
                    walked[i] = resources_of(skills[i])
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

    # -- addressing ------------------------------------------------------------------------
    def locate(self, uri: str) -> tuple[Skill, str]:
        """(skill, file path) for a ``skill://`` URI: the SEP-2640 form ``skill://<groups>/<name>/<path>``
        first (up to three group folders), then ``skill://<name>/<path>`` (ungrouped skills, and the
        form skilldeck served before). Any served skill can be addressed, listed over skills/list or not."""
        if not uri.startswith(SCHEME):
            raise InvalidInputError(f"Unknown resource {uri[:200]!r}: skilldeck serves skill://<skill-path>/<file-path>")
        segments = uri[len(SCHEME):].split("/")
        for end in range(1, min(len(segments), MAX_DEPTH)):  # the group folders, then the name
            grouped = self.catalog.lookup(unquote(segments[end]))
            if grouped is not None and skill_path(grouped) == unquote("/".join(segments[:end + 1])):
                return grouped, unquote("/".join(segments[end + 1:])) or SKILL_FILE
        return self.catalog.get(unquote(segments[0])), unquote("/".join(segments[1:])) or SKILL_FILE

    def path_of(self, uri: str) -> Path | None:
        """Where the file behind `uri` lives (for subscriptions), or None if no served skill holds it."""
        try:
            skill, rel = self.locate(uri)
            return skill_path_checked(skill.dir, rel)[1]
        except (SkilldeckError, ValueError):
            return None

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
            paths = walked.pop(i, None) or resources_of(skill)
            self._offsets.update(skills, i, len(paths))
            for rel, size in paths:
                if index >= cursor:
                    if len(out) == limit:
                        return out, index
                    out.append(self.resource(skill, rel, size))
                index += 1
        return out, None

    def resource(self, skill: Skill, rel: str, size: int | None = None, *, short_name: bool = False) -> types.Resource:
        """The listing entry of one file. A SKILL.md carries the skill's name and description and, under
        `SKILL_META` keys, its other frontmatter fields (SEP-2640 "Resource Metadata")."""
        uri = skill_uri(skill_path(skill), rel)
        if rel == SKILL_FILE:
            return types.Resource(uri=uri, name=skill.name, description=skill.description[:1024] or None,
                                  mime_type="text/markdown", size=size, _meta=_frontmatter_meta(skill) or None)
        name = rel.rsplit("/", 1)[-1] if short_name else f"{skill_path(skill)}/{rel}"
        return types.Resource(uri=uri, name=name, description=f"File of skill {skill.name}", mime_type=_mime(rel),
                              size=size)

    def resource_templates(self) -> list[types.ResourceTemplate]:
        return [types.ResourceTemplate(
            uri_template=SCHEME + "{name}/{+path}", name="skill-file",
            description="A file of a skill: SKILL.md or any path listed by use_skill (e.g. references/guide.md).")]

    def read_resource(self, uri: str) -> list[types.TextResourceContents | types.BlobResourceContents]:
        skill, path = self.locate(uri)
        served = serve_file(skill, path)
        if served.text is None:
            return [types.BlobResourceContents(uri=uri, mime_type=served.mime,
                                               blob=base64.b64encode(served.data).decode())]
        meta = {"tokens": count_tokens(served.text), "tokens_note": "estimate (cl100k)"}
        return [types.TextResourceContents(uri=uri, mime_type=served.mime, text=served.text, _meta=meta)]

    # -- completion ------------------------------------------------------------------------
    def complete(self, ref: types.PromptReference | types.ResourceTemplateReference, argument: str, value: str,
                 context: dict[str, str]) -> tuple[list[str], int]:
        """(values, total) completing `argument` of a prompt or of the skill-file template."""
        if isinstance(ref, types.ResourceTemplateReference):
            if ref.uri != SCHEME + "{name}/{+path}":
                return [], 0
            if argument == "name":
                return _matching([s.name for s in self.catalog.skills], value)
            if argument == "path":
                skill = self.catalog.lookup(context.get("name", ""))
                if skill is None:
                    return [], 0
                return _matching([rel for rel, _ in resources_of(skill)], value)
            return [], 0
        skill = self.catalog.lookup(ref.name)
        if skill is None or not skill.user_invocable or argument not in ("request", "arguments"):
            return [], 0
        return _matching(_hint_choices(skill.argument_hint), value)

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


def resources_of(skill: Skill) -> list[tuple[str, int]]:
    """(relative path, size) of SKILL.md and every other file of `skill` a read would serve."""
    return [(SKILL_FILE, skill.size)] + _sized_files(skill.files_dir, skill.trusted)


def _sized_files(folder: Path, hardlinks: bool) -> list[tuple[str, int]]:
    """(relative path, size) of the files of a skill that reads would serve, without reading them."""
    return [(rel, st.st_size) for rel, _, st in served_files(folder, hardlinks)]


def _frontmatter_meta(skill: Skill) -> dict[str, object]:
    """The frontmatter fields other than name and description that the index read (as written in
    SKILL.md, under SEP-2640's `_meta` prefix); defaults are left out."""
    fields: dict[str, object] = {"license": skill.license, "compatibility": skill.compatibility,
                                 "metadata": skill.metadata, "allowed-tools": skill.allowed_tools,
                                 "when_to_use": skill.when_to_use, "argument-hint": skill.argument_hint}
    meta = {SKILL_META + key: value for key, value in fields.items() if value}
    if not skill.model_invocable:
        meta[SKILL_META + "disable-model-invocation"] = True
    if not skill.user_invocable:
        meta[SKILL_META + "user-invocable"] = False
    return meta


def _matching(candidates: list[str], prefix: str) -> tuple[list[str], int]:
    found = [c for c in candidates if c.startswith(prefix)]
    return found[:MAX_COMPLETIONS], len(found)


def _hint_choices(hint: str) -> list[str]:
    """Values an ``argument-hint`` offers as alternatives (``[staging|production]``), else none: a
    free-text request has nothing to complete."""
    inner = hint.strip().strip("[]<>() ")
    if "|" not in inner:
        return []
    return [c.strip() for c in re.split(r"\s*\|\s*", inner) if c.strip() and " " not in c.strip()]
