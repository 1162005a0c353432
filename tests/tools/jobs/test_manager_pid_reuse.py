"""A job whose worker pid now belongs to another process must not look alive."""

import json
import os
import sys

import pytest

from skilldeck.tools.jobs import JobManager, JobStatus

needs_proc = pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="process start times need /proc")


def own_start_time() -> int:
    stat = open("/proc/self/stat").read()
    return int(stat[stat.rindex(")") + 2:].split()[19])  # field 22, after "pid (comm) "


def running_job(jobs: JobManager, job_id: str, **state) -> None:
    job_dir = jobs.root / job_id
    job_dir.mkdir(parents=True)
    (job_dir / "job.json").write_text(json.dumps({"id": job_id, "kind": "test", "entry": "x:y"}))
    (job_dir / "state.json").write_text(json.dumps({"status": "running", "progress": {}, **state}))


@needs_proc
def test_a_reused_pid_with_another_start_time_reports_the_job_interrupted(tmp_path):
    jobs = JobManager(tmp_path / "jobs")
    # This test process is alive, but it is not the worker that recorded the pid.
    running_job(jobs, "reused", pid=os.getpid(), pid_start=own_start_time() - 1)
    info = jobs.get("reused")
    assert info.status is JobStatus.INTERRUPTED
    assert info.error == "the worker process exited without recording an outcome"
    assert json.loads((info.dir / "state.json").read_text())["status"] == "interrupted"


@needs_proc
@pytest.mark.parametrize("start", ["recorded", "missing"])
def test_a_live_process_that_is_not_the_jobs_worker_is_not_taken_for_it(tmp_path, start):
    # A pid written into state.json by hand (or left from a worker long gone) names this test
    # process: alive, and with its true start time, but not the job's worker.
    jobs = JobManager(tmp_path / "jobs")
    extra = {"pid_start": own_start_time()} if start == "recorded" else {}
    running_job(jobs, "not-mine", pid=os.getpid(), **extra)
    assert jobs.get("not-mine").status is JobStatus.INTERRUPTED


@needs_proc
def test_the_worker_records_its_own_start_time(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", os.path.dirname(__file__) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    jobs = JobManager(tmp_path / "jobs", python=sys.executable, entry_modules=("job_entries",))
    info = jobs.wait(jobs.start("test", "job_entries:count", {"n": 1}).id, timeout_s=30)
    state = json.loads((info.dir / "state.json").read_text())
    assert info.status is JobStatus.SUCCEEDED
    assert isinstance(state["pid_start"], int) and state["pid_start"] > 0


@needs_proc
def test_process_start_time_reads_field_22_of_proc_stat():
    from skilldeck.tools.jobs.manager import process_start_time

    assert process_start_time(os.getpid()) == own_start_time()
    assert process_start_time(2**22 + 1) is None  # above the kernel's pid_max ceiling: no such process

