"""Inline `tasks` of plan_batches / run_batches belong to the job: no file is left elsewhere."""

import json

import anyio
import pytest

from skilldeck.tools.batch import RateLimits
from skilldeck.tools.batch.mock_provider import MockConfig, serve_in_thread
from tests.server.mcp_client import connect, text_of


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.mark.anyio
async def test_inline_tasks_live_in_the_job_folder_and_nowhere_else(tmp_path, skilldeck_home):
    tasks = [{"id": i, "review": f"review {i}"} for i in range(12)]
    with serve_in_thread(MockConfig(limits=RateLimits(6000))) as mock:
        async with connect("--toolsets", "all", "--no-user-skills", "--no-bundled-skills",
                           "--provider-url", mock.base_url, cwd=tmp_path) as (session, _):
            args = {"instructions": "Summarise each review.", "tasks": tasks, "provider": "vllm",
                    "options": {"base_url": mock.base_url, "batch_size": 4, "output_tokens_per_task": 40}}
            plan = json.loads(text_of(await session.call_tool("plan_batches", args)))
            assert plan["batches"] == 3
            with anyio.fail_after(60):
                run = json.loads(text_of(await session.call_tool("run_batches", {**args, "wait_s": 45})))
            assert run["status"] == "succeeded", run
            page = json.loads(text_of(await session.call_tool("batch_results", {"job_id": run["job_id"]})))
    assert [r["id"] for r in page["results"]] == [str(i) for i in range(12)]
    assert not (skilldeck_home / "batch" / "inputs").exists()
    job_dir = skilldeck_home / "jobs" / run["job_id"]
    assert [json.loads(line) for line in (job_dir / "tasks.jsonl").read_text().splitlines()] == \
        [{"id": str(i), "review": f"review {i}"} for i in range(12)]
    assert "tasks_path" not in json.loads((job_dir / "job.json").read_text())["spec"]
