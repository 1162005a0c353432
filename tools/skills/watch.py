"""Watch skill roots and report changed paths in debounced batches (watchdog, in threads)."""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

__all__ = ["SkillWatcher"]

logger = logging.getLogger("skilldeck.watch")

# Before Python 3.12, os.walk (which watchdog walks each root with) recurses once per folder level, and
# a skill nesting folders 1,200 deep ended the watch for every skill with a RecursionError in
# watchdog's thread. Paths stop at PATH_MAX (4,096 bytes: about 2,048 levels), which this covers.
_WALK_RECURSION = 10_000
# A recursive watch holds one inotify watch per folder below the root, hidden and tool folders
# included, out of a budget every program of the user shares (often 8,192 to 1,048,576 in all). A
# root with more folders than this is not watched: 50,000 empty folders took 50,004 watches.
MAX_WATCHED_FOLDERS = 20_000


def _more_folders_than(root: Path, limit: int) -> bool:
    """True when `root` holds more than `limit` folders (symlinks not followed; stops counting there)."""
    count, stack = 0, [str(root)]
    while stack:
        try:
            with os.scandir(stack.pop()) as entries:
                for entry in entries:
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            count += 1
                            if count > limit:
                                return True
                            stack.append(entry.path)
                    except OSError:
                        continue
        except OSError:
            continue
    return False


class SkillWatcher:
    """Calls `on_change(paths)` once the roots have been quiet for `debounce_s` after a change.

    Usage::

        watcher = SkillWatcher(on_change=lambda paths: catalog.reload(paths))
        watcher.start([root.path for root in catalog.roots])
        ...
        watcher.stop()
    """

    def __init__(self, on_change: Callable[[set[Path]], None], debounce_s: float = 0.15) -> None:
        self.on_change = on_change
        self.debounce_s = debounce_s
        self._pending: set[Path] = set()
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._observer = None
        self._watched: list[Path] = []
        self._start_lock = threading.Lock()

    def start(self, roots: Iterable[Path]) -> None:
        """Watch `roots` (replacing any earlier watch); safe to call from several threads."""
        with self._start_lock:
            self._stop_observer()
            self._start(roots)

    def _start(self, roots: Iterable[Path]) -> None:
        # Imported here: watchdog starts native observer threads; only a serving process needs it.
        from watchdog import events as ev
        from watchdog.observers import Observer

        if sys.version_info < (3, 12) and sys.getrecursionlimit() < _WALK_RECURSION:
            sys.setrecursionlimit(_WALK_RECURSION)

        # Only changes: opening and listing folders (which the index itself does) would otherwise
        # flood inotify's queue at thousands of skills and overflow it.
        wanted = [ev.FileCreatedEvent, ev.FileModifiedEvent, ev.FileDeletedEvent, ev.FileMovedEvent,
                  ev.FileClosedEvent, ev.DirCreatedEvent, ev.DirDeletedEvent, ev.DirMovedEvent]

        watcher = self

        class _Handler(ev.FileSystemEventHandler):
            def on_any_event(self, event) -> None:  # noqa: ANN001 - watchdog's event type
                paths = [event.src_path, getattr(event, "dest_path", "")]
                watcher._add(Path(p if isinstance(p, str) else p.decode()) for p in paths if p)

        self._observer = Observer()
        self._observer.daemon = True
        handler = _Handler()
        for root in dict.fromkeys(Path(r) for r in roots):
            target, recursive = (root, True) if root.is_dir() else (root.parent, False)
            if not target.is_dir():
                continue
            if recursive and _more_folders_than(target, MAX_WATCHED_FOLDERS):
                logger.warning("not watching %s for changes: it holds more than %s folders (each would take one "
                               "of the system's inotify watches); restart the server to pick up its changes",
                               target, f"{MAX_WATCHED_FOLDERS:,}")
                continue
            try:
                self._observer.schedule(handler, str(target), recursive=recursive, event_filter=wanted)
                self._watched.append(target)
            except OSError as exc:  # e.g. inotify watch limit reached
                logger.warning("cannot watch %s for changes: %s", target, exc)
        self._observer.start()

    def restart(self, roots: Iterable[Path]) -> None:
        self.start(roots)

    def _add(self, paths: Iterable[Path]) -> None:
        with self._lock:
            self._pending.update(paths)
            if self._timer is not None:
                self._timer.cancel()
            self._timer = threading.Timer(self.debounce_s, self._fire)
            self._timer.daemon = True
            self._timer.start()

    def _fire(self) -> None:
        with self._lock:
            paths, self._pending = self._pending, set()
            self._timer = None
        if not paths:
            return
        try:
            self.on_change(paths)
        except Exception:  # noqa: BLE001 - a bad reload must not kill the watcher thread
            logger.exception("reloading skills after a change failed")

    def stop(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        with self._start_lock:
            self._stop_observer()

    def _stop_observer(self) -> None:
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=5)
            self._observer = None
        self._watched = []
