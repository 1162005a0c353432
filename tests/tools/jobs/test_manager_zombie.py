"""A worker that was killed but not yet reaped by its parent is dead, not running."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from skilldeck.tools.jobs import JobManager, JobStatus
from skilldeck.tools.jobs.manager import _is_zombie, process_start_time

needs_proc = pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="process states need /proc")


@needs_proc
def test_a_killed_unreaped_worker_makes_the_job_interrupted_and_resumable_at_once(tmp_path):
    # A grandchild's parent never reaps it here: the intermediate process sleeps on.
    parent = subprocess.Popen([sys.executable, "-c", (
        "import subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(60)\n")], stdout=subprocess.PIPE, text=True)
    try:
        pid = int(parent.stdout.readline())
        start = process_start_time(pid)
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while not _is_zombie(pid) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _is_zombie(pid)
        jobs = JobManager(tmp_path / "jobs")
        job_dir = jobs.root / "killed"
        job_dir.mkdir(parents=True)
        (job_dir / "job.json").write_text(json.dumps({"id": "killed", "kind": "test", "entry": "x:y"}))
        (job_dir / "state.json").write_text(json.dumps({"status": "running", "pid": pid, "pid_start": start}))
        assert jobs.get("killed").status is JobStatus.INTERRUPTED
    finally:
        parent.kill()
        parent.wait()


def test_a_live_process_is_not_a_zombie():
    assert not _is_zombie(os.getpid())
