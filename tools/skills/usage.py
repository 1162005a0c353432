"""Usage statistics: which skills were searched, activated, and which of their files were read.

Every event is appended as one JSON line to a log (by default ``home_dir()/usage.jsonl``), so
`report` covers earlier runs and other server processes too. Once the log passes `MAX_LOG_BYTES`
it is moved to ``usage.1.jsonl`` (replacing the one before) and a new log begins; `report` reads
both, so it covers the latest 5-10 MB of history.

Figures per skill (see `UsageStats.report`):

- ``searches``: searches whose results included the skill; ``top_hits``: of those, ranked first.
- ``activations``: times the skill was loaded (``use_skill``); ``sessions``: distinct sessions.
- ``tokens_loaded``: tokens that actually entered a context: every activation's SKILL.md body plus
  the tokens returned by every file read of the skill.
- ``relevance_ratio``: over all activations, the share of the skill's *offered* tokens that were
  used. An activation offers its body plus every reference document it listed (``.md``, ``.txt``,
  ``.rst`` files: the ones meant to be read; scripts and assets are run or copied, not read); it uses
  its body plus each such document that was read (any part of it, at the file's listed size) in the
  same session after that activation and before the skill's next activation in that session::

      relevance_ratio = sum(body + tokens of listed documents read) / sum(body + tokens of listed documents)

  1.0 means everything the skill asks an agent to read was needed every time; a low ratio means
  most of its references ride along unread. None when the skill was never activated.
- ``files``: per listed file (any kind), its tokens, how often it was offered and how often read.
- ``dead_weight``: reference documents offered in at least one activation and never read after any.
"""

from __future__ import annotations

import collections
import json
import logging
import math
import os
import stat
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from skilldeck.tools.errors import SkilldeckError
from skilldeck.tools.fs import open_file
from skilldeck.tools.home import home_dir

__all__ = ["UsageStats", "LOG_NAME", "MAX_LOG_BYTES", "rotated_path", "render_report"]

LOG_NAME = "usage.jsonl"
MAX_LOG_BYTES = 5 * 1024 * 1024   # past this the log is rotated: one previous file is kept
MAX_MEMORY_EVENTS = 10_000        # events kept in memory while the log cannot be written (the newest)
logger = logging.getLogger("skilldeck.usage")


_DOCUMENTS = (".md", ".markdown", ".mdx", ".txt", ".rst")


def _is_document(path: str) -> bool:
    """A file meant to be read into context (scripts are run and assets copied, not read)."""
    name = path.rsplit("/", 1)[-1].lower()
    return name.endswith(_DOCUMENTS) and not name.startswith(("license", "licence", "requirements"))


@dataclass
class _Activation:
    body: int
    files: dict[str, int]
    read: set[str] = field(default_factory=set)


@dataclass
class _SkillFigures:
    name: str
    searches: int = 0
    top_hits: int = 0
    activations: list[_Activation] = field(default_factory=list)
    sessions: set[str] = field(default_factory=set)
    read_tokens: int = 0
    reads: dict[str, int] = field(default_factory=dict)    # path -> read calls
    last_used: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        offered = sum(a.body + sum(t for p, t in a.files.items() if _is_document(p)) for a in self.activations)
        used = sum(a.body + sum(a.files[p] for p in a.read if _is_document(p)) for a in self.activations)
        files: dict[str, dict[str, int]] = {}
        for act in self.activations:
            for path, tokens in act.files.items():
                entry = files.setdefault(path, {"tokens": tokens, "offered": 0, "read_after_activation": 0})
                entry["tokens"] = tokens  # the latest size wins
                entry["offered"] += 1
                entry["read_after_activation"] += path in act.read
        body = self.activations[-1].body if self.activations else None
        return {
            "name": self.name,
            "searches": self.searches,
            "top_hits": self.top_hits,
            "activations": len(self.activations),
            "sessions": len(self.sessions),
            "body_tokens": body,
            "tokens_loaded": sum(a.body for a in self.activations) + self.read_tokens,
            "tokens_offered": offered,
            "relevance_ratio": round(used / offered, 3) if offered else (1.0 if self.activations else None),
            "reads": dict(sorted(self.reads.items())),
            "files": [{"path": p, **v} for p, v in sorted(files.items())],
            "dead_weight": sorted(p for p, v in files.items() if v["read_after_activation"] == 0 and _is_document(p)),
            "last_used": self.last_used or None,
        }


class UsageStats:
    """Records skill usage and reports it per skill.

    Usage::

        stats = UsageStats(home_dir() / "usage.jsonl")   # or UsageStats(None): the default log
        stats.record_search("s1", "make a gif", ["slack-gif-creator", "canvas-design"])
        stats.record_activation("s1", "slack-gif-creator", 1800, {"reference/colors.md": 400})
        stats.record_read("s1", "slack-gif-creator", "reference/colors.md", 400)
        stats.report("slack-gif-creator")

    `log_path=None` means the default log, ``home_dir()/usage.jsonl``; `persist=False` keeps
    events in memory only. A log past `max_log_bytes` is rotated to `rotated_path(log_path)`.
    Writing the log never raises: a failed write is logged and skipped, because statistics must
    not break a tool call.
    """

    def __init__(self, log_path: Path | None = None, *, persist: bool = True,
                 max_log_bytes: int = MAX_LOG_BYTES) -> None:
        self.log_path: Path | None = (Path(log_path) if log_path else home_dir() / LOG_NAME) if persist else None
        self.max_log_bytes = max_log_bytes
        self._events: collections.deque[dict[str, Any]] = collections.deque(maxlen=MAX_MEMORY_EVENTS)
        self._lock = threading.Lock()
        self._failing = False  # the log could not be written last time (warned once, not per event)

    # -- recording ---------------------------------------------------------------------------
    def record_search(self, session: str, query: str, names: list[str]) -> None:
        """A search for `query` returned `names`, best first."""
        self._record({"event": "search", "session": session, "query": query, "names": list(names)})

    def record_activation(self, session: str, name: str, body_tokens: int, files: dict[str, int | None]) -> None:
        """Skill `name` was loaded: its body cost `body_tokens`; `files` maps each listed file to its tokens
        (None for binary files, counted as 0)."""
        clean = {str(p): int(t or 0) for p, t in files.items()}
        self._record({"event": "activation", "session": session, "name": name,
                      "body_tokens": int(body_tokens), "files": clean})

    def record_read(self, session: str, name: str, path: str, tokens: int) -> None:
        """`tokens` of file `path` of skill `name` were returned to the model."""
        self._record({"event": "read", "session": session, "name": name, "path": _clean_path(path),
                      "tokens": int(tokens)})

    def _record(self, event: dict[str, Any]) -> None:
        event = {"t": round(time.time(), 3), **event}
        line = json.dumps(event, ensure_ascii=False, separators=(",", ":")) + "\n"
        with self._lock:
            if self.log_path is not None:
                try:
                    size = _append(self.log_path, line)
                except OSError as exc:
                    if not self._failing:
                        logger.warning("cannot append to usage log %s: %s; keeping the newest %d events in memory",
                                       self.log_path, exc, MAX_MEMORY_EVENTS)
                    self._failing = True
                else:
                    self._failing = False
                    if size > self.max_log_bytes:
                        _rotate(self.log_path, self.max_log_bytes)
                    return
            self._events.append(event)  # memory holds only what the log does not (a long-lived server)

    # -- reporting ---------------------------------------------------------------------------
    def events(self) -> list[dict[str, Any]]:
        """All events: the log's (which includes this process's) plus any the log could not take."""
        with self._lock:
            unlogged = list(self._events)
        logged: list[dict[str, Any]] = []
        if self.log_path is not None:
            _recover_claims(self.log_path)
            for path in (rotated_path(self.log_path), self.log_path):  # oldest first: reads follow activations
                if path.exists():
                    logged.extend(_read_log(path))
        return logged + unlogged

    def report(self, name: str | None = None) -> list[dict[str, Any]]:
        """Figures per skill (one skill with `name`), most activated first; see the module docstring."""
        figures = aggregate(self.events())
        rows = [f.to_dict() for f in figures.values() if name is None or f.name == name]
        return sorted(rows, key=lambda r: (-r["activations"], -r["searches"], r["name"]))


def _clean_path(path: str) -> str:
    # The model may write "./references/a.md" or a Windows separator for the listed "references/a.md".
    path = str(path).strip().replace("\\", "/")
    while path.startswith("./"):
        path = path[2:]
    return path


def rotated_path(log_path: Path) -> Path:
    """Where the previous log is kept: ``usage.jsonl`` -> ``usage.1.jsonl``."""
    return log_path.with_name(f"{log_path.stem}.1{log_path.suffix}")


_APPEND = (os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0)
           | getattr(os, "O_CLOEXEC", 0))


def _append(path: Path, line: str) -> int:
    """Append one line; return the log's size after it. Only to a regular file, never blocking: a
    FIFO put in the log's place held every call that records usage (OSError instead)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, _APPEND, 0o600)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{path} is not a regular file")
        # One write per line in append mode: lines from concurrent servers do not interleave.
        os.write(fd, line.encode("utf-8"))
        return os.fstat(fd).st_size
    finally:
        os.close(fd)


def _rotate(path: Path, limit: int) -> None:
    """Move the over-limit log at `path` to `rotated_path(path)`; never raises.

    Several servers may see the log pass the limit at once. Each first renames the log to a name
    of its own, which is atomic: only one of them gets a given file. Whoever gets a file over the
    limit moves it into place; whoever gets a new, small log (another server rotated first) puts
    it back. Blindly renaming the log to ``usage.1.jsonl`` would let a late server replace the
    rotated history with that new log.
    """
    claim = path.with_name(f"{path.name}.{os.getpid()}-{threading.get_ident()}.rotating")
    try:
        os.rename(path, claim)
    except OSError:  # another server already moved it (or renaming is refused): keep appending
        return
    try:
        if os.stat(claim).st_size > limit:
            os.replace(claim, rotated_path(path))
            return
    except OSError as exc:
        logger.warning("cannot rotate usage log %s: %s", path, exc)
    _give_back(claim, path)


# A rotation holds its claim for microseconds; one this old was left by a server that died mid-rotation.
STALE_CLAIM_SECONDS = 60.0


def _recover_claims(path: Path) -> None:
    """Give back the claimed logs that servers which died mid-rotation left next to `path`."""
    try:
        claims = list(path.parent.glob(f"{path.name}.*.rotating"))
    except OSError:
        return
    for claim in claims:
        try:
            stale = time.time() - claim.stat().st_mtime > STALE_CLAIM_SECONDS
        except OSError:
            continue  # given back or moved by another server meanwhile
        if stale:
            _give_back(claim, path)


def _give_back(claim: Path, path: Path) -> None:
    """Return a claimed log to `path`, or append its lines if a server has started a new log there."""
    try:
        try:
            os.link(claim, path)  # fails if a writer created a new log meanwhile
        except OSError:
            # A server that opened the claimed file before the rename may still add a line to it
            # after this copy: at most that line is lost.
            data = claim.read_bytes()
            with open(path, "ab") as fh:
                fh.write(data)
        os.unlink(claim)
    except OSError as exc:
        logger.warning("cannot return usage log %s to %s: %s", claim, path, exc)


def _read_log(path: Path) -> Iterator[dict[str, Any]]:
    # A regular file only, never opened blocking, line by line with long lines cut (`open_file`).
    try:
        with open_file(path, what="usage log") as f:
            for line in f.lines():
                try:
                    event = json.loads(line.decode("utf-8", errors="replace"))
                except (ValueError, RecursionError):
                    continue  # a line cut short by a crash: skip it, keep the rest
                if isinstance(event, dict):
                    yield event
    except (OSError, SkilldeckError) as exc:
        logger.warning("cannot read usage log %s: %s", path, exc)


MAX_COUNT = 10**12  # tokens in one event; a larger figure is a foreign writer's, not a count


def _count(value: Any) -> int:
    """A token count from the log: JSON allows `Infinity` and `1e308`, which made `stats` fail
    (OverflowError) or print `Infinity`, which is not JSON. ValueError for anything else."""
    number = int(value or 0)
    if not 0 <= number <= MAX_COUNT:
        raise ValueError(f"not a token count: {value!r}")
    return number


def _time(value: Any) -> float:
    t = float(value or 0)
    if not math.isfinite(t):
        raise ValueError(f"not a time: {value!r}")
    return t


def aggregate(events: Iterable[dict[str, Any]]) -> dict[str, _SkillFigures]:
    """Fold events (in order) into figures per skill name."""
    skills: dict[str, _SkillFigures] = {}
    current: dict[tuple[str, str], _Activation] = {}   # (session, skill) -> its latest activation

    def get(skill_name: str) -> _SkillFigures:
        return skills.setdefault(skill_name, _SkillFigures(skill_name))

    for ev in events:
        try:
            kind, session, t = ev.get("event"), str(ev.get("session", "")), _time(ev.get("t", 0))
            if kind == "search":
                for rank, hit in enumerate(ev.get("names") or []):
                    fig = get(str(hit))
                    fig.searches += 1
                    fig.top_hits += rank == 0
            elif kind == "activation":
                act = _Activation(_count(ev.get("body_tokens")),
                                  {str(p): _count(n) for p, n in (ev.get("files") or {}).items()})
                fig = get(str(ev["name"]))
                fig.activations.append(act)
                fig.sessions.add(session)
                fig.last_used = max(fig.last_used, t)
                current[(session, fig.name)] = act
            elif kind == "read":
                tokens, path = _count(ev.get("tokens")), str(ev["path"])
                fig = get(str(ev["name"]))
                fig.read_tokens += tokens
                fig.reads[path] = fig.reads.get(path, 0) + 1
                fig.last_used = max(fig.last_used, t)
                act = current.get((session, fig.name))
                if act is not None and path in act.files:
                    act.read.add(path)
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError):
            continue  # a malformed event from a foreign or older writer: skip it
    return skills


def render_report(rows: list[dict[str, Any]], log_path: Path | None = None) -> str:
    """A readable table of `UsageStats.report` rows, then each skill's unread files."""
    if not rows:
        where = f" in {log_path}" if log_path else ""
        return (f"No skill usage recorded yet{where}. The server records searches, activations and file reads "
                "as agents use skills.")
    table = [("skill", "searches", "top-1", "activations", "sessions", "tokens loaded", "relevance")]
    for r in rows:
        ratio = "-" if r["relevance_ratio"] is None else f"{r['relevance_ratio']:.0%}"
        table.append((r["name"], str(r["searches"]), str(r["top_hits"]), str(r["activations"]), str(r["sessions"]),
                      str(r["tokens_loaded"]), ratio))
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    lines = []
    for index, row in enumerate(table):
        lines.append("  ".join([row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:])]))
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    dead = [(r["name"], r["dead_weight"], r["files"], r["activations"]) for r in rows if r["dead_weight"]]
    if dead:
        lines.append("\nReference documents offered on activation and never read (dead weight):")
        for name, paths, files, activations in dead:
            tokens = {f["path"]: f["tokens"] for f in files}
            listed = ", ".join(f"{p} ({tokens.get(p, 0)} tokens)" for p in paths[:8])
            more = f" and {len(paths) - 8} more" if len(paths) > 8 else ""
            lines.append(f"  {name} (over {activations} activation{'s' * (activations != 1)}): {listed}{more}")
    lines.append("\nrelevance: share of the tokens offered on activation (body + listed reference documents) that "
                 "were used (body + documents read afterwards in the same session).")
    return "\n".join(lines)
