"""Job folders hold files anyone who can write the jobs folder can edit: a damaged, hand-written
or swapped file there must neither run code, signal another process, stall nor hide other jobs."""

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from skilldeck.tools.errors import NotFoundError, StateError
from skilldeck.tools.jobs import JobManager, JobStatus

ENTRIES = ("job_entries",)


@pytest.fixture
def jobs(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).parent) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return JobManager(tmp_path / "jobs", entry_modules=ENTRIES)


def job_folder(jobs: JobManager, job_id: str, job: object = None, state: object = None) -> Path:
    folder = jobs.root / job_id
    folder.mkdir(parents=True)
    job = {"id": job_id, "kind": "test", "entry": "job_entries:count", "spec": {"n": 1}} if job is None else job
    (folder / "job.json").write_text(json.dumps(job))
    if state is not None:
        (folder / "state.json").write_text(json.dumps(state))
    return folder


def within(seconds: float, fn):
    """fn() run in a thread; fails the test if it has not returned after `seconds`."""
    out: dict = {}
    thread = threading.Thread(target=lambda: out.update(value=fn()), daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still blocked after {seconds} s"
    return out.get("value")


@pytest.mark.parametrize("damage", ["fifo", "dev_zero", "outside", "huge"])
def test_a_state_file_that_is_no_regular_file_inside_reads_as_damaged_at_once(jobs, tmp_path, damage):
    folder = job_folder(jobs, "swapped")
    secret = tmp_path / "elsewhere.json"
    secret.write_text(json.dumps({"status": "succeeded", "result": "read from outside"}))
    state = folder / "state.json"
    if damage == "fifo":
        os.mkfifo(state)
    elif damage == "huge":  # the second security audit: 60 MB took 12-15 s and 1.4 GB at every status call
        state.write_text(json.dumps({"status": "succeeded", "result": "x" * (9 << 20)}))
    else:
        state.symlink_to("/dev/zero" if damage == "dev_zero" else secret)
    good = jobs.wait(jobs.start("test", "job_entries:count", {"n": 1}).id, timeout_s=30)
    info = within(10, lambda: jobs.get("swapped"))
    assert info.status is JobStatus.INTERRUPTED and info.result is None
    assert {i.id for i in within(10, jobs.list)} == {good.id, "swapped"}


@pytest.mark.parametrize(("case", "job", "state"), [
    ("state-list", None, []),
    ("progress-text", None, {"status": "failed", "progress": "half"}),
    ("created-text", {"id": "created-text", "kind": "test", "entry": "job_entries:count", "created": "yesterday"}, None),
    ("spec-list", {"id": "spec-list", "kind": "test", "entry": "job_entries:count", "spec": []}, None),
    ("id-mismatch", {"id": "someone-else", "kind": "test", "entry": "job_entries:count"}, None),
])
def test_damaged_job_files_hide_neither_other_jobs_nor_themselves_in_a_crash(jobs, case, job, state):
    job_folder(jobs, case, job, state)
    good = jobs.wait(jobs.start("test", "job_entries:count", {"n": 1}).id, timeout_s=30)
    listed = {i.id for i in jobs.list()}
    assert good.id in listed
    if job is None:  # job.json is sound: the job is listed, with its state read as far as it can be
        info = jobs.get(case)
        assert case in listed and info.status.finished and isinstance(info.progress, dict)
    else:  # job.json is not as skilldeck writes it: not a job
        assert case not in listed
        with pytest.raises(NotFoundError, match="damaged"):
            jobs.get(case)


def test_events_that_are_not_objects_are_skipped(jobs):
    folder = job_folder(jobs, "odd-events", state={"status": "failed"})
    (folder / "events.jsonl").write_text('[1, 2]\n"text"\n{"event": "started"}\n{torn')
    assert [e for _, e in jobs.events("odd-events")] == [{"event": "started"}]


def test_a_job_folder_that_links_elsewhere_is_not_a_job(jobs, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "job.json").write_text(json.dumps({"id": "linked", "kind": "test", "entry": "job_entries:count"}))
    (outside / "state.json").write_text(json.dumps({"status": "failed"}))
    (jobs.root / "linked").symlink_to(outside)
    assert jobs.list() == []
    with pytest.raises(NotFoundError):
        jobs.get("linked")
    with pytest.raises(NotFoundError):
        jobs.resume("linked")
    assert sorted(p.name for p in outside.iterdir()) == ["job.json", "state.json"]


@pytest.mark.parametrize("job", [
    {"entry": "os:system"},
    {"entry": "planted:run"},
    {"entry": "job_entries:count", "env": {"PYTHONPATH": "/tmp/planted"}},
    {"entry": "job_entries:count", "env": {"LD_PRELOAD": "/tmp/planted.so"}},
])
def test_a_resume_runs_nothing_a_hand_written_job_json_names(jobs, tmp_path, job):
    planted = tmp_path / "planted"
    planted.mkdir()
    marker = tmp_path / "ran"
    (planted / "planted.py").write_text(f"def run(ctx):\n    open({str(marker)!r}, 'w').write('ran')\n")
    job_folder(jobs, "planted", {"id": "planted", "kind": "test", "spec": {"n": 1}, **job}, {"status": "failed"})
    with pytest.raises(StateError, match="not one skilldeck wrote"):
        jobs.resume("planted")
    assert not marker.exists()
    assert jobs.get("planted").status is JobStatus.FAILED  # the refused resume left the job as it was


def test_a_job_may_carry_only_the_environment_variables_jobs_use(jobs):
    with pytest.raises(Exception, match="may set only"):
        jobs.start("test", "job_entries:count", {"n": 1}, env={"PYTHONPATH": "/tmp"})
    with pytest.raises(Exception, match="not in job_entries"):
        jobs.start("test", "os:system", {"n": 1})
    assert jobs.list() == []


@pytest.mark.skipif(not os.path.exists("/proc/self/cmdline"), reason="telling a worker needs /proc")
def test_cancel_never_signals_a_process_that_is_not_the_jobs_worker(jobs):
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        stat = Path(f"/proc/{bystander.pid}/stat").read_text()
        start = int(stat[stat.rindex(")") + 2:].split()[19])
        job_folder(jobs, "hand-written", state={"status": "running", "pid": bystander.pid, "pid_start": start})
        info = jobs.cancel("hand-written", grace_s=1)
        assert info.status.finished
        assert bystander.poll() is None  # still running: neither SIGTERM nor SIGKILL reached it
    finally:
        bystander.kill()
        bystander.wait()


def test_an_event_log_past_its_bound_keeps_only_the_events_that_start_or_end_a_run(tmp_path, monkeypatch):
    import skilldeck.tools.jobs.context as context
    from skilldeck.tools.jobs import JobContext

    monkeypatch.setattr(context, "MAX_EVENTS_BYTES", 4096)
    ctx = JobContext(dir=tmp_path, job_id="long", spec={})
    for step in range(1000):
        ctx.progress(step + 1, 1000, "step")
        ctx.log("eval", step=step, loss=0.1)
    ctx.log("succeeded")
    events = [json.loads(line)["event"] for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    assert (tmp_path / "events.jsonl").stat().st_size < 8192
    assert events.count("events_capped") == 1 and events[-1] == "succeeded"
    assert json.loads((tmp_path / "state.json").read_text())["progress"]["done"] == 1000  # status still current
