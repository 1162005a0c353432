"""Start, watch, cancel and resume job worker processes."""

from __future__ import annotations

import enum
import logging
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from skilldeck.tools.errors import InvalidInputError, NotFoundError, StateError
from skilldeck.tools.jobs.files import read_json, read_jsonl, write_json_atomic

__all__ = ["JobInfo", "JobManager", "JobStatus"]

# Job events (started, resumed, cancel asked, finished) go to this logger; the MCP server forwards
# them to clients that asked for log notifications.
logger = logging.getLogger("skilldeck.jobs")
# Worker processes of one kind (batch, finetune, finetune-eval) that may run at once from one jobs folder.
MAX_RUNNING = 4


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


def _pid_alive(pid: int | None, start_time: int | None = None) -> bool:
    """True while `pid` runs and, when its recorded `start_time` is known, is still that process."""
    if not pid:
        return False
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
    return True


class JobManager:
    """Owns the jobs folder. Usage::

        jobs = JobManager(home_dir() / "jobs")
        info = jobs.start("batch", "skilldeck.tools.batch.job:run", {"tasks": ...})
        jobs.get(info.id).status      # JobStatus.RUNNING ...
        jobs.cancel(info.id); jobs.resume(info.id)
    """

    def __init__(self, root: Path, python: str | None = None, max_running: int = MAX_RUNNING) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.python = python or sys.executable
        self.max_running = max_running
        self._running: set[str] = set()  # jobs this manager started or resumed, until seen finished

    # -- starting -------------------------------------------------------------------------
    def start(self, kind: str, entry: str, spec: dict[str, Any], job_id: str | None = None,
              files: dict[str, str] | None = None, env: dict[str, str] | None = None) -> JobInfo:
        """Create a job folder and start its worker process; return at once.

        `files` ({name: text}) are written into the folder before the worker starts: inputs that
        belong to the job (inline tasks) live and go with it, and a resume finds them there.
        `env` is added to the worker's environment, at the start and at every resume.
        """
        if ":" not in entry:
            raise InvalidInputError(f"entry {entry!r} must look like 'package.module:function'")
        reserved = {"job.json", "state.json", "events.jsonl", "output.log", "cancel"}
        for name in files or {}:
            if not name or name in reserved or name.startswith(".") or "/" in name or os.sep in name:
                raise InvalidInputError(f"job file name {name!r} must be a plain file name, not one of "
                                        f"{', '.join(sorted(reserved))}")
        self._check_room(kind)
        job_id = job_id or f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"
        job_dir = self.root / job_id
        if job_dir.exists():
            raise StateError(f"job {job_id!r} already exists; resume it or pick another id")
        job_dir.mkdir(parents=True)
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
        info = self.get(job_id)
        if not info.status.finished:
            raise StateError(f"job {job_id} is still {info.status.value}; cancel it before resuming")
        if info.status in (JobStatus.SUCCEEDED, JobStatus.COMPLETED_WITH_ERRORS):
            raise StateError(f"job {job_id} already {info.status.value.replace('_', ' ')}; nothing to resume")
        self._check_room(info.kind)
        (info.dir / "cancel").unlink(missing_ok=True)
        state = read_json(info.dir / "state.json", {})
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

    def _spawn(self, job_dir: Path, resume: bool) -> None:
        cmd = [self.python, "-m", "skilldeck.tools.jobs.worker", str(job_dir)] + (["--resume"] if resume else [])
        extra = (read_json(job_dir / "job.json", {}) or {}).get("env") or {}
        with open(job_dir / "output.log", "ab") as out:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True,
                                    env={**os.environ, **{str(k): str(v) for k, v in extra.items()},
                                         "PYTHONUNBUFFERED": "1"})
        state = read_json(job_dir / "state.json", {})
        # Both together: a resumed job must not keep the previous worker's start time.
        state.update(pid=proc.pid, pid_start=process_start_time(proc.pid))
        write_json_atomic(job_dir / "state.json", state)
        self._running.add(job_dir.name)

    # -- reading --------------------------------------------------------------------------
    def get(self, job_id: str) -> JobInfo:
        job = None
        if isinstance(job_id, str) and job_id and "/" not in job_id and not job_id.startswith("."):
            job = read_json(self.root / job_id / "job.json")
        if not isinstance(job, dict) or "id" not in job or "kind" not in job:
            known = ", ".join(sorted(self._job_ids(), reverse=True)[:10]) or "none"
            raise NotFoundError(f"No job {job_id!r}. Recent jobs: {known}.")
        job_dir = self.root / job_id
        state = read_json(job_dir / "state.json", {})
        try:
            status = JobStatus(state.get("status", "queued"))
        except ValueError:
            status = JobStatus.INTERRUPTED  # an unreadable state: treat it as a worker that died
        if not status.finished and not _pid_alive(state.get("pid"), state.get("pid_start")):
            # Re-read: the worker may have finished between the two reads.
            state = read_json(job_dir / "state.json", {})
            status = JobStatus(state.get("status", "queued"))
            if not status.finished:
                # Asked to cancel, the worker may be gone before it could say so: a SIGTERM that arrives
                # while it still starts up (before its handler is set) ends it at once.
                if (job_dir / "cancel").exists():
                    status = JobStatus.CANCELLED
                    state.update(status=status.value, error=None)
                else:
                    status = JobStatus.INTERRUPTED
                    state.update(status=status.value, error="the worker process exited without recording an outcome")
                write_json_atomic(job_dir / "state.json", state)
        if status.finished and job_id in self._running:
            self._running.discard(job_id)
            error = state.get("error")
            log = logger.info if status in (JobStatus.SUCCEEDED, JobStatus.CANCELLED) else logger.warning
            log("job %s (%s) %s%s", job_id, job["kind"], status.value.replace("_", " "),
                f": {str(error)[:300]}" if error else "")
        return JobInfo(id=job["id"], kind=job["kind"], status=status, dir=job_dir, created=job.get("created", 0.0),
                       progress=state.get("progress", {}), error=state.get("error"), result=state.get("result"),
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
        if not self.root.exists():
            return []
        return [d.name for d in self.root.iterdir() if not d.name.startswith(".") and (d / "job.json").is_file()]

    def events(self, job_id: str, start: int = 0) -> list[tuple[int, dict[str, Any]]]:
        """Events from line `start` on, as (line index, event)."""
        return list(read_jsonl(self.get(job_id).dir / "events.jsonl", start))

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
        pid = read_json(info.dir / "state.json", {}).get("pid")
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
        if pid:
            try:
                os.killpg(pid, signal.SIGKILL)
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
