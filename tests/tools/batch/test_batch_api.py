"""Batch-API mode against the mock's OpenAI Batch and Anthropic Message Batches endpoints."""

import asyncio

import httpx2
import pytest

from skilldeck.tools.batch import PlanOptions, PromptSpec, ProviderConfig, RateLimiter, RateLimits, make_provider
from skilldeck.tools.batch.batch_api import BatchAPIRunner
from skilldeck.tools.batch.journal import Journal
from skilldeck.tools.batch.mock_provider import MockConfig, MockProvider, expected_answer
from skilldeck.tools.batch.runner import RetryPolicy
from skilldeck.tools.batch.tasks import Task


def tasks(n):
    return [Task(f"t{i}", {"text": f"item {i}"}) for i in range(n)]


async def run(tmp_path, api, config, todo, cancel_after=None, mock=None):
    mock = mock or MockProvider(config)
    url = mock.base_url or await mock.start()
    journal = Journal(tmp_path / "journal.jsonl")
    polls = [0]

    def cancelled():
        polls[0] += 1
        return cancel_after is not None and polls[0] > cancel_after

    async with httpx2.AsyncClient() as client:
        provider = make_provider(ProviderConfig(api, "mock-model", base_url=url), client, environ={})
        runner = BatchAPIRunner(provider, PromptSpec(output_tokens_per_task=40), PlanOptions(batch_size=8),
                                RateLimiter(RateLimits()), journal, RetryPolicy(max_attempts=6), cancelled=cancelled,
                                poll_s=0.05)
        outcome = await runner.run(todo)
    return outcome, journal, mock


@pytest.mark.parametrize("api", ["openai-compatible", "anthropic"])
def test_a_batch_api_run_answers_every_task_right_under_faults_and_swaps(tmp_path, api):
    todo = tasks(60)
    config = MockConfig(faults={"swap": 0.2, "missing": 0.1, "error_500": 0.1, "malformed": 0.1}, seed=3,
                        batch_delay_s=0.05)

    async def main():
        outcome, journal, mock = await run(tmp_path, api, config, todo)
        await mock.close()
        return outcome, journal, mock

    outcome, journal, mock = asyncio.run(main())
    assert outcome.finished and mock.batches.stats["batches"] >= 2 and mock.stats["swap"] > 0
    for task in todo:
        result = journal.state.results[task.id]
        assert result["status"] == "ok" and result["output"] == {"answer": expected_answer(task.id, task.fields["text"], 8)}
    assert sum(r.get("misattributed", 0) for r in journal.state.requests) >= 2


def test_a_resumed_batch_api_run_collects_the_batch_it_submitted_instead_of_submitting_again(tmp_path):
    todo = tasks(20)

    async def main():
        mock = MockProvider(MockConfig(batch_delay_s=0.3))
        await mock.start()
        first, _, _ = await run(tmp_path, "anthropic", None, todo, cancel_after=1, mock=mock)
        submitted = mock.batches.stats["batches"]
        second, journal, _ = await run(tmp_path, "anthropic", None, todo, mock=mock)
        await mock.close()
        return first, second, submitted, mock, journal

    first, second, submitted, mock, journal = asyncio.run(main())
    assert first.cancelled and not first.finished and submitted == 1
    # The cancelled batch answered half its requests; the resume collected them and sent only the rest.
    assert second.finished and mock.batches.stats["batches"] == 2 and len(journal.state.results) == 20


class _StuckAPI:
    """A batch API whose batch never ends; its first `faults` polls fail."""

    def __init__(self, faults=0):
        self.faults, self.polls, self.cancelled = faults, 0, []

    async def poll(self, batch_id):
        from skilldeck.tools.batch.batch_api import RemoteBatch
        from skilldeck.tools.batch.providers import ProviderFault

        self.polls += 1
        if self.polls <= self.faults:
            raise ProviderFault("transient", "503")
        return RemoteBatch(batch_id, "in_progress", self.polls > self.faults + 1, {})

    async def cancel(self, batch_id):
        self.cancelled.append(batch_id)


async def _waiting_runner(tmp_path, api, poll_s=1.0):
    client = httpx2.AsyncClient()
    provider = make_provider(ProviderConfig("openai-compatible", "m", base_url="http://127.0.0.1:9/v1"), client,
                             environ={})
    runner = BatchAPIRunner(provider, PromptSpec(), PlanOptions(), RateLimiter(RateLimits()),
                            Journal(tmp_path / "journal.jsonl"), RetryPolicy(), poll_s=poll_s)
    runner.api = api
    return runner, client


def test_failing_polls_back_off_instead_of_polling_at_full_rate(tmp_path, monkeypatch):
    import skilldeck.tools.batch.batch_api as batch_api

    waits, real_sleep = [], asyncio.sleep

    async def sleep(seconds):
        waits.append(seconds)
        await real_sleep(0)

    async def main():
        runner, client = await _waiting_runner(tmp_path, _StuckAPI(faults=4))
        monkeypatch.setattr(batch_api.asyncio, "sleep", sleep)
        try:
            return await asyncio.wait_for(runner._wait("b1"), 5)
        finally:
            monkeypatch.undo()
            await client.aclose()

    assert asyncio.run(main()).done
    assert waits == [2.0, 4.0, 8.0, 16.0, 1.0]  # doubling while the polls fail, poll_s once one works


def test_a_batch_still_open_past_the_completion_window_fails_the_run_and_is_cancelled(tmp_path, monkeypatch):
    import time

    import skilldeck.tools.batch.batch_api as batch_api

    async def main():
        api = _StuckAPI(faults=10**9)
        runner, client = await _waiting_runner(tmp_path, api, poll_s=0.1)
        real_sleep = asyncio.sleep
        monkeypatch.setattr(batch_api.asyncio, "sleep", lambda s: real_sleep(0))
        try:
            remote = await asyncio.wait_for(runner._wait("b1", time.time() - 26 * 3600), 5)
        finally:
            monkeypatch.undo()
            await client.aclose()
        return remote, runner, api

    remote, runner, api = asyncio.run(main())
    assert remote.status == "fatal" and api.cancelled == ["b1"]
    assert "past the provider's 24 h completion window" in runner._fatal
