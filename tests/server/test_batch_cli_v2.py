"""`skilldeck batch status|results|cancel`, exit codes that follow the final state, batch-API mode."""

import json

from skilldeck.server.cli import main
from skilldeck.tools.batch import RateLimits
from skilldeck.tools.batch.mock_provider import MockConfig, expected_answer, serve_in_thread
from tests.server.test_batch import skilldeck, task_file

MOCK_ARGS = ["--provider", "openai-compatible", "--model", "gpt-4o-mini", "--batch-size", "10",
             "--output-tokens", "40", "--timeout", "5"]


def test_batch_api_mode_runs_end_to_end_and_status_and_results_read_it(tmp_path, capsys):
    path = task_file(tmp_path, 30)
    with serve_in_thread(MockConfig(faults={"swap": 0.3}, seed=2, batch_delay_s=0.1)) as mock:
        out = skilldeck("batch", "run", str(path), *MOCK_ARGS, "--base-url", mock.base_url, "--mode", "batch_api",
                        "--poll", "0.1", "--json", cwd=tmp_path)
        batches = mock.batches.stats["batches"]
    assert out.returncode == 0, out.stderr
    view = json.loads(out.stdout)
    assert view["status"] == "succeeded" and view["report"]["mode"] == "batch_api" and batches >= 1
    assert view["report"]["cost"]["batch_api_discount"] is True
    job = view["job_id"]
    assert main(["batch", "cancel", job]) == 0  # a run that succeeded: no resume hint that would fail
    assert capsys.readouterr().err.strip() == f"job {job}: succeeded"
    assert main(["batch", "status", job]) == 0 and "every task answered" in capsys.readouterr().out
    assert main(["batch", "results", job]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["id"] for r in rows] == [f"r{i}" for i in range(30)]
    assert all(r["output"]["answer"] == expected_answer(r["id"], f"review {r['id'][1:]}", 8) for r in rows)


def test_a_run_whose_every_task_fails_is_failed_and_exits_one(tmp_path):
    path = task_file(tmp_path, 6)
    schema = json.dumps({"type": "object", "properties": {"answer": {"type": "integer"}}})  # the mock writes text
    with serve_in_thread(MockConfig(limits=RateLimits(6000))) as mock:
        out = skilldeck("batch", "run", str(path), *MOCK_ARGS, "--base-url", mock.base_url, "--max-attempts", "1",
                        "--output-schema", schema, "--structured", "none", cwd=tmp_path)
    assert out.returncode == 1, out.stdout + out.stderr
    assert ": failed (all 6 tasks failed" in out.stdout


def test_cancel_stops_a_detached_run_and_status_says_so(tmp_path, capsys):
    path = task_file(tmp_path, 40)
    with serve_in_thread(MockConfig(limits=RateLimits(requests_per_minute=6), latency_s=0.05)) as mock:
        out = skilldeck("batch", "run", str(path), *MOCK_ARGS, "--base-url", mock.base_url, "--rpm", "6",
                        "--batch-size", "1", "--detach", cwd=tmp_path)
        job = out.stdout.strip()
        assert main(["batch", "cancel", job]) == 0
    assert main(["batch", "status", job]) == 1
    assert "cancelled" in capsys.readouterr().out
    assert main(["batch", "status", "no-such-job"]) == 2
