import asyncio
import time

import pytest

from skilldeck.tools.batch.errors import PlanError
from skilldeck.tools.batch.limits import (Cost, LimitSnapshot, RateLimiter, RateLimits, TokenBucket,
                                          parse_anthropic_headers, parse_duration, parse_openai_headers,
                                          parse_retry_after)


@pytest.mark.parametrize("text, seconds", [("6m0s", 360.0), ("20ms", 0.02), ("1.5s", 1.5), ("1h2m3s", 3723.0),
                                           ("2", 2.0), ("0s", 0.0), ("7m12.5s", 432.5)])
def test_reset_durations_parse(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "soon", "5x", "1.5s and more"])
def test_bad_durations_are_rejected(text):
    with pytest.raises(ValueError):
        parse_duration(text)


def test_retry_after_prefers_milliseconds_and_reads_http_dates():
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "3"}) == 0.25
    assert parse_retry_after({"retry-after": "3"}) == 3.0
    assert parse_retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, now=1445412470.0) == 10.0
    assert parse_retry_after({}) is None


def test_openai_headers_give_limit_remaining_and_reset():
    snap = parse_openai_headers({"x-ratelimit-limit-requests": "500", "x-ratelimit-remaining-requests": "499",
                                 "x-ratelimit-reset-requests": "120ms", "x-ratelimit-limit-tokens": "30000",
                                 "x-ratelimit-remaining-tokens": "29000", "x-ratelimit-reset-tokens": "6m0s"})
    assert snap.limit == {"requests": 500, "tokens": 30000}
    assert snap.remaining == {"requests": 499, "tokens": 29000}
    assert snap.reset_s == {"requests": pytest.approx(0.12), "tokens": 360.0}


def test_anthropic_headers_read_rfc3339_resets():
    snap = parse_anthropic_headers({"anthropic-ratelimit-input-tokens-limit": "40000",
                                    "anthropic-ratelimit-input-tokens-remaining": "1000",
                                    "anthropic-ratelimit-input-tokens-reset": "2026-01-01T00:00:30Z",
                                    "retry-after": "7"}, now=1767225600.0)  # 2026-01-01T00:00:00Z
    assert snap.remaining == {"input_tokens": 1000} and snap.reset_s == {"input_tokens": 30.0}
    assert snap.retry_after_s == 7.0


def test_bucket_refills_continuously_up_to_capacity():
    now = [0.0]
    bucket = TokenBucket(600, clock=lambda: now[0])  # 10 per second
    bucket.take(600)
    now[0] = 1.5
    assert bucket.level == pytest.approx(15)
    assert bucket.wait_for(25) == pytest.approx(1.0)
    now[0] = 1000
    assert bucket.level == 600


def test_request_larger_than_a_bucket_is_an_error_not_a_hang():
    limiter = RateLimiter(RateLimits(input_tokens_per_minute=1000, output_tokens_per_minute=500))
    with pytest.raises(PlanError, match="needs 1200 input tokens but the per-minute limit is 1000"):
        asyncio.run(limiter.acquire(Cost(1200, 10)))


def test_acquire_paces_to_the_refill_rate():
    async def main():
        limiter = RateLimiter(RateLimits(requests_per_minute=1200), probe=False)  # 20 per second
        limiter.buckets["requests"].take(1200)                      # start empty
        start = time.monotonic()
        for _ in range(5):
            await limiter.acquire(Cost(0, 0))
        return time.monotonic() - start

    assert 0.2 <= asyncio.run(main()) < 0.6


def test_headers_only_lower_the_buckets_and_a_smaller_limit_shrinks_capacity():
    limiter = RateLimiter(RateLimits(requests_per_minute=100, tokens_per_minute=10_000))
    limiter.sync(LimitSnapshot(limit={"tokens": 5000}, remaining={"requests": 40, "tokens": 9000}))
    assert limiter.buckets["requests"].level == pytest.approx(40, abs=1)
    assert limiter.buckets["tokens"].capacity == 5000 and limiter.buckets["tokens"].level <= 5000
    limiter.sync(LimitSnapshot(remaining={"requests": 99}))
    assert limiter.buckets["requests"].level < 42


def test_reconcile_returns_unused_output_and_a_429_refunds_tokens():
    limiter = RateLimiter(RateLimits(input_tokens_per_minute=10_000, output_tokens_per_minute=6_000), probe=False)
    grant = asyncio.run(limiter.acquire(Cost(1000, 2000)))
    limiter.reconcile(grant, 900, 300)
    assert limiter.buckets["output_tokens"].level == pytest.approx(6000 - 300, abs=2)
    assert limiter.buckets["input_tokens"].level == pytest.approx(10_000 - 900, abs=2)
    refused = asyncio.run(limiter.acquire(Cost(1000, 2000)))
    limiter.refund(refused)
    assert limiter.buckets["output_tokens"].level == pytest.approx(6000 - 300, abs=2)


def test_a_429_pauses_everyone_once_with_jitter():
    limiter = RateLimiter(RateLimits(requests_per_minute=6000), probe=False)
    first = limiter.pause_for_429(LimitSnapshot(retry_after_s=0.2))
    limiter.pause_for_429(LimitSnapshot(retry_after_s=0.1))   # inside the first pause: no new pause
    assert 0.2 <= first <= 0.3 and limiter.pauses == 1

    async def two_waiters():
        start = time.monotonic()
        await asyncio.gather(limiter.acquire(Cost(0, 0)), limiter.acquire(Cost(0, 0)))
        return time.monotonic() - start

    assert 0.15 <= asyncio.run(two_waiters()) < 0.6


def test_absurd_header_values_are_ignored_or_cut_to_the_longest_wait():
    from skilldeck.tools.batch.headers import MAX_HEADER_WAIT_S

    snap = parse_openai_headers({"retry-after": "999999999", "x-ratelimit-limit-requests": "inf",
                                 "x-ratelimit-remaining-requests": "-1e308", "x-ratelimit-reset-requests": "1e308",
                                 "x-ratelimit-limit-tokens": "1e308", "x-ratelimit-remaining-tokens": "-inf",
                                 "x-ratelimit-reset-tokens": "nan"})
    assert snap.retry_after_s == MAX_HEADER_WAIT_S
    assert snap.limit == {"tokens": 1e308} and snap.remaining == {"requests": 0.0}
    assert snap.reset_s == {"requests": MAX_HEADER_WAIT_S}
    assert parse_openai_headers({"retry-after": "inf"}).retry_after_s == MAX_HEADER_WAIT_S
