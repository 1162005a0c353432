import asyncio
import json
import re
from collections import Counter

import httpx2
import pytest

from skilldeck.tools.batch import PlanOptions, make_plan, PromptSpec, ProviderConfig, RateLimiter, RateLimits, Task, make_provider
from skilldeck.tools.batch.journal import Journal
from skilldeck.tools.batch.mock_provider import FAULTS, MockConfig, MockProvider, expected_answer
from skilldeck.tools.batch.runner import BatchRunner, RetryPolicy

FAST = RetryPolicy(max_attempts=8, timeout_s=0.5, backoff_base_s=0.02, backoff_cap_s=0.2)


def make_tasks(n):
    # Every 25th task has an empty field: the model must answer INSUFFICIENT_DATA for it alone.
    return [Task(f"t{i}", {"text": "" if i % 25 == 7 else f"item {i}", "lang": "en"}) for i in range(n)]


async def run_on_mock(tmp_path, api, tasks, mock_config, limits, policy=FAST, batch_size=10, spec=None,
                      options=None):
    mock = MockProvider(mock_config)
    url = await mock.start()
    journal = Journal(tmp_path / "journal.jsonl")
    try:
        async with httpx2.AsyncClient() as client:
            provider = make_provider(ProviderConfig(api, "mock-model", base_url=url), client, environ={})
            limiter = RateLimiter(limits)
            runner = BatchRunner(provider, spec or PromptSpec(output_tokens_per_task=40),
                                 options or PlanOptions(batch_size=batch_size), limiter, journal, policy)
            outcome = await runner.run(tasks)
    finally:
        await mock.close()
    return outcome, journal, mock, limiter


def assert_each_task_answered_once_and_correctly(tmp_path, tasks, journal):
    lines = [json.loads(line) for line in (tmp_path / "journal.jsonl").read_text().splitlines()]
    counts = Counter(r["id"] for r in lines if r["type"] == "result")
    assert sorted(counts) == sorted(t.id for t in tasks) and set(counts.values()) == {1}
    for task in tasks:
        result = journal.state.results[task.id]
        if task.fields["text"] == "":
            assert result["status"] == "INSUFFICIENT_DATA" and "text" in result["reason"]
        else:
            assert result["status"] == "ok", result
            assert result["output"] == {"answer": expected_answer(task.id, task.fields["text"], 8)}


@pytest.mark.parametrize("api", ["openai-compatible", "anthropic"])
def test_every_task_is_answered_exactly_once_under_the_fault_mix(tmp_path, api):
    tasks = make_tasks(400)
    faults = {name: 0.05 for name in FAULTS}
    config = MockConfig(limits=RateLimits(60_000, 50_000_000, 10_000_000), faults=faults, seed=7, hang_s=3)
    outcome, journal, mock, _ = asyncio.run(run_on_mock(
        tmp_path, api, tasks, config, RateLimits(60_000, 50_000_000, 10_000_000, concurrency=8)))
    assert outcome.finished and not outcome.fatal
    assert all(mock.stats[name] > 0 for name in FAULTS), mock.stats  # every fault really happened
    assert_each_task_answered_once_and_correctly(tmp_path, tasks, journal)


def test_runs_paced_at_the_limit_get_no_429s(tmp_path):
    tasks = make_tasks(60)
    total = make_plan(tasks, PromptSpec(output_tokens_per_task=40), PlanOptions(batch_size=5)).input_tokens
    limits = RateLimits(input_tokens_per_minute=total / 1.04, output_tokens_per_minute=1_000_000, concurrency=4)
    outcome, journal, mock, _ = asyncio.run(run_on_mock(tmp_path, "openai-compatible", tasks,
                                                        MockConfig(limits=limits), limits, batch_size=5))
    used = sum(r["input_tokens"] for r in journal.state.requests)
    assert used > total / 1.04 and outcome.elapsed_s > 1.0  # more than one full bucket: the limiter paced
    assert outcome.finished and mock.stats["rate_limited"] == 0
    assert_each_task_answered_once_and_correctly(tmp_path, tasks, journal)


def test_limits_set_too_high_are_corrected_by_the_providers_headers(tmp_path):
    tasks = make_tasks(250)
    server = RateLimits(requests_per_minute=240)  # 4 per second once the first 240 are spent
    outcome, journal, mock, limiter = asyncio.run(run_on_mock(
        tmp_path, "anthropic", tasks, MockConfig(limits=server), RateLimits(requests_per_minute=100_000, concurrency=8),
        batch_size=1))
    assert outcome.finished and limiter.buckets["requests"].capacity == 240
    assert outcome.elapsed_s >= 1.5  # the last requests were paced, not stormed
    assert mock.stats["rate_limited"] <= 0.05 * mock.stats["requests"], mock.stats
    assert_each_task_answered_once_and_correctly(tmp_path, tasks, journal)


def test_429s_in_flight_together_share_one_pause_that_honours_retry_after(tmp_path):
    import time

    times = []

    async def handler(request):
        times.append(time.monotonic())
        await asyncio.sleep(0.05)  # the three first requests are in flight together
        if len(times) <= 3:
            return httpx2.Response(429, json={"error": {"message": "slow"}}, headers={"retry-after-ms": "300"})
        body = json.loads(request.content)
        echoes = task_echoes(body["messages"][1]["content"])
        return httpx2.Response(200, json={"choices": [{"message": {"content": json.dumps(
            {"results": [{**ok(i), "echo": e} for i, e in echoes.items()]})}, "finish_reason": "stop"}]})

    async def main():
        async with httpx2.AsyncClient(transport=httpx2.MockTransport(handler)) as client:
            provider = make_provider(ProviderConfig("vllm", "m"), client, environ={})
            limiter = RateLimiter(RateLimits(concurrency=3), probe=False)  # all three go at once
            runner = BatchRunner(provider, PromptSpec(), PlanOptions(batch_size=1), limiter,
                                 Journal(tmp_path / "j.jsonl"), FAST)
            return await runner.run([Task(f"t{i}", {"x": i}) for i in range(3)]), limiter, runner.journal

    outcome, limiter, journal = asyncio.run(main())
    assert outcome.finished and limiter.pauses == 1 and len(times) == 6
    assert min(times[3:]) - times[0] >= 0.3
    assert [r["status"] for r in journal.state.requests].count("rate_limit") == 3


def test_a_batch_that_overflows_the_context_is_split(tmp_path):
    tasks = make_tasks(40)
    config = MockConfig(limits=RateLimits(60_000), context_window=1600)
    outcome, journal, mock, _ = asyncio.run(run_on_mock(tmp_path, "openai-compatible", tasks, config,
                                                        RateLimits(60_000, concurrency=4), batch_size=20))
    assert outcome.finished and mock.stats["overflow"] > 0
    assert_each_task_answered_once_and_correctly(tmp_path, tasks, journal)


def task_echoes(user):
    """{task id: echo code} from a batch prompt's task blocks."""
    return dict(re.findall(r"^### TASK (.+?) \(echo: ([a-z0-9]+)\)$", user, re.M))


def scripted(answer_for):
    """A mock transport whose answer is a function of the task ids in the prompt."""
    sent = []

    def handler(request):
        body = json.loads(request.content)
        echoes = task_echoes(body["messages"][1]["content"])
        ids = list(echoes)
        sent.append(ids)
        status, items = answer_for(ids, len(sent))
        if status != 200:
            return httpx2.Response(status, json={"error": {"message": "nope"}})
        items = [{**item, "echo": echoes.get(item["id"])} for item in items]
        return httpx2.Response(200, json={"choices": [{"message": {"content": json.dumps({"results": items})},
                                                       "finish_reason": "stop"}],
                                          "usage": {"prompt_tokens": 10, "completion_tokens": 10}})

    return handler, sent


def run_scripted(tmp_path, handler, tasks, policy=FAST, batch_size=10):
    async def main():
        async with httpx2.AsyncClient(transport=httpx2.MockTransport(handler)) as client:
            provider = make_provider(ProviderConfig("vllm", "m"), client, environ={})
            runner = BatchRunner(provider, PromptSpec(), PlanOptions(batch_size=batch_size),
                                 RateLimiter(RateLimits(concurrency=1)), Journal(tmp_path / "j.jsonl"), policy)
            return await runner.run(tasks), runner.journal

    return asyncio.run(main())


def ok(task_id):
    return {"id": task_id, "status": "ok", "output": {"answer": f"for {task_id}"}, "reason": ""}


def test_only_missing_tasks_are_requeued(tmp_path):
    handler, sent = scripted(lambda ids, n: (200, [ok(i) for i in ids if n > 1 or i not in ("t2", "t5")]))
    outcome, journal = run_scripted(tmp_path, handler, [Task(f"t{i}", {"x": i}) for i in range(8)])
    assert outcome.finished and sent == [[f"t{i}" for i in range(8)], ["t2", "t5"]]
    assert all(journal.state.results[f"t{i}"]["output"] == {"answer": f"for t{i}"} for i in range(8))


def test_a_task_that_keeps_failing_is_reported_failed_with_the_reason_and_alone(tmp_path):
    def answer(ids, n):
        return 200, [ok(i) if i != "bad" else {**ok(i), "output": {"answer": 5}} for i in ids]

    handler, sent = scripted(answer)
    outcome, journal = run_scripted(tmp_path, handler, [Task(i, {"x": 1}) for i in ("a", "bad", "c")],
                                    RetryPolicy(max_attempts=3, backoff_base_s=0.01))
    bad = journal.state.results["bad"]
    assert outcome.finished and bad["status"] == "failed" and "expected string" in bad["reason"]
    assert bad["reason"].startswith("failed after 3 attempt(s)")
    assert journal.state.results["a"]["status"] == "ok" and sent[1:] == [["bad"], ["bad"]]


def test_server_errors_are_retried_with_backoff_then_succeed(tmp_path):
    handler, sent = scripted(lambda ids, n: (503, []) if n <= 2 else (200, [ok(i) for i in ids]))
    outcome, journal = run_scripted(tmp_path, handler, [Task("a", {"x": 1}), Task("b", {"x": 2})])
    assert outcome.finished and len(sent) == 3 and journal.state.results["b"]["attempts"] == 3
    statuses = [r["status"] for r in journal.state.requests]
    assert statuses == ["transient", "transient", "ok"] and [r["first"] for r in journal.state.requests] == \
        [True, False, False]


def test_an_auth_error_stops_the_run_and_leaves_tasks_for_resume(tmp_path):
    handler, sent = scripted(lambda ids, n: (401, []))
    outcome, journal = run_scripted(tmp_path, handler, [Task(f"t{i}", {"x": i}) for i in range(30)])
    assert outcome.fatal and "401" in outcome.fatal and not outcome.finished
    assert journal.state.results == {} and len(sent) == 1


def test_a_resumed_run_sends_only_unfinished_tasks(tmp_path):
    tasks = [Task(f"t{i}", {"x": i}) for i in range(6)]
    Journal(tmp_path / "j.jsonl").append([{"id": "t1", "status": "ok", "output": {"answer": "old"}, "reason": ""}])
    handler, sent = scripted(lambda ids, n: (200, [ok(i) for i in ids]))
    outcome, journal = run_scripted(tmp_path, handler, tasks)
    assert outcome.finished and sent == [["t0", "t2", "t3", "t4", "t5"]]
    assert journal.state.results["t1"]["output"] == {"answer": "old"}


def test_an_unexpected_error_fails_tasks_with_the_reason_instead_of_stranding_them(tmp_path):
    def handler(request):
        raise RuntimeError("a bug in a transport")

    outcome, journal = run_scripted(tmp_path, handler, [Task("a", {"x": 1}), Task("b", {"x": 2})],
                                    RetryPolicy(max_attempts=2, backoff_base_s=0.01))
    assert outcome.finished
    assert all("internal error: RuntimeError: a bug in a transport" in journal.state.results[i]["reason"]
               for i in ("a", "b"))


def test_a_failure_that_cannot_be_recorded_stops_the_run_instead_of_hanging(tmp_path, monkeypatch):
    def handler(request):
        raise RuntimeError("a bug in a transport")

    def disk_full(self, results, request=None):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Journal, "append", disk_full)

    async def main():
        async with httpx2.AsyncClient(transport=httpx2.MockTransport(handler)) as client:
            provider = make_provider(ProviderConfig("vllm", "m"), client, environ={})
            runner = BatchRunner(provider, PromptSpec(), PlanOptions(batch_size=10),
                                 RateLimiter(RateLimits(concurrency=1)), Journal(tmp_path / "j.jsonl"),
                                 RetryPolicy(max_attempts=1, backoff_base_s=0.01))
            return await asyncio.wait_for(runner.run([Task("a", {"x": 1})]), 30)

    outcome = asyncio.run(main())
    assert not outcome.finished and "No space left on device" in outcome.fatal
