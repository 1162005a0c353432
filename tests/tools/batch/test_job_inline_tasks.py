"""A batch run started with inline tasks keeps them in its own folder, through cancel and resume."""

import json
import time

from skilldeck.tools.batch import RateLimits, RunSpec, tasks_from_records
from skilldeck.tools.batch.mock_provider import MockConfig, serve_in_thread
from skilldeck.tools.batch.service import resume_run, start_run
from skilldeck.tools.jobs import JobManager, JobStatus


def wait_until(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def start_and_cancel(jobs, mock, count: int, done: int):
    """A run of `count` inline tasks against `mock`, cancelled once `done` are answered."""
    tasks = tasks_from_records([{"id": f"t{i}", "text": f"item {i}"} for i in range(count)])
    spec = RunSpec(provider="openai-compatible", base_url=mock.base_url, output_tokens_per_task=40,
                   timeout_s=2.0, batch_size=3, concurrency=1)
    info = start_run(jobs, spec, tasks)
    assert (info.dir / "tasks.jsonl").is_file()  # there before the worker runs: nothing to lose
    wait_until(lambda: (jobs.get(info.id).progress.get("done") or 0) >= done)
    assert jobs.cancel(info.id).status is JobStatus.CANCELLED
    return info


def test_inline_tasks_survive_cancel_and_resume_inside_the_job_folder(tmp_path):
    jobs = JobManager(tmp_path / "jobs")
    with serve_in_thread(MockConfig(limits=RateLimits(60_000), latency_s=0.08)) as mock:
        info = start_and_cancel(jobs, mock, 60, 6)
        done = jobs.wait(resume_run(jobs, info.id).id, timeout_s=60)
    assert done.status is JobStatus.SUCCEEDED and done.result["answered"] == 60
    assert max(mock.answered.values()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["jobs", "skilldeck-home"]
    assert not (tmp_path / "skilldeck-home" / "batch" / "inputs").exists()
    assert "tasks_path" not in json.loads((info.dir / "job.json").read_text())["spec"]



def test_a_tool_call_resume_checks_the_endpoint_against_the_urls_configured_now(tmp_path):
    import pytest

    from skilldeck.tools.batch.errors import ProviderConfigError

    jobs = JobManager(tmp_path / "jobs")
    with serve_in_thread(MockConfig(limits=RateLimits(60_000), latency_s=0.08)) as mock:
        info = start_and_cancel(jobs, mock, 30, 3)
        sent = dict(mock.answered)
        # The user has since removed the URL from provider_urls: the resume is refused, nothing is sent.
        with pytest.raises(ProviderConfigError, match=rf"job {info.id}\.base_url .* not an endpoint the user"):
            resume_run(jobs, info.id, trusted_urls=["https://other.example/v1"])
        assert jobs.get(info.id).status is JobStatus.CANCELLED
        time.sleep(0.3)
        assert dict(mock.answered) == sent
        done = jobs.wait(resume_run(jobs, info.id, trusted_urls=[mock.base_url]).id, timeout_s=60)
    assert done.status is JobStatus.SUCCEEDED and done.result["answered"] == 30
