"""Pacing that holds from the first request: admission-time headers, probing, explicit mappings."""

import asyncio

import httpx2
import pytest

from skilldeck.tools.batch import PlanOptions, PromptSpec, ProviderConfig, RateLimiter, RateLimits, make_provider
from skilldeck.tools.batch.errors import ProviderConfigError
from skilldeck.tools.batch.headers import MAPPINGS, LimitSnapshot, mapping_for, parse_headers
from skilldeck.tools.batch.journal import Journal
from skilldeck.tools.batch.limits import Cost
from skilldeck.tools.batch.mock_provider import MockConfig, MockProvider
from skilldeck.tools.batch.runner import BatchRunner, RetryPolicy
from skilldeck.tools.batch.tasks import Task


def test_output_remaining_measured_on_admission_does_not_undo_the_refund():
    # Anthropic reserves max_tokens on admission: "remaining 4000" there, after 300 were used, is no stall.
    limiter = RateLimiter(RateLimits(output_tokens_per_minute=8000), probe=False)
    grant = asyncio.run(limiter.acquire(Cost(100, 4000)))
    limiter.reconcile(grant, 100, 300)
    limiter.sync(parse_headers({"anthropic-ratelimit-output-tokens-remaining": "4000"}, MAPPINGS["anthropic"]), grant)
    assert limiter.buckets["output_tokens"].level == pytest.approx(7700, abs=5)


def test_traffic_the_limiter_did_not_send_is_taken_off_exactly():
    limiter = RateLimiter(RateLimits(input_tokens_per_minute=10_000), probe=False)
    grant = asyncio.run(limiter.acquire(Cost(3000, 0)))       # level 7000 when sent
    limiter.reconcile(grant, 3000, 0)
    limiter.sync(LimitSnapshot(remaining={"input_tokens": 5000}), grant)  # someone else used 2000
    assert limiter.buckets["input_tokens"].level == pytest.approx(5000, abs=5)


def test_a_response_measured_after_settling_is_compared_with_the_level_now():
    limiter = RateLimiter(RateLimits(output_tokens_per_minute=8000), probe=False)
    grant = asyncio.run(limiter.acquire(Cost(0, 4000)))
    limiter.reconcile(grant, 0, 300)
    limiter.sync(LimitSnapshot(remaining={"output_tokens": 7000}, remaining_at="response"), grant)
    assert limiter.buckets["output_tokens"].level == pytest.approx(7000, abs=5)


def test_one_request_at_a_time_until_the_first_answer_then_the_full_window():
    async def main():
        limiter = RateLimiter(RateLimits(concurrency=4))
        first = await limiter.acquire(Cost(0, 0))
        second = asyncio.ensure_future(limiter.acquire(Cost(0, 0)))
        await asyncio.sleep(0.05)
        blocked = not second.done()
        limiter.release(first)
        await asyncio.wait_for(second, 2)
        return blocked, limiter.window

    assert asyncio.run(main()) == (True, 4)


def run_mock(tmp_path, api, config, limits, n=60):
    async def main():
        mock = MockProvider(config)
        url = await mock.start()
        try:
            async with httpx2.AsyncClient() as client:
                provider = make_provider(ProviderConfig(api, "m", base_url=url), client, environ={})
                runner = BatchRunner(provider, PromptSpec(output_tokens_per_task=40), PlanOptions(batch_size=5),
                                     RateLimiter(limits), Journal(tmp_path / "j.jsonl"),
                                     RetryPolicy(max_attempts=6, timeout_s=2, backoff_base_s=0.02))
                return await runner.run([Task(f"t{i}", {"text": f"item {i}"}) for i in range(n)]), mock
        finally:
            await mock.close()

    return asyncio.run(main())


@pytest.mark.parametrize("api", ["openai-compatible", "anthropic"])
def test_a_key_already_mostly_spent_costs_at_most_one_429(tmp_path, api):
    server = RateLimits(requests_per_minute=600, input_tokens_per_minute=40_000)
    outcome, mock = run_mock(tmp_path, api, MockConfig(limits=server, preused=0.9), RateLimits(600, 40_000, concurrency=6))
    assert outcome.finished and mock.stats["rate_limited"] <= 1, mock.stats


def test_a_schema_ignoring_provider_is_answered_in_full(tmp_path):
    outcome, mock = run_mock(tmp_path, "openai-compatible", MockConfig(style="loose"), RateLimits(concurrency=4), n=30)
    assert outcome.finished and mock.stats["requests"] == 6  # nothing needed a second send


def test_header_mappings_are_explicit_and_overridable():
    assert mapping_for("anthropic").cached_input_counts is False and "tokens" not in MAPPINGS["anthropic"].names.values()
    assert mapping_for("openai", {"style": "none"}).names == {}
    assert mapping_for("openai", {"remaining_at": "response", "tolerance": 1000}).tolerance == 1000
    with pytest.raises(ValueError, match="unknown key"):
        mapping_for("openai", {"remainig_at": "response"})
    with pytest.raises(ProviderConfigError, match="style"):
        ProviderConfig("openai", "m", headers={"style": "azure"}).header_mapping()
