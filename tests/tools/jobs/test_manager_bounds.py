"""The jobs folder's bounds (MAX_FINISHED_JOBS, MAX_FINISHED_BYTES) hold within a day too."""

import os
from pathlib import Path

import pytest

from skilldeck.tools.errors import StateError
from skilldeck.tools.jobs import JobManager, JobStatus, manager
from skilldeck.tools.jobs.files import read_json, write_json_atomic


@pytest.fixture
def jobs(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).parent) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    monkeypatch.setattr(manager, "MAX_FINISHED_JOBS", 2)
    return JobManager(tmp_path / "jobs", entry_modules=("job_entries",))


def _finished(jobs, status):
    """A job that ended just now with `status` (a quick run, its outcome then rewritten)."""
    info = jobs.wait(jobs.start("test", "job_entries:count", {"n": 1}, files={"tasks.jsonl": "x" * 1000}).id,
                     timeout_s=30)
    state = read_json(info.dir / "state.json")
    write_json_atomic(info.dir / "state.json", {**state, "status": status})
    return info.id


def test_failed_and_finished_jobs_of_today_are_removed_past_the_bounds(jobs):
    """A burst of fast-failing runs, each with a copy of a 5 MB task file, grew the folder without limit:
    every job of the last 24 h was kept whatever the bounds."""
    made = [_finished(jobs, status) for status in ("failed", "succeeded", "failed", "completed_with_errors")]
    newest = jobs.start("test", "job_entries:count", {"n": 1})
    ids = {j.id for j in jobs.list()}
    assert ids == {made[-2], made[-1], newest.id}  # the newest two finished ones, and the new one
    jobs.wait(newest.id, timeout_s=30)


def test_resumable_jobs_of_today_are_kept_and_a_new_job_is_refused_while_they_fill_the_bounds(jobs):
    older_failed = _finished(jobs, "failed")
    cancelled = [_finished(jobs, "cancelled"), _finished(jobs, "interrupted")]
    with pytest.raises(StateError, match=r"2 cancelled or interrupted jobs .* kept to be resumed.*delete"):
        jobs.start("test", "job_entries:count", {"n": 1})
    ids = {j.id for j in jobs.list()}
    assert ids == set(cancelled)  # nothing that may be resumed is lost; the failed one went past the bound
    # Once one is resumed (and so finishes), there is room again.
    done = jobs.wait(jobs.resume(cancelled[0]).id, timeout_s=30)
    assert done.status is JobStatus.SUCCEEDED and older_failed not in ids
    jobs.wait(jobs.start("test", "job_entries:count", {"n": 1}).id, timeout_s=30)
