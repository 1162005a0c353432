"""Start, watch, cancel and resume job worker processes."""

from __future__ import annotations

import enum
import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from skilldeck.tools.errors import InvalidInputError, NotFoundError, StateError
from skilldeck.tools.jobs.files import MAX_STATE_BYTES, read_json, read_jsonl, read_jsonl_tail, write_json_atomic

try:
    import fcntl
except ImportError:  # Windows: only the thread locks below guard a job
    fcntl = None  # type: ignore[assignment]

__all__ = ["JobInfo", "JobManager", "JobStatus"]

# Job events (started, resumed, cancel asked, finished) go to this logger; the MCP server forwards
# them to clients that asked for log notifications.
logger = logging.getLogger("skilldeck.jobs")
# Worker processes of one kind (batch, finetune, finetune-eval) that may run at once from one jobs folder.
MAX_RUNNING = 4
# Where a job's entry point may live, and the environment variables a job may carry to its worker.
# Both are checked again each time a worker is spawned: job.json is a file anyone who can write the
# jobs folder can edit, and a resume must not run what it names (code, or PYTHONPATH) unchecked.
ENTRY_MODULES = ("skilldeck.tools",)
JOB_ENV = frozenset({"HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"})
_WORKER = "skilldeck.tools.jobs.worker"
# Finished jobs kept in a jobs folder: past either bound, starting a job removes the oldest finished
# ones (never a running one). Each batch run keeps a copy of its task file (up to 100 MB): twelve
# start-and-cancel rounds with a 5 MB file grew the folder by 58 MB, and nothing ever removed them.
# A cancelled or interrupted job that stopped in the last day is kept past the bounds (it is there to
# be resumed); while those alone fill the bounds, a new job is refused rather than one of them removed.
# Other finished jobs (succeeded, failed, completed with errors) go past the bounds whatever their
# age: kept for a day, a burst of fast-failing runs with a 5 MB task file each grew the folder without
# limit.
MAX_FINISHED_JOBS = 200
MAX_FINISHED_BYTES = 2 << 30
KEEP_RECENT_S = 24 * 3600
_RESUMABLE = frozenset({"cancelled", "interrupted"})
# Held while a job's status is checked and its worker spawned (start, resume), while get() marks a dead
# worker's job interrupted, and while _prune removes a job: in a file in the job folder (flock, so
# servers and CLIs sharing the folder agree), with a thread lock per job in front of it.
_LOCK_FILE = ".lock"


class JobStatus(str, enum.Enum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    COMPLETED_WITH_ERRORS = "completed_with_errors"  # finished, but part of the work failed (see error)
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"  # the worker died without recording an outcome (killed, crashed)

    @property
    def finished(self) -> bool:
        return self not in (JobStatus.QUEUED, JobStatus.RUNNING)


@dataclass(frozen=True)
class JobInfo:
    """A snapshot of one job."""

    id: str
    kind: str
    status: JobStatus
    dir: Path
    created: float
    progress: dict[str, Any]
    error: str | None
    result: Any
    spec: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "status": self.status.value, "dir": str(self.dir),
                "created": self.created, "progress": self.progress, "error": self.error, "result": self.result}


def process_start_time(pid: int) -> int | None:
    """When process `pid` started, in clock ticks since boot (Linux ``/proc/PID/stat`` field 22).

    A pid is reused once its process is gone, but a (pid, start time) pair names one process
    for as long as the machine runs. None where /proc is missing (macOS, Windows) or unreadable.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
        # The command name (field 2) sits in parentheses and may hold spaces or ")": split after it.
        return int(stat[stat.rindex(")") + 2:].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def _is_zombie(pid: int) -> bool:
    """True if `pid` has exited but its parent has not reaped it yet (Linux state Z or X).

    A killed worker whose parent (the server or CLI that started it) has not called wait yet
    still answers signal probes; it must count as dead, or a resume is refused until the reap.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
        return stat[stat.rindex(")") + 2:].split()[0] in ("Z", "X")
    except (OSError, ValueError, IndexError):
        return False


def _runs_worker_of(pid: int, job_dir: Path) -> bool:
    """True if process `pid` is the job worker of `job_dir` (its command line names both); where
    /proc is missing (macOS) it cannot be told, and the start-time check alone decides."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return not Path("/proc/self/cmdline").exists()
    if _WORKER.encode() not in argv:
        return False
    want = os.path.realpath(job_dir)
    return any(os.path.realpath(os.fsdecode(a)) == want for a in argv if b"/" in a)


def _pid_alive(pid: Any, start_time: Any = None, job_dir: Path | None = None) -> bool:
    """True while `pid` runs and, when its recorded `start_time` is known, is still that process;
    with `job_dir`, only if it is that job's worker (a pid written into state.json by hand is not)."""
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 1:
        return False
    if not isinstance(start_time, int) or isinstance(start_time, bool):
        start_time = None
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)  # reap our own finished children
        if waited == pid:
            return False
    except ChildProcessError:
        pass  # not our child (another server started it): fall back to a signal probe
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists but belongs to another user
    if _is_zombie(pid):
        return False
    if start_time is not None:
        now = process_start_time(pid)
        if now is not None and now != start_time:
            return False  # the pid was reused by another process after the worker died
    return job_dir is None or _runs_worker_of(pid, job_dir)


_thread_locks: dict[str, list] = {}  # folder -> [its thread lock, threads holding or waiting for it]
_thread_locks_guard = threading.Lock()
_held = threading.local()  # the folders whose lock this thread holds (the lock is re-entrant per thread)
LOCK_WAIT_S = 60.0  # a lock is held for a status check and a spawn (or a prune): a long wait means a stuck holder


@contextmanager
def _folder_lock(folder: Path, blocking: bool = True) -> Iterator[bool]:
    """Hold the lock of `folder` (a job folder, or the jobs folder itself); yield True.

    Not `blocking`, yield False at once (holding nothing) where another thread or process holds it.
    Blocking, wait up to LOCK_WAIT_S, then StateError. Where the lock file cannot be opened (a
    read-only folder), only the thread lock is held.
    """
    key = os.path.realpath(folder)
    held: set[str] = _held.__dict__.setdefault("keys", set())
    if key in held:
        yield True
        return
    with _thread_locks_guard:
        entry = _thread_locks.setdefault(key, [threading.Lock(), 0])
        entry[1] += 1
    try:
        with _holding(entry[0], key, folder, blocking) as got:
            yield got
    finally:
        with _thread_locks_guard:  # the last user drops it: one lock per job ever locked stayed for good
            entry[1] -= 1
            if not entry[1]:
                del _thread_locks[key]


@contextmanager
def _holding(tlock: threading.Lock, key: str, folder: Path, blocking: bool) -> Iterator[bool]:
    """`_folder_lock`'s body: the thread lock `tlock`, then the flock of the folder's lock file."""
    held: set[str] = _held.__dict__.setdefault("keys", set())
    busy = f"{folder.name} is busy: another start or resume of it has not finished; try again"
    deadline = time.monotonic() + LOCK_WAIT_S
    if not (tlock.acquire(timeout=LOCK_WAIT_S) if blocking else tlock.acquire(blocking=False)):
        if not blocking:
            yield False
            return
        raise StateError(busy)
    fd = None
    try:
        if fcntl is not None:
            try:
                fd = os.open(os.path.join(key, _LOCK_FILE), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NONBLOCK
                             | getattr(os, "O_NOFOLLOW", 0), 0o600)
            except OSError:
                fd = None
            while fd is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if not blocking:
                        yield False
                        return
                    if time.monotonic() >= deadline:
                        raise StateError(busy) from None
                    time.sleep(0.02)
                except OSError:
                    break  # flock unsupported here: the thread lock alone
        held.add(key)
        try:
            yield True
        finally:
            held.discard(key)
    finally:
        if fd is not None:
            os.close(fd)  # releases the flock
        tlock.release()


class JobManager:
    """Owns the jobs folder. Usage::

        jobs = JobManager(home_dir() / "jobs")
        info = jobs.start("batch", "skilldeck.tools.batch.job:run", {"tasks": ...})
        jobs.get(info.id).status      # JobStatus.RUNNING ...
        jobs.cancel(info.id); jobs.resume(info.id)
    """

    def __init__(self, root: Path, python: str | None = None, max_running: int = MAX_RUNNING,
                 entry_modules: tuple[str, ...] = ENTRY_MODULES) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.python = python or sys.executable
        self.max_running = max_running
        self.entry_modules = entry_modules
        self._running: set[str] = set()  # jobs this manager started or resumed, until seen finished

    # -- starting -------------------------------------------------------------------------
    def start(self, kind: str, entry: str, spec: dict[str, Any], job_id: str | None = None,
              files: dict[str, str] | None = None, env: dict[str, str] | None = None) -> JobInfo:
        """Create a job folder and start its worker process; return at once.

        `files` ({name: text}) are written into the folder before the worker starts: inputs that
        belong to the job (inline tasks) live and go with it, and a resume finds them there.
        `env` is added to the worker's environment, at the start and at every resume.
        """
        problem = self._entry_problem(entry, env or {})
        if problem:
            raise InvalidInputError(problem)
        reserved = {"job.json", "state.json", "events.jsonl", "output.log", "cancel"}
        for name in files or {}:
            if not name or name in reserved or name.startswith(".") or "/" in name or os.sep in name:
                raise InvalidInputError(f"job file name {name!r} must be a plain file name, not one of "
                                        f"{', '.join(sorted(reserved))}")
        # The jobs folder's lock: the count of running jobs, the pruning and the new folder are checked
        # and made by one caller at a time (five starts at once must not pass a check of four).
        with _folder_lock(self.root):
            self._check_room(kind)
            self._prune()
            job_id = job_id or f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"
            job_dir = self.root / job_id
            if job_dir.exists():
                raise StateError(f"job {job_id!r} already exists; resume it or pick another id")
            job_dir.mkdir(parents=True)
            # The job's lock from before its job.json exists: a get() meanwhile must not take the queued
            # job, whose worker has no pid yet, for one that died.
            with _folder_lock(job_dir):
                for name, text in (files or {}).items():
                    (job_dir / name).write_text(text, encoding="utf-8")
                write_json_atomic(job_dir / "job.json", {"id": job_id, "kind": kind, "entry": entry, "spec": spec,
                                                         "created": time.time(), **({"env": env} if env else {})})
                write_json_atomic(job_dir / "state.json", {"status": JobStatus.QUEUED.value, "progress": {}})
                self._spawn(job_dir, resume=False)
        logger.info("job %s (%s) started", job_id, kind)
        return self.get(job_id)

    def resume(self, job_id: str) -> JobInfo:
        """Restart a cancelled, failed or interrupted job; its entry point sees ``ctx.resume``."""
        # The job's lock from the status check to the new worker's pid in state.json: five resumes at
        # once each saw "cancelled" and started 2-4 workers on one job folder (tasks sent and paid for
        # twice, one journal with several writers). Under the lock the status is read again: the
        # resumes that wait see the winner's "queued" (or "running") and are refused.
        with _folder_lock(self.get(job_id).dir):
            info = self.get(job_id)
            if not info.status.finished:
                raise StateError(f"job {job_id} is already running (status {info.status.value}): another start or "
                                 "resume got there first; poll its status, or cancel it before resuming")
            if info.status in (JobStatus.SUCCEEDED, JobStatus.COMPLETED_WITH_ERRORS):
                raise StateError(f"job {job_id} already {info.status.value.replace('_', ' ')}; nothing to resume")
            self._runnable(info.dir)
            with _folder_lock(self.root):  # as in start: one check of the running count at a time
                self._check_room(info.kind)
                (info.dir / "cancel").unlink(missing_ok=True)
                state = _read_state(info.dir)
                state.update(status=JobStatus.QUEUED.value, error=None)
                write_json_atomic(info.dir / "state.json", state)
                self._spawn(info.dir, resume=True)
        logger.info("job %s (%s) resumed", job_id, info.kind)
        return self.get(job_id)

    def _check_room(self, kind: str) -> None:
        """Refuse a new worker while `max_running` jobs of `kind` run in this jobs folder (by any
        server): each is a process, and a model starting thirty model evaluations at once took 7.7
        GB on a 24 GB machine."""
        running = [j.id for j in self.list(kind) if not j.status.finished]
        if len(running) >= self.max_running:
            raise StateError(f"{len(running)} {kind} jobs are running ({', '.join(running[:5])}), the most at once; "
                             "wait for one to finish (poll its status) or cancel one, then start this again.")

    def _prune(self) -> None:
        """Remove the oldest finished jobs past MAX_FINISHED_JOBS, then past MAX_FINISHED_BYTES in all,
        keeping those that may be resumed (cancelled or interrupted in the last KEEP_RECENT_S); if
        those alone fill either bound, refuse the new job (StateError) rather than remove one."""
        finished = [j for j in self.list() if j.status.finished and j.id not in self._running]  # newest first
        now = time.time()
        sizes = {j.id: _folder_bytes(j.dir) for j in finished}
        resumable = {j.id for j in finished
                     if j.status.value in _RESUMABLE and _last_change(j.dir) > now - KEEP_RECENT_S}
        kept, total = len(resumable), sum(sizes[i] for i in resumable)
        full = kept >= MAX_FINISHED_JOBS or total >= MAX_FINISHED_BYTES
        full_text = (f"the jobs folder {self.root} holds {kept} cancelled or interrupted jobs of the last "
                     f"{KEEP_RECENT_S // 3600} hours ({total / (1 << 20):,.0f} MB), kept to be resumed; it keeps "
                     f"{MAX_FINISHED_JOBS} finished jobs and {MAX_FINISHED_BYTES / (1 << 30):,.0f} GB at most. Resume "
                     "them, or delete the folders of those you no longer need there, then start this again.")
        for job in finished:
            if job.id in resumable:
                continue
            size = sizes[job.id]
            if kept < MAX_FINISHED_JOBS and total + size <= MAX_FINISHED_BYTES:
                kept, total = kept + 1, total + size
                continue
            with _folder_lock(job.dir, blocking=False) as mine:
                # Busy: a resume holds it (and will have it queued); no longer finished under the lock: resumed.
                try:
                    if not mine or not self.get(job.id).status.finished:
                        continue
                except NotFoundError:
                    continue
                shutil.rmtree(job.dir, ignore_errors=True)
            logger.info("job %s (%s, %s) removed: the jobs folder keeps the newest %d finished jobs, %s bytes "
                        "at most", job.id, job.kind, job.status.value, MAX_FINISHED_JOBS, f"{MAX_FINISHED_BYTES:,}")
        if full:  # only jobs that may be resumed are left past the bounds: keep them, start nothing new
            raise StateError(full_text)

    def _entry_problem(self, entry: Any, env: Any) -> str:
        """Why a worker must not run `entry` with `env` ("" if it may)."""
        if not isinstance(entry, str) or ":" not in entry:
            return f"entry {str(entry)[:200]!r} must look like 'package.module:function'"
        module = entry.partition(":")[0]
        if not any(module == m or module.startswith(m + ".") for m in self.entry_modules):
            return f"entry {entry[:200]!r} is not in {', '.join(self.entry_modules)}; jobs run only skilldeck's own work"
        if not isinstance(env, dict):
            return "env must be an object of environment variables"
        odd = sorted(str(k)[:100] for k, v in env.items() if k not in JOB_ENV or not isinstance(v, str))
        if odd:
            return (f"env sets {', '.join(odd[:5])}; a job may set only {', '.join(sorted(JOB_ENV))} "
                    "(to text values)")
        return ""

    def _runnable(self, job_dir: Path) -> dict[str, Any]:
        """job.json, if its entry point and environment may run; StateError if not."""
        job = read_json(job_dir / "job.json", {})
        job = job if isinstance(job, dict) else {}
        problem = self._entry_problem(job.get("entry"), job.get("env") or {})
        if problem:
            raise StateError(f"job {job_dir.name} cannot be run: its job.json is not one skilldeck wrote ({problem})")
        return job

    def _spawn(self, job_dir: Path, resume: bool) -> None:
        cmd = [self.python, "-m", _WORKER, str(job_dir)] + (["--resume"] if resume else [])
        extra = self._runnable(job_dir).get("env") or {}
        with open(job_dir / "output.log", "ab") as out:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True,
                                    env={**os.environ, **{str(k): str(v) for k, v in extra.items()},
                                         "PYTHONUNBUFFERED": "1"})
        state = _read_state(job_dir)
        # Both together: a resumed job must not keep the previous worker's start time.
        state.update(pid=proc.pid, pid_start=process_start_time(proc.pid))
        write_json_atomic(job_dir / "state.json", state)
        self._running.add(job_dir.name)

    # -- reading --------------------------------------------------------------------------
    def get(self, job_id: str) -> JobInfo:
        job = None
        if _plain_id(job_id) and not (self.root / job_id).is_symlink():
            job = read_json(self.root / job_id / "job.json")
        if not _sound_job(job, job_id):
            known = ", ".join(sorted(self._job_ids(), reverse=True)[:10]) or "none"
            shown = str(job_id)[:200] if isinstance(job_id, str) else job_id
            damaged = " (its job.json is damaged)" if job is not None else ""
            raise NotFoundError(f"No job {shown!r}{damaged}. Recent jobs: {known}.")
        job_dir = self.root / job_id
        state = _read_state(job_dir)
        status = _status_of(state)
        if not status.finished and not _pid_alive(state.get("pid"), state.get("pid_start"), job_dir):
            # Re-read: the worker may have finished between the two reads.
            state = _read_state(job_dir)
            status = _status_of(state)
            if not status.finished:
                # Under the job's lock, not waiting for it: a start or resume that holds it is about to
                # record its new worker's pid, and its queued job must not be marked dead (nor the state
                # it writes overwritten). Under the lock, read and check again.
                with _folder_lock(job_dir, blocking=False) as mine:
                    if mine:
                        state = _read_state(job_dir)
                        status = _status_of(state)
                    if mine and not status.finished and not _pid_alive(state.get("pid"), state.get("pid_start"),
                                                                       job_dir):
                        # Asked to cancel, the worker may be gone before it could say so: a SIGTERM that
                        # arrives while it still starts up (before its handler is set) ends it at once.
                        if (job_dir / "cancel").exists():
                            status = JobStatus.CANCELLED
                            state.update(status=status.value, error=None)
                        else:
                            status = JobStatus.INTERRUPTED
                            state.update(status=status.value,
                                         error="the worker process exited without recording an outcome")
                        write_json_atomic(job_dir / "state.json", state)
        if status.finished and job_id in self._running:
            self._running.discard(job_id)
            error = state.get("error")
            log = logger.info if status in (JobStatus.SUCCEEDED, JobStatus.CANCELLED) else logger.warning
            log("job %s (%s) %s%s", job_id, job["kind"], status.value.replace("_", " "),
                f": {str(error)[:300]}" if error else "")
        progress = state.get("progress")
        error = state.get("error")
        return JobInfo(id=job_id, kind=job["kind"], status=status, dir=job_dir, created=float(job.get("created", 0.0)),
                       progress=progress if isinstance(progress, dict) else {},
                       error=None if error is None else str(error), result=state.get("result"),
                       spec=job.get("spec", {}))

    def list(self, kind: str | None = None) -> list[JobInfo]:
        """All jobs, newest first, optionally of one kind."""
        infos = []
        for job_id in self._job_ids():
            try:
                info = self.get(job_id)
            except NotFoundError:  # a damaged job folder must not hide the others
                continue
            if kind is None or info.kind == kind:
                infos.append(info)
        return sorted(infos, key=lambda i: i.created, reverse=True)

    def _job_ids(self) -> list[str]:
        try:
            entries = list(os.scandir(self.root))
        except OSError:
            return []
        # A job folder is a real folder: a link to one elsewhere is not followed.
        return [e.name for e in entries if _plain_id(e.name) and e.is_dir(follow_symlinks=False)
                and os.path.isfile(os.path.join(e.path, "job.json"))]

    def events(self, job_id: str, start: int = 0) -> list[tuple[int, dict[str, Any]]]:
        """Events from line `start` on, as (line index, event)."""
        return list(read_jsonl(self.get(job_id).dir / "events.jsonl", start))

    def recent_events(self, job_id: str, max_bytes: int = 1 << 20) -> list[dict[str, Any]]:
        """The latest events (those in the last `max_bytes` of the log), oldest first."""
        return read_jsonl_tail(self.get(job_id).dir / "events.jsonl", max_bytes)

    # -- stopping -------------------------------------------------------------------------
    def cancel(self, job_id: str, grace_s: float = 30.0) -> JobInfo:
        """Ask the worker to stop (cancel file + SIGTERM); it saves its work and exits.

        A worker that ignores the request for `grace_s` seconds is killed; its durable files
        still let `resume` carry on.
        """
        info = self.get(job_id)
        if info.status.finished:
            return info
        (info.dir / "cancel").touch()
        logger.info("job %s (%s): cancel asked", job_id, info.kind)
        state = _read_state(info.dir)
        # Signals go only to the job's own worker, never to whatever pid state.json names.
        pid = state.get("pid") if _pid_alive(state.get("pid"), state.get("pid_start"), info.dir) else None
        if pid:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline:
            info = self.get(job_id)
            if info.status.finished:
                return info
            time.sleep(0.05)
        if pid and _pid_alive(pid, state.get("pid_start"), info.dir):
            try:
                # The worker leads its own session (start_new_session), so its group is its own.
                os.killpg(pid, signal.SIGKILL) if os.getpgid(pid) == pid else os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return self.wait(job_id, timeout_s=5.0)

    def wait(self, job_id: str, timeout_s: float | None = None, poll_s: float = 0.05) -> JobInfo:
        """Block until the job finishes or `timeout_s` passes; return the latest snapshot."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            info = self.get(job_id)
            if info.status.finished or (deadline is not None and time.monotonic() >= deadline):
                return info
            time.sleep(poll_s)


def _folder_bytes(folder: Path) -> int:
    """Bytes of the regular files in a job folder and its sub-folders (checkpoints); links not followed."""
    total, stack = 0, [folder]
    while stack:
        try:
            with os.scandir(stack.pop()) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(Path(entry.path))
                    elif entry.is_file(follow_symlinks=False):
                        total += entry.stat(follow_symlinks=False).st_size
        except OSError:
            continue
    return total


def _last_change(job_dir: Path) -> float:
    try:
        return (job_dir / "state.json").stat().st_mtime
    except OSError:
        return 0.0


def _plain_id(job_id: Any) -> bool:
    return (isinstance(job_id, str) and 0 < len(job_id) <= 200 and not job_id.startswith(".")
            and not any(c in job_id for c in "/\\\x00"))


def _sound_job(job: Any, job_id: str) -> bool:
    """job.json as skilldeck writes it, for this folder (an id that names another job is not)."""
    return (isinstance(job, dict) and job.get("id") == job_id and isinstance(job.get("kind"), str)
            and isinstance(job.get("spec", {}), dict)
            and isinstance(job.get("created", 0.0), int | float) and not isinstance(job.get("created"), bool))


def _read_state(job_dir: Path) -> dict[str, Any]:
    state = read_json(job_dir / "state.json", {}, MAX_STATE_BYTES)
    if isinstance(state, dict):
        return state
    return {"status": JobStatus.INTERRUPTED.value, "error": "state.json is damaged (not an object)"}


def _status_of(state: dict[str, Any]) -> JobStatus:
    try:
        return JobStatus(state.get("status", "queued"))
    except (ValueError, TypeError):
        return JobStatus.INTERRUPTED  # an unreadable state: treat it as a worker that died
