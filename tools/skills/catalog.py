"""The skill index: discovery across roots, precedence, reload, and progressive disclosure.

Roots are ordered highest precedence first. A name found in two roots resolves to the
higher one; the other is reported as shadowed. Indexing reads each SKILL.md and nothing
else; bodies and files are read when asked for, so content is never stale.
"""

from __future__ import annotations

import difflib
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from skilldeck.tools.errors import NotFoundError, SkilldeckError, StateError
from skilldeck.tools.fs import under_any
from skilldeck.tools.skills.discovery import skill_folders
from skilldeck.tools.skills.files import (FileMap, describe_binary, is_binary, open_skill_file, read_text_slice,
                                          read_toc)
from skilldeck.tools.skills.listing import render_activation
from skilldeck.tools.skills.names import printable
from skilldeck.tools.skills.search import SkillSearch, body_texts, skill_texts
from skilldeck.tools.skills.skill import Skill, SkillRoot, load_skill, read_body
from skilldeck.tools.tokens import ENCODING_NOTE, count_tokens

__all__ = ["SkillCatalog", "Shadowed", "Conflict"]

NEAR_TWIN = 0.15  # a match within 15 % of the score before it is a near-twin: both are shown as close
                  # (dev split of the routing suite: of 18 requests whose right skill came second, 8 are
                  # flagged, against 5 at 10 %; 20 of 222 right first answers are, against 16)


@dataclass(frozen=True)
class Shadowed:
    name: str
    used: Path
    used_root: str
    hidden: Path
    hidden_root: str

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "used": str(self.used), "used_root": self.used_root,
                "shadowed": str(self.hidden), "shadowed_root": self.hidden_root}


@dataclass(frozen=True)
class Conflict:
    """A folder that declares a name another folder of the same root owns (or shares it with no owner)."""

    name: str
    folder: Path
    root: str
    reason: str


@dataclass
class _View:
    """An immutable snapshot of the index, swapped in whole on reload (readers never lock)."""

    skills: dict[str, Skill] = field(default_factory=dict)    # winners, by name
    ordered: list[Skill] = field(default_factory=list)        # winners sorted by name
    shadowed: list[Shadowed] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)  # one root, one name, several folders
    generation: int = 0


class SkillCatalog:
    """Usage::

        catalog = SkillCatalog([SkillRoot(Path("skills"), "bundled")])
        catalog.search("make a gif for slack", limit=5)
        catalog.activate("slack-gif-creator")         # body + file map
        catalog.read_file("slack-gif-creator", "references/colors.md", start_line=1)
    """

    def __init__(self, roots: Sequence[SkillRoot], max_read_bytes: int = 60_000) -> None:
        self.max_read_bytes = max_read_bytes
        self._roots: list[SkillRoot] = list(roots)
        self._by_dir: dict[Path, Skill] = {}            # every loaded skill, winners and shadowed
        self._lock = threading.Lock()
        self._view = _View()
        self._files = FileMap()
        self._search: SkillSearch | None = None
        self._search_stale = False      # the index predates the latest reload
        self._search_lock = threading.Lock()
        # Optional: (skills, their body intros) -> semantic scorer for hybrid search (set by
        # server.skills when available). The intros are the search index's own, read once.
        self.semantic: Callable[[list[Skill], list[str]], Any] | None = None
        self._body_tokens: dict[Path, tuple[int, int, int, int]] = {}
        self.reload()

    # -- index -----------------------------------------------------------------------------
    @property
    def roots(self) -> list[SkillRoot]:
        return list(self._roots)

    @property
    def generation(self) -> int:
        return self._view.generation

    def set_roots(self, roots: Sequence[SkillRoot]) -> bool:
        """Replace the roots (e.g. when the client's roots arrive); True if the index changed."""
        with self._lock:
            self._roots = list(roots)
        return self.reload()

    def reload(self, changed: Iterable[Path] | None = None) -> bool:
        """Rescan; with `changed` paths, rescan only the affected entries. True if anything changed."""
        with self._lock:
            before = {s.name: (s.dir, s.mtime_ns, s.size) for s in self._view.skills.values()}
            if changed is None:
                self._by_dir = {d: s for r in self._roots for d, s in self._scan(r, None).items()}
            else:
                self._rescan_paths(changed)
            view = self._build_view()
            after = {s.name: (s.dir, s.mtime_ns, s.size) for s in view.skills.values()}
            if before == after and (self._view.shadowed, self._view.conflicts) == (view.shadowed, view.conflicts):
                if changed is None or not self._files_changed(changed):
                    return False
                self._search_stale = True  # file names are searchable too
                return True
            view.generation = self._view.generation + 1
            self._view = view
            self._search_stale = True
            return True

    def _files_changed(self, changed: Iterable[Path]) -> bool:
        # A reference file edited: the index is unchanged but resources' sizes are not.
        folders = {s.dir for s in self._view.skills.values()}
        return any(under_any(Path(p), folders) for p in changed)

    def _scan(self, root: SkillRoot, top: Path | None) -> dict[Path, Skill]:
        found: dict[Path, Skill] = {}
        for folder in skill_folders(root.path, top):
            old = self._by_dir.get(folder)
            try:
                st = (folder / "SKILL.md").stat()
                if old is not None and old.root == root and (old.mtime_ns, old.size) == (st.st_mtime_ns, st.st_size):
                    found[folder] = old
                    continue
            except OSError:
                pass
            found[folder] = load_skill(folder, root)
        return found

    def _rescan_paths(self, changed: Iterable[Path]) -> None:
        tops: set[tuple[int, Path | None]] = set()
        for raw in changed:
            path = Path(raw)
            for index, root in enumerate(self._roots):
                rp = root.path
                if path == rp or rp.is_relative_to(path) or (path.is_relative_to(rp) and (rp / "SKILL.md").is_file()):
                    tops.add((index, None))  # the root itself changed, or the root is one skill folder
                elif path.is_relative_to(rp):
                    tops.add((index, rp / path.relative_to(rp).parts[0]))
        for index, top in sorted(tops, key=lambda t: (t[0], str(t[1]))):
            root = self._roots[index]
            prefix = root.path if top is None else top
            stale = [d for d, s in self._by_dir.items() if s.root == root and (d == prefix or d.is_relative_to(prefix))]
            fresh = self._scan(root, top)
            for d in stale:
                self._by_dir.pop(d, None)
            self._by_dir.update(fresh)

    def _build_view(self) -> _View:
        """Winners by name. Across roots the higher root wins. Within one root, a folder whose name
        is the declared name wins over folders that only claim it (``0-impostor/`` declaring
        ``victim`` loses to ``victim/``, whatever the sort order); when no claimant's folder has the
        name, none is served. Every loser is reported."""
        view = _View()
        order = {root: i for i, root in enumerate(self._roots)}
        claims: dict[tuple[int, str], list[Skill]] = {}
        for skill in self._by_dir.values():
            if skill.root in order and skill.served:
                claims.setdefault((order[skill.root], skill.name), []).append(skill)
        for (_, name), claimants in sorted(claims.items(), key=lambda kv: kv[0]):
            claimants.sort(key=lambda s: str(s.dir))
            owners = [s for s in claimants if s.dir.name == name]
            winner = claimants[0] if len(claimants) == 1 else owners[0] if len(owners) == 1 else None
            for skill in claimants:
                if skill is winner:
                    continue
                reason = (f"folder {winner.dir.name!r} of the same root has that name" if winner else
                          f"{len(owners)} folders of one root are named so and declare it" if owners else
                          f"{len(claimants)} folders of one root declare it and none is named so")
                view.conflicts.append(Conflict(name, skill.dir, skill.root.label, reason))
            if winner is None:
                continue
            held = view.skills.get(name)
            if held is None:
                view.skills[name] = winner
            else:
                view.shadowed.append(Shadowed(name, held.dir, held.root.label, winner.dir, winner.root.label))
        view.ordered = sorted(view.skills.values(), key=lambda s: s.name)
        return view

    # -- lookups ---------------------------------------------------------------------------
    @property
    def skills(self) -> list[Skill]:
        """All visible skills (shadowed ones excluded), sorted by name."""
        return self._view.ordered

    @property
    def shadowed(self) -> list[Shadowed]:
        return list(self._view.shadowed)

    def lookup(self, name: str) -> Skill | None:
        """The served skill named exactly `name`, or None; cheap, no suggestions."""
        return self._view.skills.get(name) if isinstance(name, str) else None

    def get(self, name: str) -> Skill:
        skill = self._view.skills.get(name) if isinstance(name, str) else None
        if skill is None:
            names = [s.name for s in self._view.ordered]
            close = difflib.get_close_matches(str(name), names, n=5, cutoff=0.5)
            hint = f"Did you mean: {', '.join(close)}? " if close else ""
            raise NotFoundError(f"No skill named {printable(str(name), 100)!r}. {hint}Call find_skills with a "
                                f"description of the task to see matching skills ({len(names)} available).")
        return skill

    def diagnostics(self) -> list[dict[str, Any]]:
        """Every skill that has problems, with the problems (for `skilldeck skills` and the user)."""
        out = [s.summary() for s in sorted(self._by_dir.values(), key=lambda s: str(s.dir)) if s.diagnostics]
        out += [{"name": sh.name, "path": str(sh.hidden), "root": sh.hidden_root,
                 "problems": [{"level": "warning", "where": "SKILL.md",
                               "message": f"shadowed by {sh.used} ({sh.used_root}); not served"}]}
                for sh in self._view.shadowed]
        out += [{"name": c.name, "path": str(c.folder), "root": c.root,
                 "problems": [{"level": "error", "where": "SKILL.md",
                               "message": f"declares the name {c.name!r}, but {c.reason}; not served"}]}
                for c in self._view.conflicts]
        return out

    # -- progressive disclosure ------------------------------------------------------------
    def activation_tokens(self, skill: Skill) -> int:
        """Tokens use_skill returns for `skill` (its rendered answer: the body in its wrapper plus the
        map of its files), counted once per version of SKILL.md and catalog generation."""
        key = (skill.mtime_ns, skill.size, self.generation)
        cached = self._body_tokens.get(skill.dir)
        if cached and cached[:3] == key:
            return cached[3]
        try:
            tokens = count_tokens(render_activation(self.activate(skill.name, for_model=False)))
        except (OSError, SkilldeckError):
            tokens = skill.body_chars // 4
        self._body_tokens[skill.dir] = (*key, tokens)
        return tokens

    def _search_index(self) -> SkillSearch:
        """The search index, rebuilt after a reload. While a rebuild runs (thousands of skills
        take seconds), other callers get the previous index instead of waiting for it."""
        index = self._search
        if index is not None and (not self._search_stale or self._search_lock.locked()):
            return index
        with self._search_lock:
            if self._search is None or self._search_stale:
                self._search_stale = False
                skills = [s for s in self._view.ordered if s.model_invocable]
                bodies = body_texts(skills)
                semantic = self.semantic(skills, [b.intro for b in bodies]) if self.semantic and skills else None
                self._search = SkillSearch(skills, semantic=semantic, texts=skill_texts(skills, bodies=bodies))
            return self._search

    def prepare_search(self) -> None:
        """Build the search index now (it reads SKILL.md bodies for headings): call from a thread."""
        self._search_index()

    def search(self, task: str, limit: int = 5, request: str | None = None) -> list[dict[str, Any]]:
        """Ranked matches for `task` (and, counting less, `request`: the user's own words). Each says
        whether it fits (`fits`, from `confidence`), whether it is a near-twin of the one before it
        (`close`), and which ranking produced it (`ranking`)."""
        index = self._search_index()
        found = index.search(task, limit, request=request)
        progress = index.ranking()
        if found and (found[0].cosine is not None) != progress.startswith("hybrid"):
            progress = "hybrid" if found[0].cosine is not None else "lexical"  # vectors arrived mid-search
        hits: list[dict[str, Any]] = []
        for rank, hit in enumerate(found):
            close = rank > 0 and hits[0]["fits"] and found[rank - 1].score > 0 and \
                hit.score >= found[rank - 1].score * (1 - NEAR_TWIN)
            hits.append({"name": hit.skill.name, "description": hit.skill.description, "score": round(hit.score, 3),
                         "why": hit.why, "activation_tokens": self.activation_tokens(hit.skill),
                         "fits": hit.fits, "confidence": hit.confidence, "close": bool(close),
                         "ranking": progress})
        return hits

    def ranking(self) -> str:
        """The ranking find_skills would use now (see `SkillSearch.ranking`)."""
        return self._search_index().ranking()

    def activate(self, name: str, for_model: bool = True) -> dict[str, Any]:
        """The skill's body (no frontmatter) and the map of its other files, never their contents."""
        skill = self.get(name)
        if for_model and not skill.model_invocable:
            raise StateError(f"Skill {name!r} sets disable-model-invocation: only the user can start it "
                             "(as the MCP prompt of the same name).")
        try:
            body = read_body(skill)
        except NotFoundError as exc:
            raise NotFoundError(f"Skill {name!r} was removed from disk; call find_skills again.") from exc
        files, problems = self._files.files(skill.files_dir, hardlinks=skill.trusted)
        result: dict[str, Any] = {
            "name": skill.name, "folder": str(skill.dir), "body": body,
            "tokens": count_tokens(body), "tokens_note": ENCODING_NOTE,
            "files": [f.to_dict() for f in files],
        }
        if skill.allowed_tools:
            result["allowed_tools"] = skill.allowed_tools
        problems_here = [d.to_dict() for d in skill.diagnostics if d.level != "info"]
        if problems_here:
            result["skill_problems"] = problems_here
        if problems:
            result["file_problems"] = problems
        if files:
            result["next"] = ("Read a listed file only when the instructions call for it: "
                              f"read_skill_file(name={skill.name!r}, path=...).")
        return result

    def read_file(self, name: str, path: str, start_line: int = 1, end_line: int | None = None,
                  toc: bool = False) -> dict[str, Any]:
        """One file of a skill, confined to its folder; text is paged, binary is described.

        With `toc`, a markdown file's headings and line numbers come back instead of its text.
        """
        skill = self.get(name)
        try:
            rel, f = open_skill_file(skill.files_dir, path, hardlinks=skill.trusted)
        except NotFoundError as exc:
            listed = [f.path for f in self._files.files(skill.files_dir, hardlinks=skill.trusted)[0]][:15]
            raise NotFoundError(f"Skill {name!r} has no file {path!r}. Files: {', '.join(listed) or 'none'}.") from exc
        with f:
            if is_binary(f.read(8192)):
                return describe_binary(f, rel)
            if toc:
                return {"name": skill.name, "path": rel, **read_toc(f), "tokens_note": ENCODING_NOTE,
                        "hint": "Read one section with start_line and end_line taken from the toc."}
            result: dict[str, Any] = {"name": skill.name, "path": rel}
            result.update(read_text_slice(f, start_line, end_line, self.max_read_bytes))
            return result
