"""Evidence: inline strings, {id, source, text} objects, or local text files, cut into sentences.

Every sentence keeps its provenance (evidence id, source, character span in that evidence,
and for files the line number) so a verdict can cite exactly where its support is.
"""

from __future__ import annotations

import fnmatch
import functools
import glob
import itertools
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from skilldeck.tools.deadline import check
from skilldeck.tools.errors import AccessDeniedError, InvalidInputError, NotFoundError
from skilldeck.tools.fs import TooLargeError, hidden_part, is_within, open_file, real_path
from skilldeck.tools.verify.errors import EvidenceReadError
from skilldeck.tools.verify.text import Terms, numbers, quantities, split_sentences, terms

__all__ = ["EvidenceItem", "Sentence", "EvidenceSet", "load_evidence", "EvidenceLimits"]

TEXT_SUFFIXES = frozenset({".txt", ".md", ".markdown", ".rst", ".text", ".csv", ".tsv", ".json", ".jsonl", ".html",
                           ".htm", ".xml", ".yaml", ".yml", ".log", ""})


@dataclass(frozen=True)
class EvidenceLimits:
    """Bounds that keep one call cheap: `EvidenceLimits(max_files=200, max_file_bytes=2_000_000)`."""

    max_files: int = 200
    max_file_bytes: int = 2_000_000
    max_total_chars: int = 5_000_000
    max_items: int = 2_000


@dataclass(frozen=True)
class EvidenceItem:
    """One piece of evidence as given: an inline string, an object, or one file."""

    id: str
    source: str
    text: str
    path: str | None = None


@dataclass
class Sentence:
    """A sentence of evidence with its provenance and its precomputed analysis."""

    item: EvidenceItem
    position: int  # index of the sentence within its item
    start: int
    end: int
    text: str
    line: int | None = None
    terms: Terms = field(init=False)
    numbers: tuple = field(init=False)
    lowered: str = field(init=False)

    def __post_init__(self) -> None:
        self.terms = terms(self.text)
        self.numbers = numbers(self.text)
        self.lowered = self.text.lower()

    def citation(self) -> dict[str, Any]:
        out: dict[str, Any] = {"evidence_id": self.item.id, "source": self.item.source, "sentence": self.position,
                               "start": self.start, "end": self.end, "quote": self.text}
        if self.line is not None:
            out["line"] = self.line
        return out


class EvidenceSet:
    """All sentences of all evidence items, plus what the answer-level checks need."""

    def __init__(self, items: list[EvidenceItem], skipped: list[str] | None = None) -> None:
        self.items = items
        self.skipped = skipped or []  # glob matches left unread: they lead outside the allowed folders
        self.sentences: list[Sentence] = []
        for item in items:
            self.sentences += _sentences(item)
        self.stems: frozenset[str] = frozenset().union(*(s.terms.stems for s in self.sentences))
        self.lowered = "\n".join(s.lowered for s in self.sentences)
        self.number_values = {round(v, 6) for s in self.sentences for v, _, _ in s.numbers}
        # The units each value is given in ("300 km"): 300 miles in a claim is not 300 km.
        self.number_units: dict[float, set[str]] = {}
        for s in self.sentences:
            for v, unit in quantities(s.text):
                self.number_units.setdefault(round(v, 6), set()).add(unit)
        self._name_words: frozenset[str] | None = None

    def __len__(self) -> int:
        return len(self.sentences)

    @functools.cached_property
    def text(self) -> str:
        """All sentences, one per line (built on first use)."""
        return "\n".join(s.text for s in self.sentences)


    @property
    def name_words(self) -> frozenset[str]:
        """Lower-cased words the evidence writes only capitalised, away from a sentence start ("kujala")."""
        if self._name_words is None:
            capital: set[str] = set()
            lower: set[str] = set()
            for s in self.sentences:
                words = _WORD.findall(s.text)
                lower.update(w for w in words if w[0].islower())
                capital.update(w.lower() for w in words[1:] if not w[0].islower())  # a sentence's first says nothing
            self._name_words = frozenset(capital - lower)
        return self._name_words

    def truecase(self, text: str) -> str:
        """Lower-cased text (a tokenised summary) with the evidence's names capitalised again, so the
        name and number checks see them; text that has any capital letter is returned as it is."""
        if any(ch.isupper() for ch in text) or not self.name_words:
            return text
        names = self.name_words
        return _WORD.sub(lambda m: m.group().capitalize() if m.group() in names else m.group(), text)


_WORD = re.compile(r"[^\W\d_]+")


def _sentences(item: EvidenceItem) -> list[Sentence]:
    text = item.text
    line_starts = _line_starts(text) if item.path else None
    out: list[Sentence] = []
    for a0, b0 in _blocks(text):
        check("Reading the evidence")
        for a, b in split_sentences(text[a0:b0]):
            for a2, b2 in _clauses(text, a + a0, b + a0):
                line = _line_of(line_starts, a2) if line_starts is not None else None
                out.append(Sentence(item, len(out), a2, b2, text[a2:b2], line))
    return out


def _clauses(text: str, a: int, b: int) -> list[tuple[int, int]]:
    # A semicolon joins two statements; negation in one must not leak into the other.
    spans, start = [], a
    for m in _SEMICOLON.finditer(text, a, b):
        spans.append((start, m.start()))
        start = m.end()
    spans.append((start, b))
    return [(x, y) for x, y in spans if y > x]


_SEMICOLON = re.compile(r";\s+")


def _blocks(text: str) -> list[tuple[int, int]]:
    """Lines that stand alone (headings, bullets, table rows) are blocks of their own; prose runs together."""
    blocks: list[tuple[int, int]] = []
    pos = 0
    run: tuple[int, int] | None = None
    for line in text.splitlines(keepends=True):
        a, b = pos, pos + len(line.rstrip("\r\n"))
        pos += len(line)
        s = line.strip()
        standalone = s.startswith(("#", "-", "*", "•", "|", ">")) or (s[:1].isdigit() and s[1:3].startswith((".", ")")))
        if not s or standalone:
            if run:
                blocks.append(run)
                run = None
            if s:
                blocks.append((a, b))
            continue
        run = (run[0], b) if run else (a, b)
    if run:
        blocks.append(run)
    return blocks


def _line_starts(text: str) -> list[int]:
    starts = [0]
    for i, ch in enumerate(text):
        if ch == "\n":
            starts.append(i + 1)
    return starts


def _line_of(starts: list[int], offset: int) -> int:
    lo, hi = 0, len(starts) - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if starts[mid] <= offset:
            lo = mid
        else:
            hi = mid - 1
    return lo + 1


def load_evidence(items: Iterable[Any] | None = None, paths: Iterable[str | os.PathLike] | None = None, *,
                  base_dir: str | os.PathLike | None = None, limits: EvidenceLimits | None = None,
                  within: Sequence[Path] | None = None) -> EvidenceSet:
    """Build an `EvidenceSet` from inline items and file paths or globs.

    `items`: strings, or mappings with `text` and optional `id` and `source`. `paths`: files or
    glob patterns (``docs/**/*.md``) of text files, relative to `base_dir` (default: cwd).
    `within`: folders every file must really lie in (None: anywhere, as for the CLI); a glob match
    that leads elsewhere through a symlink is left unread and listed in `EvidenceSet.skipped`.
    Raises InvalidInputError for wrong types and limits, NotFoundError for paths that match
    nothing, EvidenceReadError for files that cannot be used (unreadable, binary, too large).
    """
    limits = limits or EvidenceLimits()
    loaded: list[EvidenceItem] = []
    if items is not None:
        if isinstance(items, (str, bytes, Mapping)):
            items = [items]
        for i, raw in enumerate(items):
            loaded.append(_item(raw, i))
    files, skipped = _expand(paths or [], base_dir, limits, within)
    for path, matched in files:
        try:
            loaded.append(_read_file(path, len(loaded), limits, within))
        except EvidenceReadError as exc:
            if not matched or not isinstance(exc.__cause__, AccessDeniedError):
                raise
            skipped.append(str(path))
    if len(loaded) > limits.max_items:
        raise InvalidInputError(f"{len(loaded)} evidence items given; at most {limits.max_items} are accepted. "
                                "Pass fewer, larger items or narrower globs.")
    total = sum(len(i.text) for i in loaded)
    if total > limits.max_total_chars:
        raise InvalidInputError(f"evidence totals {total:,} characters; the limit is {limits.max_total_chars:,}. "
                                "Pass only the documents that bear on the answer.")
    return EvidenceSet(loaded, skipped)


def _item(raw: Any, index: int) -> EvidenceItem:
    if isinstance(raw, str):
        return EvidenceItem(f"e{index + 1}", "inline", raw)
    if isinstance(raw, Mapping):
        text = raw.get("text")
        if not isinstance(text, str):
            raise InvalidInputError(f"evidence item {index} has no string 'text' (got {type(text).__name__}); "
                                    "each object needs {'text': str} and may add 'id' and 'source'.")
        ident = raw.get("id", f"e{index + 1}")
        source = raw.get("source", "inline")
        if not isinstance(ident, (str, int)) or not isinstance(source, str):
            raise InvalidInputError(f"evidence item {index}: 'id' must be a string or integer and 'source' a string.")
        return EvidenceItem(str(ident), source, text)
    raise InvalidInputError(f"evidence item {index} is a {type(raw).__name__}; expected a string or an object "
                            "{'id': ..., 'source': ..., 'text': ...}.")


def _expand(paths: Iterable[Any], base_dir: Any, limits: EvidenceLimits,
            within: Sequence[Path] | None) -> tuple[list[tuple[Path, bool]], list[str]]:
    """(file, found by a pattern) pairs, and the matches dropped for leading outside `within`."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    base = Path(base_dir) if base_dir else Path.cwd()
    bases = [real_path(Path(b)) for b in within] if within is not None else None
    found: list[tuple[Path, bool]] = []
    skipped: list[str] = []

    def keep(q: Path) -> bool:
        real = real_path(q)
        if bases is None or (is_within(real, bases) and not hidden_part(real, bases)):
            return True
        skipped.append(str(q))
        return False

    for raw in paths:
        if not isinstance(raw, (str, os.PathLike)):
            raise InvalidInputError(f"evidence path {raw!r} is a {type(raw).__name__}; expected a path string.")
        if "\x00" in str(raw):
            raise InvalidInputError(f"evidence path {str(raw)[:80]!r} contains a NUL byte; give a plain file path.")
        pattern = os.path.expanduser(str(raw))
        full = pattern if os.path.isabs(pattern) else str(base / pattern)
        room = limits.max_files - len(found) + 1  # stop walking once the limit is passed (e.g. "/**")
        if glob.has_magic(pattern):
            matches = sorted(itertools.islice((q for q in _glob(full) if q.is_file() and keep(q)), room))
            if not matches and not skipped:
                raise NotFoundError(f"evidence glob {raw!r} matches no file under {base}. Check the pattern "
                                    "(use '**/*.md' to search folders recursively).")
            found += [(m, True) for m in matches]
        else:
            p = Path(full)
            if p.is_dir():
                # A folder is the pattern "folder/**/*" and walked as one, under the same bounds (the
                # folder cap, the call's deadline, no hidden or linked folders); rglob had none.
                found += [(q, True) for q in sorted(itertools.islice(
                    (q for q in _glob(str(p / "**" / "*")) if q.is_file() and q.suffix.lower() in TEXT_SUFFIXES
                     and keep(q)), room))]
            elif not p.exists():
                raise NotFoundError(f"evidence file {raw!r} does not exist (looked at {p}).")
            elif not p.is_file():  # a device or FIFO (/dev/zero) would never end or block
                raise InvalidInputError(f"evidence path {raw!r} is not a regular file.")
            else:
                found.append((p, False))
        if len(found) > limits.max_files:
            raise InvalidInputError(f"evidence paths match more than {limits.max_files} files; narrow the globs.")
    return found, skipped


MAX_GLOB_FOLDERS = 20_000  # folders one evidence glob may walk: a pattern that matches nothing walks them all


def _glob(full: str) -> Iterator[Path]:
    """Matches of an absolute pattern, walked by hand: folders one at a time, at most
    MAX_GLOB_FOLDERS of them, checking the call's deadline as it goes (pathlib's glob cannot be
    stopped, and ``a/**/**/**/*.md`` over a deep tree took minutes to match nothing). Repeated
    ``**`` are one ``**``; symlinked folders are not entered (a link to / or a loop would walk
    forever), and hidden names need a pattern that says so."""
    parts = Path(full).parts
    fixed = next(i for i, part in enumerate(parts) if glob.has_magic(part))
    root = Path(*parts[:fixed])
    pattern = [p for i, p in enumerate(parts[fixed:]) if not (p == "**" and i > 0 and parts[fixed + i - 1] == "**")]
    if pattern[-1] == "**":
        pattern.append("*")  # "docs/**" means every file below docs/, as glob.glob has it
    hidden = any(part.startswith(".") for part in pattern)
    segments = [None if p == "**" else re.compile(fnmatch.translate(p)) for p in pattern]
    depth = None if None in segments else len(segments)  # without "**", no deeper than the pattern
    stack: list[tuple[Path, tuple[str, ...]]] = [(root, ())]
    walked = 0
    while stack:
        folder, rel = stack.pop()
        check("Reading the evidence glob")
        walked += 1
        if walked > MAX_GLOB_FOLDERS:
            raise InvalidInputError(f"evidence glob {full!r} walked {MAX_GLOB_FOLDERS:,} folders without finishing; "
                                    "narrow it (name a folder before '**', or list the files).")
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError:
            continue
        below = []
        for entry in entries:
            if entry.name.startswith(".") and not hidden:
                continue
            path = rel + (entry.name,)
            try:
                is_folder = entry.is_dir(follow_symlinks=False)
            except OSError:
                continue
            if is_folder:
                if depth is None or len(path) < depth:
                    below.append((Path(entry.path), path))
            elif _glob_match(segments, path):
                yield Path(entry.path)
        stack.extend(reversed(below))


def _glob_match(segments: list[re.Pattern[str] | None], names: tuple[str, ...]) -> bool:
    """Does the relative path `names` match the pattern's segments (None is ``**``: any number of folders)?"""
    def spread(states: set[int]) -> set[int]:
        out, todo = set(states), list(states)
        while todo:
            i = todo.pop()
            if i < len(segments) and segments[i] is None and i + 1 not in out:
                out.add(i + 1)
                todo.append(i + 1)
        return out

    states = {0}
    for name in names:
        states = {i if segments[i] is None else i + 1 for i in spread(states)
                  if i < len(segments) and (segments[i] is None or segments[i].match(name))}
        if not states:
            return False
    return len(segments) in spread(states)


def _read_file(path: Path, index: int, limits: EvidenceLimits, within: Sequence[Path] | None) -> EvidenceItem:
    what = f"evidence file {path}"
    try:
        # Regular files only, opened without blocking, read up to the limit whatever stat says;
        # with `within`, the open descriptor itself must lie there (a swapped symlink is caught).
        with open_file(path, within or (), what="evidence file", allow_hidden=within is None) as fh:
            if fh.size > limits.max_file_bytes:
                raise EvidenceReadError(f"{what} is {fh.size:,} bytes; the limit is {limits.max_file_bytes:,}. "
                                        "Pass the relevant section instead.")
            data = fh.read_all(limits.max_file_bytes, what)
    except TooLargeError as exc:
        raise EvidenceReadError(f"{exc}. Pass the relevant section instead.") from exc
    except AccessDeniedError as exc:
        raise EvidenceReadError(str(exc)) from exc
    except OSError as exc:
        raise EvidenceReadError(f"cannot read {what}: {exc.strerror or exc}. "
                                "Check that it exists and is readable.") from exc
    if b"\x00" in data[:8192]:
        raise EvidenceReadError(f"{what} looks binary; pass text or markdown files.")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    return EvidenceItem(str(path), str(path), text, path=str(path))
