"""Rate limits: continuously refilled buckets for requests and tokens, a concurrency cap,
a shared pause after 429s, and parsers for the providers' rate-limit headers.

Usage::

    limiter = RateLimiter(RateLimits(requests_per_minute=500, input_tokens_per_minute=30_000,
                                     output_tokens_per_minute=8_000, concurrency=8))
    async with limiter.slot():                       # concurrency cap
        grant = await limiter.acquire(Cost(input_tokens=1200, output_tokens=400))
        ...send...
        limiter.reconcile(grant, input_tokens=1150, output_tokens=310)   # what the usage says
        limiter.sync(parse_openai_headers(response.headers))             # what the provider says
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from skilldeck.tools.batch.errors import PlanError

__all__ = ["RateLimits", "Cost", "Grant", "TokenBucket", "RateLimiter", "LimitSnapshot", "parse_duration",
           "parse_retry_after", "parse_openai_headers", "parse_anthropic_headers", "DIMENSIONS"]

DIMENSIONS = ("requests", "input_tokens", "output_tokens", "tokens")


@dataclass(frozen=True)
class RateLimits:
    """The provider's limits per minute (None: not limited) and the concurrency cap.

    ``tokens_per_minute`` is the combined input+output budget some providers (OpenAI) use
    instead of, or besides, separate input and output budgets.
    """

    requests_per_minute: float | None = None
    input_tokens_per_minute: float | None = None
    output_tokens_per_minute: float | None = None
    tokens_per_minute: float | None = None
    concurrency: int = 4

    def per_minute(self) -> dict[str, float | None]:
        return {"requests": self.requests_per_minute, "input_tokens": self.input_tokens_per_minute,
                "output_tokens": self.output_tokens_per_minute, "tokens": self.tokens_per_minute}

    def to_dict(self) -> dict[str, float | int | None]:
        return {"rpm": self.requests_per_minute, "itpm": self.input_tokens_per_minute,
                "otpm": self.output_tokens_per_minute, "tpm": self.tokens_per_minute, "concurrency": self.concurrency}


@dataclass(frozen=True)
class Cost:
    """What one request takes from the buckets: itself, its estimated input and its max_tokens."""

    input_tokens: int
    output_tokens: int
    requests: int = 1

    def amounts(self) -> dict[str, float]:
        return {"requests": self.requests, "input_tokens": self.input_tokens, "output_tokens": self.output_tokens,
                "tokens": self.input_tokens + self.output_tokens}


class TokenBucket:
    """A bucket of `capacity` units refilled continuously at capacity/60 per second."""

    def __init__(self, per_minute: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = float(per_minute)
        self.rate = self.capacity / 60.0
        self._clock = clock
        self._level = self.capacity
        self._stamp = clock()

    @property
    def level(self) -> float:
        now = self._clock()
        self._level = min(self.capacity, self._level + (now - self._stamp) * self.rate)
        self._stamp = now
        return self._level

    def wait_for(self, amount: float) -> float:
        """Seconds until `amount` is available (0 if it is now)."""
        missing = amount - self.level
        return 0.0 if missing <= 0 else missing / self.rate

    def take(self, amount: float) -> None:
        self._level = self.level - amount

    def give(self, amount: float) -> None:
        self._level = min(self.capacity, self.level + amount)

    def cap_at(self, remaining: float) -> None:
        """Lower the level to what the provider reports; never raise it (in-flight requests)."""
        self._level = min(self.level, float(remaining))

    def set_capacity(self, per_minute: float) -> None:
        level = self.level
        self.capacity = float(per_minute)
        self.rate = self.capacity / 60.0
        self._level = min(level, self.capacity)


@dataclass
class LimitSnapshot:
    """Rate-limit state one response reported: limit, remaining and seconds to reset, per dimension."""

    limit: dict[str, float] = field(default_factory=dict)
    remaining: dict[str, float] = field(default_factory=dict)
    reset_s: dict[str, float] = field(default_factory=dict)
    retry_after_s: float | None = None


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")


def parse_duration(text: str) -> float:
    """Seconds in an OpenAI reset duration: ``6m0s`` -> 360, ``20ms`` -> 0.02, ``1.5s`` -> 1.5, ``2`` -> 2."""
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        pass
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text.replace(" ", ""):
        raise ValueError(f"not a duration: {text!r} (expected forms like '6m0s', '20ms', '1.5s')")
    scale = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    return sum(float(n) * scale[u] for n, u in parts)


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date)."""
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            return max(0.0, float(raw_ms) / 1000.0)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _number(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def parse_openai_headers(headers: Mapping[str, str]) -> LimitSnapshot:
    """Read ``x-ratelimit-{limit,remaining,reset}-{requests,tokens}`` (+ input/output variants)."""
    snap = LimitSnapshot(retry_after_s=parse_retry_after(headers))
    names = {"requests": "requests", "tokens": "tokens", "input-tokens": "input_tokens",
             "output-tokens": "output_tokens"}
    for suffix, dim in names.items():
        limit, remaining = _number(headers.get(f"x-ratelimit-limit-{suffix}")), \
            _number(headers.get(f"x-ratelimit-remaining-{suffix}"))
        if limit is not None:
            snap.limit[dim] = limit
        if remaining is not None:
            snap.remaining[dim] = remaining
        reset = headers.get(f"x-ratelimit-reset-{suffix}")
        if reset:
            try:
                snap.reset_s[dim] = parse_duration(reset)
            except ValueError:
                pass
    return snap


def parse_anthropic_headers(headers: Mapping[str, str], now: float | None = None) -> LimitSnapshot:
    """Read ``anthropic-ratelimit-{requests,input-tokens,output-tokens}-{limit,remaining,reset}``.

    ``anthropic-ratelimit-tokens-*`` is skipped: it reports whichever token limit is tightest,
    not a combined input+output budget, so charging both into it would over-throttle.
    """
    snap = LimitSnapshot(retry_after_s=parse_retry_after(headers, now))
    names = {"requests": "requests", "input-tokens": "input_tokens", "output-tokens": "output_tokens"}
    wall = time.time() if now is None else now
    for prefix, dim in names.items():
        limit = _number(headers.get(f"anthropic-ratelimit-{prefix}-limit"))
        remaining = _number(headers.get(f"anthropic-ratelimit-{prefix}-remaining"))
        if limit is not None:
            snap.limit[dim] = limit
        if remaining is not None:
            snap.remaining[dim] = remaining
        reset = headers.get(f"anthropic-ratelimit-{prefix}-reset")
        if reset:
            try:
                snap.reset_s[dim] = max(0.0, datetime.fromisoformat(reset.replace("Z", "+00:00")).timestamp() - wall)
            except ValueError:
                pass
    return snap


@dataclass
class Grant:
    """A reservation taken from the buckets, to be reconciled with the reported usage."""

    cost: Cost
    settled: bool = False


class RateLimiter:
    """Paces requests under every configured bucket and the concurrency cap.

    Waiters queue behind one lock, so requests leave in order at the buckets' refill rate
    instead of as a burst; a 429 pauses everyone once (`pause`) rather than each worker
    retrying on its own.
    """

    def __init__(self, limits: RateLimits, clock: Callable[[], float] = time.monotonic,
                 rng: random.Random | None = None) -> None:
        self.limits = limits
        self._clock = clock
        self._rng = rng or random.Random()
        self.buckets = {dim: TokenBucket(pm, clock) for dim, pm in limits.per_minute().items() if pm}
        self._slots = asyncio.Semaphore(max(1, limits.concurrency))
        self._lock = asyncio.Lock()
        self._pause_until = 0.0
        self.pauses = 0

    def slot(self) -> asyncio.Semaphore:
        """The concurrency cap; use ``async with limiter.slot():`` around a request."""
        return self._slots

    def check_fits(self, cost: Cost, what: str = "a request") -> None:
        """Raise `PlanError` if `cost` exceeds a bucket's capacity: it could never be sent."""
        amounts = cost.amounts()
        for dim, bucket in self.buckets.items():
            if amounts[dim] > bucket.capacity:
                raise PlanError(f"{what} needs {amounts[dim]:.0f} {dim.replace('_', ' ')} but the per-minute limit "
                                f"is {bucket.capacity:.0f}; it can never be sent. Lower the batch size or "
                                f"max output tokens, shorten the task, or raise the limit.")

    async def acquire(self, cost: Cost) -> Grant:
        """Wait until every bucket holds `cost` (and no pause is on), then take it."""
        amounts = cost.amounts()
        async with self._lock:
            while True:
                # Inside the loop: headers may lower a bucket below this request while it waits,
                # and then it could never be sent; the caller splits or fails it instead of hanging.
                self.check_fits(cost)
                wait = max([self._pause_until - self._clock()] +
                           [b.wait_for(amounts[d]) for d, b in self.buckets.items()])
                if wait <= 0:
                    break
                await asyncio.sleep(min(wait, 1.0))  # wake up to re-check limits that headers changed
            for dim, bucket in self.buckets.items():
                bucket.take(amounts[dim])
        return Grant(cost)

    def reconcile(self, grant: Grant, input_tokens: int | None, output_tokens: int | None) -> None:
        """Give back what the request reserved but did not use (or take what it overran)."""
        if grant.settled:
            return
        grant.settled = True
        used = {"input_tokens": grant.cost.input_tokens if input_tokens is None else input_tokens,
                "output_tokens": grant.cost.output_tokens if output_tokens is None else output_tokens}
        used["tokens"] = used["input_tokens"] + used["output_tokens"]
        reserved = grant.cost.amounts()
        for dim in ("input_tokens", "output_tokens", "tokens"):
            if dim in self.buckets:
                self.buckets[dim].give(reserved[dim] - used[dim])

    def refund(self, grant: Grant) -> None:
        """A request the provider refused outright (429) consumed nothing but its request slot."""
        self.reconcile(grant, 0, 0)

    def sync(self, snap: LimitSnapshot) -> None:
        """Bring the buckets in line with the provider's headers (lower only: requests in flight)."""
        for dim, limit in snap.limit.items():
            if limit <= 0:  # a nonsense header must not zero a bucket (its refill rate divides by it)
                continue
            configured = self.limits.per_minute().get(dim)
            if dim in self.buckets and limit < self.buckets[dim].capacity:
                self.buckets[dim].set_capacity(limit)
            elif dim not in self.buckets and configured is None and limit > 0:
                self.buckets[dim] = TokenBucket(limit, self._clock)
        for dim, remaining in snap.remaining.items():
            if dim in self.buckets:
                self.buckets[dim].cap_at(remaining)

    def pause(self, seconds: float) -> float:
        """One shared pause after a 429, with jitter so the restart is not a stampede."""
        seconds = max(0.05, seconds) * (1.0 + 0.1 * self._rng.random()) + 0.05 * self._rng.random()
        now = self._clock()
        if now >= self._pause_until:
            self.pauses += 1  # 429s answered while a pause is on join it rather than start their own
        self._pause_until = max(self._pause_until, now + seconds)
        return seconds

    def pause_for_429(self, snap: LimitSnapshot) -> float:
        """Pause for retry-after, else until the exhausted bucket resets, else one second."""
        if snap.retry_after_s is not None:
            wait = snap.retry_after_s
        else:
            exhausted = [snap.reset_s[d] for d, r in snap.remaining.items() if r <= 0 and d in snap.reset_s]
            wait = max(exhausted) if exhausted else 1.0
        self.sync(snap)
        return self.pause(wait)
