"""The batch surface: CLI (`skilldeck batch ...`) and, end to end, the MCP tools of `skilldeck serve`."""

import json
import subprocess
import sys

import anyio
import pytest

from skilldeck.tools.batch import RateLimits
from skilldeck.tools.batch.mock_provider import MockConfig, expected_answer, serve_in_thread
from tests.server.mcp_client import connect, text_of


def skilldeck(*args, cwd, timeout=90):
    return subprocess.run([sys.executable, "-m", "skilldeck.server.cli", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=timeout)


def task_file(tmp_path, n, name="tasks.jsonl"):
    path = tmp_path / name
    path.write_text("".join(json.dumps({"id": f"r{i}", "review": f"review {i}"}) + "\n" for i in range(n)))
    return path


def test_cli_run_draws_progress_and_writes_results_next_to_the_tasks(tmp_path):
    path = task_file(tmp_path, 60)
    with serve_in_thread(MockConfig(limits=RateLimits(6000, 5_000_000, 1_000_000),
                                    faults={"missing": 0.1, "malformed": 0.1}, seed=5)) as mock:
        out = skilldeck("batch", "run", str(path), "--provider", "openai-compatible", "--base-url", mock.base_url,
                        "--model", "gpt-4o-mini", "--rpm", "6000", "--itpm", "5000000", "--otpm", "1000000",
                        "--concurrency", "4", "--batch-size", "10", "--output-tokens", "40", "--timeout", "5",
                        cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "60/60 tasks" in out.stderr and "resume later with" in out.stderr
    assert "tasks 60: ok 60" in out.stdout and "429 share 0.00%" in out.stdout
    lines = [json.loads(line) for line in (tmp_path / "tasks.results.jsonl").read_text().splitlines()]
    assert [r["id"] for r in lines] == [f"r{i}" for i in range(60)]
    assert lines[7]["output"]["answer"] == expected_answer("r7", "review 7", 8)


def test_cli_refuses_a_bad_task_file_with_the_line_number(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"id": "a", "x": 1}\n{"x": 2}\n')
    out = skilldeck("batch", "run", str(path), "--provider", "vllm", cwd=tmp_path)
    assert out.returncode == 2 and "line 2: missing or empty \"id\"" in out.stderr
    plan = skilldeck("batch", "plan", str(path), cwd=tmp_path)
    assert plan.returncode == 2 and "line 2" in plan.stderr


def test_cli_plan_reports_batches_savings_and_a_request_too_big_for_the_limits(tmp_path):
    path = task_file(tmp_path, 45)
    out = skilldeck("batch", "plan", str(path), "--batch-size", "20", "--rpm", "60", "--json", cwd=tmp_path)
    plan = json.loads(out.stdout)
    assert plan["batches"] == 3 and plan["input_tokens_saved"] > 0 and plan["limit_time"]["binding"] == "requests"
    too_big = skilldeck("batch", "plan", str(path), "--itpm", "100", cwd=tmp_path)
    assert too_big.returncode == 2 and "could never be sent" in too_big.stderr


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.mark.anyio
async def test_mcp_batch_tools_end_to_end(tmp_path):
    task_file(tmp_path, 40)  # tasks.jsonl, which the call names
    progress = []

    async def on_progress(done, total, message):
        progress.append((done, total))

    with serve_in_thread(MockConfig(limits=RateLimits(6000), latency_s=0.05)) as mock:
        async with connect("--toolsets", "all", "--no-user-skills", "--no-bundled-skills",
                           "--provider-url", mock.base_url, cwd=tmp_path) as (session, _):
            names = {t.name for t in (await session.list_tools()).tools}
            assert {"plan_batches", "run_batches", "batch_status", "batch_results", "cancel_batch",
                    "estimate_cost"} <= names
            args = {"instructions": "Summarise each review.", "tasks_path": "tasks.jsonl", "provider": "vllm",
                    "model": "gpt-4o-mini", "rpm": 6000, "concurrency": 2,
                    "options": {"base_url": mock.base_url, "batch_size": 4, "output_tokens_per_task": 40}}
            plan = json.loads(text_of(await session.call_tool("plan_batches", args)))
            assert plan["batches"] == 10 and "Summarise each review." in plan["first_batch_preview"]["system"]
            with anyio.fail_after(60):
                run = json.loads(text_of(await session.call_tool("run_batches", {**args, "wait_s": 45},
                                                                 progress_callback=on_progress)))
            assert run["status"] == "succeeded", run
            assert progress and progress[-1] == (40, 40)
            page = json.loads(text_of(await session.call_tool("batch_results", {"job_id": run["job_id"], "limit": 30})))
            assert len(page["results"]) == 30 and page["next_offset"] == 30
            rest = json.loads(text_of(await session.call_tool("batch_results", {"job_id": run["job_id"],
                                                                                "offset": 30})))
            assert [r["id"] for r in rest["results"]] == [f"r{i}" for i in range(30, 40)]
            cost = json.loads(text_of(await session.call_tool("estimate_cost", {
                "model": "gpt-4o-mini", "input_tokens": 1_000_000, "output_tokens": 0, "batch_api": True})))
            assert cost["cost_usd"] == 0.075 and cost["price_table"]["date"]
            for price in (float("nan"), float("inf"), -1.0):  # each used to price the run at NaN, inf or -200
                odd = await session.call_tool("estimate_cost", {
                    "model": "gpt-4o-mini", "input_tokens": 1000, "output_tokens": 0,
                    "prices": {"gpt-4o-mini": {"input": price, "output": 1.0}}})
                assert odd.is_error and "prices" in text_of(odd), text_of(odd)
            bad = await session.call_tool("run_batches", {"instructions": "x", "tasks": [{"id": 1, "a": 1},
                                                                                         {"id": 1, "a": 2}]})
            assert bad.is_error and "task #1: duplicate id '1'" in text_of(bad)
            unknown = await session.call_tool("batch_status", {"job_id": "nope"})
            assert unknown.is_error and "No job 'nope'" in text_of(unknown)


def test_cli_run_whose_tasks_all_fail_reports_failed_not_succeeded(tmp_path):
    path = task_file(tmp_path, 4)
    with serve_in_thread(MockConfig(limits=RateLimits(6000), faults={"error_500": 1.0})) as mock:
        out = skilldeck("batch", "run", str(path), "--provider", "openai-compatible", "--base-url", mock.base_url,
                        "--max-attempts", "1", "--batch-size", "1", "--timeout", "5", cwd=tmp_path)
    assert out.returncode == 1, out.stderr
    assert ": failed (all 4 tasks failed" in out.stdout and "succeeded" not in out.stdout
