"""The MCP Skills extension (SEP-2640, ``io.modelcontextprotocol/skills``): skills/list, skills/get and
resources/directory/read over the skills skilldeck already serves as ``skill://`` resources.

An entry is a skill's complete manifest: the URI of its SKILL.md, its frontmatter as YAML reads it
(rendered as JSON), and every file a read would serve with its ``sha256:`` digest and size.
Digests are computed on first request, through `serve_file` (the reader behind resources/read, so
they cover exactly the bytes a read returns), and cached by each file's inode, mtime and size, so
start-up reads nothing and a file edited since is hashed again when next listed.

Which skills an entry is given for:

- skills/list lists the skills of the catalog (names on the Agent Skills rules) whose frontmatter
  names them as they are served; the others are left out of the listing, as the SEP allows;
- skills/get answers for every served skill, listed or not (as use_skill serves any by name), with
  ``_meta`` saying what a strict host will find wrong with it;
- frontmatter that is not valid YAML is served as the lenient reader recovered it, and ``_meta``
  says so (a host that compares it with its own YAML parse will refuse that skill).
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mcp.types as types
from mcp.shared.exceptions import MCPError

from skilldeck.server.errors import clip, request_error
from skilldeck.server.skill_content import SCHEME, SkillContent, resources_of, serve_file, skill_path, skill_uri
from skilldeck.tools.deadline import check
from skilldeck.tools.errors import SkilldeckError
from skilldeck.tools.fs import TooLargeError, is_within, real_path, under_any
from skilldeck.tools.skills.files import MAX_FILES, WALK_CUT, open_skill_file, servable, served_files
from skilldeck.tools.skills.files import skill_path as checked_path
from skilldeck.tools.skills.frontmatter import VerbatimFrontmatter, read_verbatim
from skilldeck.tools.skills.skill import SKILL_FILE, Skill

__all__ = ["EXTENSION", "SkillEntries", "register"]

logger = logging.getLogger("skilldeck")

EXTENSION = "io.modelcontextprotocol/skills"
NOTE = "skilldeck/"  # skilldeck's own _meta keys (the SEP's prefix is for frontmatter fields only)
MAX_SEP_FILES = 512             # SEP-2640's per-skill limits: hosts must accept up to these
MAX_SEP_BYTES = 16 * 1024 * 1024
MAX_MANIFEST_BYTES = 4 * MAX_SEP_BYTES  # past this a skill's files are "dynamic": hashing them is not bounded
TTL_MS = 0  # listings change with hot reload: a host should not trust a cached one


class ParamsWithUri(types.PaginatedRequestParams):
    uri: str


@dataclass
class _Digest:
    key: tuple[int, ...]
    size: int
    digest: str


@dataclass
class Entry:
    """One skill's SEP-2640 entry, and whether skills/list may list it."""

    wire: dict[str, Any]
    listable: bool
    notes: list[str] = field(default_factory=list)


class SkillEntries:
    """Builds entries, with digests cached per file by (device, inode, mtime, ctime, size)."""

    def __init__(self, content: SkillContent) -> None:
        self.content = content
        self.catalog = content.catalog
        self._digests: dict[Path, _Digest] = {}
        self._frontmatters: dict[str, VerbatimFrontmatter] = {}  # SKILL.md digest -> its frontmatter
        self._lock = threading.Lock()

    # -- skills/list and skills/get --------------------------------------------------------
    def list(self, cursor: int, limit: int) -> tuple[list[dict[str, Any]], int | None, int]:
        """(entries, next cursor, skills left out of this page). The cursor indexes the catalog."""
        skills = self.catalog.skills
        out, left_out, i = [], 0, cursor
        while i < len(skills) and len(out) < limit:
            entry = self.entry(skills[i])
            if entry.listable:
                out.append(entry.wire)
            else:
                left_out += 1
                logger.info("skills/list leaves out %s: %s", skills[i].name, "; ".join(entry.notes))
            i += 1
        return out, (i if i < len(skills) else None), left_out

    def get(self, uri: str) -> dict[str, Any]:
        try:
            skill, rel = self.content.locate(uri)
        except SkilldeckError:
            skill, rel = None, ""
        if skill is None or rel != SKILL_FILE or uri != skill_uri(skill_path(skill)):
            hint = f" Did you mean {skill_uri(skill_path(skill))}?" if skill is not None else ""
            raise request_error(f"No skill is served at {clip(uri)}: skills/get takes "
                                f"the URI of a skill's SKILL.md, skill://<skill-path>/SKILL.md.{hint}")
        return self.entry(skill).wire

    def entry(self, skill: Skill) -> Entry:
        files = self._manifest(skill)
        first = files[0] if files and not isinstance(files, str) else None
        verbatim = self._frontmatter(skill, first[2] if first and first[0] == SKILL_FILE else None)
        frontmatter, notes, meta = dict(verbatim.data), [], {}
        if verbatim.how != "yaml":
            meta[NOTE + "frontmatter"] = {"lenient": "not valid YAML: the fields the lenient reader recovered",
                                          "refused": "past skilldeck's bounds for YAML: not read",
                                          "none": "SKILL.md has no frontmatter"}[verbatim.how]
            meta[NOTE + "problems"] = [f"SKILL.md:{line}: {message}" for line, message in verbatim.problems][:10]
            notes.append(f"frontmatter {verbatim.how}")
        for key, value in (("name", skill.name), ("description", skill.description)):
            if not isinstance(frontmatter.get(key), str) or not frontmatter[key]:
                frontmatter[key] = value
                meta.setdefault(NOTE + "filled", []).append(key)
                notes.append(f"no {key} in frontmatter")
        if frontmatter["name"] != skill.name:
            notes.append(f"frontmatter names it {frontmatter['name'][:80]!r} but it is served as {skill.name!r}")
        if isinstance(files, str):
            notes.append(files)
            resources: list[dict[str, Any]] | str = "dynamic"
        else:
            resources = [{"uri": skill_uri(skill_path(skill), rel), "digest": digest, "size": size}
                         for rel, size, digest in files]
            total = sum(size for _, size, _ in files)
            if len(files) > MAX_SEP_FILES or total > MAX_SEP_BYTES:
                meta[NOTE + "over-limits"] = (f"{len(files)} files, {total:,} bytes: SEP-2640 hosts need only accept "
                                              f"{MAX_SEP_FILES} files and {MAX_SEP_BYTES:,} bytes")
        if notes:
            meta[NOTE + "not-listed-because"] = notes
        wire: dict[str, Any] = {"uri": skill_uri(skill_path(skill)), "frontmatter": frontmatter,
                                "resources": resources}
        if meta:
            wire["_meta"] = meta
        listable = frontmatter["name"] == skill.name and not isinstance(files, str)
        if listable:
            meta.pop(NOTE + "not-listed-because", None)
        return Entry(wire, listable, notes)

    def _frontmatter(self, skill: Skill, digest: str | None) -> VerbatimFrontmatter:
        """SKILL.md's frontmatter as YAML reads it, parsed once per content (keyed by its digest)."""
        cached = self._frontmatters.get(digest) if digest else None
        if cached is not None:
            return cached
        head = serve_or_none(skill, SKILL_FILE)
        verbatim = read_verbatim(head.text if head and head.text is not None else "")
        if head is not None and f"sha256:{hashlib.sha256(head.data).hexdigest()}" == digest:
            with self._lock:
                if len(self._frontmatters) > 4 * max(1000, len(self.catalog.skills)):
                    self._frontmatters.clear()  # edits leave old versions behind; start again past a bound
                self._frontmatters[digest] = verbatim
        return verbatim

    def _manifest(self, skill: Skill) -> list[tuple[str, int, str]] | str:
        """(path, size, digest) of SKILL.md and every file a read would serve; or why there is no such
        list: past MAX_FILES files or MAX_MANIFEST_BYTES bytes (hashing a stranger's 40 sparse files
        of 255 MB took minutes), or the walk of its folders was cut short (it would not be complete)."""
        base = skill.files_dir
        st = servable(base / SKILL_FILE, SKILL_FILE, base, skill.trusted)
        files = [] if isinstance(st, str) else [(SKILL_FILE, base / SKILL_FILE, st)]
        problems: list[str] = []
        found = list(itertools.islice(itertools.chain(files, served_files(base, skill.trusted, problems)),
                                      MAX_FILES + 2))
        if len(found) > MAX_FILES + 1:
            return f"more than {MAX_FILES} files"
        if WALK_CUT in problems:
            return WALK_CUT
        total = sum(st.st_size for _, _, st in found)
        if total > MAX_MANIFEST_BYTES:
            return f"{total:,} bytes, more than the {MAX_MANIFEST_BYTES:,} skilldeck lists with digests"
        out = []
        for rel, full, st in found:
            check("Listing the skill's files with their digests")
            digest = self._digest(skill, rel, full, st)
            if digest is not None:
                out.append((rel, digest.size, digest.digest))
        return out

    def _digest(self, skill: Skill, rel: str, full: Path, st: os.stat_result) -> _Digest | None:
        key = (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_ctime_ns, st.st_size)
        with self._lock:
            cached = self._digests.get(full)
        if cached is not None and cached.key == key:
            return cached
        try:
            served = serve_file(skill, rel)
            size, digest = len(served.data), hashlib.sha256(served.data).hexdigest()
        except TooLargeError:
            size, digest = _stream_digest(skill, rel)  # listed for completeness; read_skill_file pages it
        except SkilldeckError as exc:  # vanished or swapped since the walk: a read would not serve it
            logger.debug("not digesting %s/%s: %s", skill.name, rel, exc)
            return None
        found = _Digest(key, size, f"sha256:{digest}")
        with self._lock:
            self._digests[full] = found
        return found

    def forget(self, paths: set[Path]) -> None:
        """Drop cached digests of `paths` and of files below them (the watcher saw them change)."""
        with self._lock:
            for full in [p for p in self._digests if under_any(p, paths)]:
                del self._digests[full]

    # -- resources/directory/read ----------------------------------------------------------
    def directory(self, uri: str) -> list[types.Resource]:
        """The direct children of a skill's folder, one of its sub-folders, or a group of skills."""
        if uri.endswith("/") or not uri.startswith(SCHEME):
            raise _not_a_directory(uri, "directory URIs are written without a trailing slash")
        groups = self._groups()
        group = uri[len(SCHEME):]
        if group in groups:
            return [types.Resource(uri=skill_uri(skill_path(s), ""), name=s.name, mime_type="inode/directory",
                                   description=s.description[:1024] or None) for s in groups[group]]
        try:
            skill, rel = self.content.locate(uri + "/" + SKILL_FILE)
        except SkilldeckError as exc:
            raise _not_a_directory(uri, clip(str(exc), 300)) from exc
        folder = rel.removesuffix(SKILL_FILE).rstrip("/")
        if rel != SKILL_FILE and not rel.endswith("/" + SKILL_FILE):
            raise _not_a_directory(uri, "")
        if folder:
            self._check_folder(skill, folder, uri)
        prefix = f"{folder}/" if folder else ""
        children: dict[str, types.Resource] = {}
        for rel_path, size in resources_of(skill):
            if not rel_path.startswith(prefix):
                continue
            head, _, rest = rel_path[len(prefix):].partition("/")
            if rest:
                child = prefix + head
                children.setdefault(child, types.Resource(uri=skill_uri(skill_path(skill), child), name=head,
                                                          mime_type="inode/directory"))
            else:
                children[rel_path] = self.content.resource(skill, rel_path, size, short_name=True)
        return list(children.values())

    def _check_folder(self, skill: Skill, folder: str, uri: str) -> None:
        """A sub-folder must pass the same path checks as a file, and be a real folder inside the skill."""
        try:
            _, target = checked_path(skill.files_dir, folder)
        except SkilldeckError as exc:
            raise _not_a_directory(uri, clip(str(exc), 300)) from exc
        if not is_within(real_path(target), [skill.files_dir]) or not target.is_dir() or target.is_symlink():
            raise _not_a_directory(uri, "")

    def _groups(self) -> dict[str, list[Skill]]:
        groups: dict[str, list[Skill]] = {}
        for skill in self.catalog.skills:
            path = skill_path(skill)
            if "/" in path:
                groups.setdefault(path.rsplit("/", 1)[0], []).append(skill)
        return groups


def serve_or_none(skill: Skill, rel: str):
    try:
        return serve_file(skill, rel)
    except SkilldeckError:
        return None


def _stream_digest(skill: Skill, rel: str) -> tuple[int, str]:
    """Size and SHA-256 of a file too large to serve whole, read in chunks through `open_skill_file`."""
    sha, size = hashlib.sha256(), 0
    _, f = open_skill_file(skill.files_dir, rel, hardlinks=skill.trusted)
    with f:
        while chunk := f.read(1 << 20):
            check("Hashing a large file of the skill")
            sha.update(chunk)
            size += len(chunk)
    return size, sha.hexdigest()


def _not_a_directory(uri: str, why: str) -> MCPError:
    reason = f" ({why})" if why else ""
    return request_error(f"{clip(uri)} is not a directory resource{reason}; "
                         "directories are skill://<skill-path> and its sub-folders, e.g. skill://pdf-forms/references")


def register(server: Any, content: SkillContent) -> SkillEntries:
    """Serve skills/list, skills/get and resources/directory/read on `server` (a SkilldeckServer) and
    declare the extension in its capabilities (with directoryRead)."""
    from skilldeck.server.mcp_app import decode_cursor, encode_cursor

    entries = SkillEntries(content)
    low = server._lowlevel_server
    cache = {"ttlMs": TTL_MS, "cacheScope": "private"}  # private: client roots make the catalog per client

    async def list_skills(ctx: Any, params: types.PaginatedRequestParams) -> dict[str, Any]:
        offset = decode_cursor(params.cursor)
        skills, nxt, _ = await server._bounded("skills/list", entries.list, offset, server.page_size)
        result: dict[str, Any] = {"skills": skills, **cache}
        if nxt is not None:
            result["nextCursor"] = encode_cursor(nxt)
        return result

    async def get_skill(ctx: Any, params: ParamsWithUri) -> dict[str, Any]:
        return {"skill": await server._bounded("skills/get", entries.get, params.uri), **cache}

    async def read_directory(ctx: Any, params: ParamsWithUri) -> dict[str, Any]:
        children = await server._bounded("resources/directory/read", entries.directory, params.uri)
        offset = decode_cursor(params.cursor)
        page = children[offset: offset + server.page_size]
        result: dict[str, Any] = {"resources": [r.model_dump(by_alias=True, mode="json", exclude_none=True)
                                                for r in page], **cache}
        if offset + server.page_size < len(children):
            result["nextCursor"] = encode_cursor(offset + server.page_size)
        return result

    low.add_request_handler("skills/list", types.PaginatedRequestParams, list_skills)
    low.add_request_handler("skills/get", ParamsWithUri, get_skill)
    low.add_request_handler("resources/directory/read", ParamsWithUri, read_directory)
    low.extensions[EXTENSION] = {"directoryRead": True}

    async def declare_to_handshake_clients(ctx: Any, call_next: Any) -> Any:
        # The SDK sieves `capabilities.extensions` out of initialize results for protocol versions
        # before 2026-07-28 (its schema for them has no such field), yet SEP-2133 hosts on those
        # versions read it there. Put it back; a client that does not know the field ignores it.
        result = await call_next(ctx)
        if ctx.method == "initialize" and isinstance(result, dict):
            capabilities = result.get("capabilities")
            if isinstance(capabilities, dict) and "extensions" not in capabilities:
                capabilities["extensions"] = {EXTENSION: dict(low.extensions[EXTENSION])}
        return result

    low.middleware.append(declare_to_handshake_clients)
    return entries
