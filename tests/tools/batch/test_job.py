"""The batch run through the shared job mechanism: a worker process, a journal, kill and resume."""

import json
import os
import signal
import time
from collections import Counter

import pytest

from skilldeck.tools.batch import RateLimits, RunSpec
from skilldeck.tools.batch.mock_provider import MockConfig, expected_answer, serve_in_thread
from skilldeck.tools.batch.service import job_view, results_page, start_run
from skilldeck.tools.jobs import JobManager, JobStatus

SECRET = "sk-test-never-written-4242"


@pytest.fixture
def jobs(tmp_path):
    return JobManager(tmp_path / "jobs")


def task_file(tmp_path, n):
    path = tmp_path / "tasks.jsonl"
    path.write_text("".join(json.dumps({"id": f"t{i}", "text": f"item {i}"}) + "\n" for i in range(n)))
    return path


def spec(path, url, **extra):
    return RunSpec(tasks_path=str(path), provider="openai", model="gpt-4o-mini", base_url=url,
                   output_tokens_per_task=40, timeout_s=2.0, backoff_base_s=0.05, max_attempts=8, **extra)


def wait_until(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_batch_job_answers_every_task_and_never_writes_the_key(tmp_path, jobs, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    faults = {"error_500": 0.05, "malformed": 0.05, "missing": 0.05, "truncate": 0.05, "reset": 0.05}
    with serve_in_thread(MockConfig(limits=RateLimits(6000, 5_000_000, 1_000_000), faults=faults, seed=3)) as mock:
        info = start_run(jobs, spec(task_file(tmp_path, 120), mock.base_url, batch_size=10, concurrency=4))
        done = jobs.wait(info.id, timeout_s=60)
    assert done.status is JobStatus.SUCCEEDED, done.error
    report = done.result
    assert report["answered"] == report["ok"] == 120 and report["unanswered"] == 0
    assert report["requests"] == mock.stats["requests"] and report["cost"]["cost_usd"] > 0
    lines = [json.loads(line) for line in (done.dir / "results.jsonl").read_text().splitlines()]
    assert [r["id"] for r in lines] == [f"t{i}" for i in range(120)]
    assert all(r["output"]["answer"] == expected_answer(r["id"], f"item {r['id'][1:]}", 8) for r in lines)
    page = results_page(jobs, info.id, offset=100, limit=50)
    assert [r["id"] for r in page["results"]] == [f"t{i}" for i in range(100, 120)] and page["next_offset"] is None
    for path in done.dir.iterdir():
        assert SECRET not in path.read_text(errors="replace"), path.name


def test_killed_worker_resumes_without_redoing_or_losing_tasks(tmp_path, jobs):
    config = MockConfig(limits=RateLimits(60_000), latency_s=0.08)
    with serve_in_thread(config) as mock:
        info = start_run(jobs, spec(task_file(tmp_path, 150), mock.base_url, batch_size=3, concurrency=2))
        wait_until(lambda: (jobs.get(info.id).progress.get("done") or 0) >= 30)
        os.kill(json.loads((info.dir / "state.json").read_text())["pid"], signal.SIGKILL)
        wait_until(lambda: jobs.get(info.id).status is JobStatus.INTERRUPTED, timeout=10)
        before = {json.loads(line)["id"] for line in (info.dir / "journal.jsonl").read_text().splitlines()
                  if '"type": "result"' in line}
        assert 30 <= len(before) < 150
        done = jobs.wait(jobs.resume(info.id).id, timeout_s=60)
    assert done.status is JobStatus.SUCCEEDED, done.error
    results = Counter(json.loads(line)["id"] for line in (done.dir / "journal.jsonl").read_text().splitlines()
                      if '"type": "result"' in line)
    assert sorted(results) == sorted(f"t{i}" for i in range(150)) and set(results.values()) == {1}
    assert all(mock.answered[task_id] == 1 for task_id in before)  # finished work was not redone
    assert done.result["answered"] == 150 and job_view(jobs, info.id)["status"] == "succeeded"


def test_a_bad_task_file_is_refused_before_a_job_starts(tmp_path, jobs):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"id": "a", "x": 1}\n{"id": "a", "x": 2}\n')
    with pytest.raises(Exception, match="line 2: duplicate id 'a'"):
        start_run(jobs, spec(path, "http://127.0.0.1:9/v1"))
    assert jobs.list() == []


def test_cancelled_run_keeps_its_results_and_resumes_to_completion(tmp_path, jobs):
    from skilldeck.tools.batch.service import resume_run

    with serve_in_thread(MockConfig(limits=RateLimits(60_000), latency_s=0.08)) as mock:
        info = start_run(jobs, spec(task_file(tmp_path, 90), mock.base_url, batch_size=3, concurrency=1))
        wait_until(lambda: (jobs.get(info.id).progress.get("done") or 0) >= 9)
        cancelled = jobs.cancel(info.id)
        assert cancelled.status is JobStatus.CANCELLED and cancelled.result["answered"] < 90
        assert "resume with run_batches(resume=" in job_view(jobs, info.id)["next_step"]
        done = jobs.wait(resume_run(jobs, info.id).id, timeout_s=60)
    assert done.status is JobStatus.SUCCEEDED and done.result["answered"] == 90
    assert max(mock.answered.values()) == 1  # nothing answered before the cancel was asked again


def test_results_of_a_run_that_ended_before_reading_its_tasks_say_so(jobs):
    from skilldeck.tools.batch.errors import BatchError
    from skilldeck.tools.batch.job import ENTRY

    folder = jobs.root / "batch-ended"
    folder.mkdir(parents=True)
    (folder / "job.json").write_text(json.dumps({"id": "batch-ended", "kind": "batch", "entry": ENTRY, "spec": {}}))
    (folder / "state.json").write_text(json.dumps({"status": "failed", "error": "the provider refused the key"}))
    with pytest.raises(BatchError, match="ended \\(failed\\) before reading its tasks.*refused the key"):
        results_page(jobs, "batch-ended")


def test_a_result_longer_than_a_megabyte_survives_the_journal(tmp_path):
    from skilldeck.tools.batch.journal import Journal

    answer = "x" * (3 << 20)  # within the 32 MB a response may hold, past the 1 MB line cut of other readers
    Journal(tmp_path / "journal.jsonl").append([{"id": "a", "status": "ok", "output": {"answer": answer}}])
    assert Journal.read(tmp_path / "journal.jsonl").results["a"]["output"]["answer"] == answer
