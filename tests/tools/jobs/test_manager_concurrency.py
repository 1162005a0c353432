"""Several callers at once on one job: one resume wins, state files are never torn or lost."""

import json
import os
import threading
import time
from pathlib import Path

import pytest

from skilldeck.tools.errors import StateError
from skilldeck.tools.jobs import JobManager, JobStatus
from skilldeck.tools.jobs.files import write_json_atomic


@pytest.fixture
def jobs(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).parent) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return JobManager(tmp_path / "jobs", entry_modules=("job_entries",))


def _together(n, fn):
    """Run fn() in n threads released at once; return what each returned or raised."""
    barrier, outcomes = threading.Barrier(n), [None] * n

    def one(i):
        barrier.wait()
        try:
            outcomes[i] = fn()
        except BaseException as exc:  # noqa: BLE001 - the test looks at every outcome
            outcomes[i] = exc

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return outcomes


def test_concurrent_resumes_start_one_worker_and_refuse_the_others(jobs, monkeypatch):
    """Five resumes at once of a cancelled job started 2-4 workers on its folder (tasks paid twice), and the
    others failed with a raw FileNotFoundError naming a state.json temp file."""
    info = jobs.start("test", "job_entries:count", {"n": 400, "delay": 0.05})
    deadline = time.monotonic() + 30
    while jobs.get(info.id).progress.get("done", 0) < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert jobs.cancel(info.id).status is JobStatus.CANCELLED
    # Widen the window between the status check and the spawn, so that without a lock every resume passes
    # the check (a slow job.json read does the same); under the lock it only makes the others wait.
    runnable = jobs._runnable
    monkeypatch.setattr(jobs, "_runnable", lambda job_dir: (time.sleep(0.3), runnable(job_dir))[1])
    outcomes = _together(5, lambda: jobs.resume(info.id))
    try:
        won = [o for o in outcomes if not isinstance(o, BaseException)]
        refused = [o for o in outcomes if isinstance(o, StateError)]
        assert len(won) == 1 and len(refused) == 4, outcomes
        assert all("already running" in str(e) for e in refused)
        assert not any(".tmp" in str(o) for o in outcomes)
        started = [e for _, e in jobs.events(info.id) if e["event"] == "started" and e.get("resume")]
        deadline = time.monotonic() + 30  # the winner's worker logs its start
        while not started and time.monotonic() < deadline:
            time.sleep(0.05)
            started = [e for _, e in jobs.events(info.id) if e["event"] == "started" and e.get("resume")]
        time.sleep(0.5)  # a second worker would log its start by now too
        assert len([e for _, e in jobs.events(info.id) if e["event"] == "started" and e.get("resume")]) == 1
    finally:
        jobs.cancel(info.id, grace_s=10)


def test_threads_writing_one_state_file_at_once_never_fail_or_leave_temp_files(tmp_path):
    """The temp file was named by pid alone: two threads of one server renamed each other's file away."""
    path = tmp_path / "state.json"

    def writes():
        for i in range(40):
            write_json_atomic(path, {"status": "running", "n": i, "pad": "x" * 2000})

    outcomes = _together(6, writes)
    assert outcomes == [None] * 6
    assert json.loads(path.read_text())["status"] == "running"
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_a_job_being_started_or_resumed_is_not_marked_interrupted(jobs, tmp_path):
    """Between writing "queued" and recording the new worker's pid, a status poll saw a queued job with no
    live worker and marked it interrupted; a resume then started a second worker."""
    from skilldeck.tools.jobs import manager

    info = jobs.wait(jobs.start("test", "job_entries:count", {"n": 1}).id, timeout_s=30)
    write_json_atomic(info.dir / "state.json", {"status": "queued", "pid": None, "progress": {}})
    holding, release = threading.Event(), threading.Event()

    def spawning():  # stands for a start or resume between its status write and its spawn
        with manager._folder_lock(info.dir):
            holding.set()
            release.wait(30)

    thread = threading.Thread(target=spawning)
    thread.start()
    try:
        assert holding.wait(30)
        assert jobs.get(info.id).status is JobStatus.QUEUED
    finally:
        release.set()
        thread.join(30)
    assert jobs.get(info.id).status is JobStatus.INTERRUPTED  # no one holds it: the worker really is gone


def test_a_folders_thread_lock_is_dropped_by_its_last_user(jobs, tmp_path):
    """One lock per job ever locked stayed in the process for good; now the last holder or waiter drops it."""
    from skilldeck.tools.jobs import manager

    info = jobs.wait(jobs.start("test", "job_entries:count", {"n": 1}).id, timeout_s=30)
    key = os.path.realpath(info.dir)
    holding, release = threading.Event(), threading.Event()

    def holder():
        with manager._folder_lock(info.dir):
            holding.set()
            release.wait(30)

    thread = threading.Thread(target=holder)
    thread.start()
    assert holding.wait(30)
    with manager._folder_lock(info.dir, blocking=False) as got:
        assert got is False and manager._thread_locks[key][1] == 2  # the holder and this try
    assert manager._thread_locks[key][1] == 1
    release.set()
    thread.join(30)
    assert key not in manager._thread_locks
    with pytest.raises(RuntimeError), manager._folder_lock(info.dir):
        raise RuntimeError("the body failed")
    assert key not in manager._thread_locks
