"""Rate limits: continuously refilled buckets for requests and tokens, a concurrency cap,
a shared pause after 429s, and parsers for the providers' rate-limit headers.

Usage::

    limiter = RateLimiter(RateLimits(requests_per_minute=500, input_tokens_per_minute=30_000,
                                     output_tokens_per_minute=8_000, concurrency=8))
    grant = await limiter.acquire(Cost(input_tokens=1200, output_tokens=400))   # window + buckets
    ...send...
    limiter.reconcile(grant, input_tokens=1150, output_tokens=310)   # what the usage says
    limiter.sync(parse_headers(response.headers, MAPPINGS["anthropic"]), grant)  # what the provider says
    limiter.release(grant)
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from skilldeck.tools.batch.errors import PlanError
from skilldeck.tools.batch.headers import (MAPPINGS, LimitSnapshot, parse_duration, parse_headers,
                                           parse_retry_after)

__all__ = ["RateLimits", "Cost", "Grant", "TokenBucket", "RateLimiter", "LimitSnapshot", "parse_duration",
           "parse_retry_after", "parse_openai_headers", "parse_anthropic_headers"]



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


def parse_openai_headers(headers: Mapping[str, str]) -> LimitSnapshot:
    """Read ``x-ratelimit-{limit,remaining,reset}-{requests,tokens}`` (+ input/output variants)."""
    return parse_headers(headers, MAPPINGS["openai"])


def parse_anthropic_headers(headers: Mapping[str, str], now: float | None = None) -> LimitSnapshot:
    """Read ``anthropic-ratelimit-{requests,input-tokens,output-tokens}-{limit,remaining,reset}``
    (``anthropic-ratelimit-tokens-*`` repeats the tightest limit and is skipped)."""
    return parse_headers(headers, MAPPINGS["anthropic"], now)


@dataclass
class Grant:
    """A reservation taken from the buckets, to be reconciled with the reported usage.

    `levels` are the buckets' levels right after this grant was taken, the figure a
    provider's admission-time ``remaining`` is compared with.
    """

    cost: Cost
    settled: bool = False
    levels: dict[str, float] = field(default_factory=dict)
    sent_at: float = 0.0
    seq: int = 0
    released: bool = False
    refused: bool = False  # answered 429
    input_error: float = 0.0  # the provider's input count minus the estimate that was reserved


# Requests sent this close after another may reach the provider first; their reservation can
# then already be in the other's `remaining`, so they are not read as traffic from elsewhere.
ADMISSION_SKEW_S = 0.25
HEADROOM = 0.005


class RateLimiter:
    """Paces requests under every configured bucket and the concurrency cap.

    Waiters queue behind one lock, so requests leave in order at the buckets' refill rate
    instead of as a burst; a 429 pauses everyone once (`pause`) rather than each worker
    retrying on its own.

    It starts conservatively: until a response has shown the provider's own figures, one
    request is in flight at a time (the key may carry other traffic the configured limits
    cannot know about); after a 429 it probes with one request again. `sync` then corrects
    the buckets by exactly the difference between the provider's ``remaining`` and the
    limiter's own level when the request was sent.
    """

    def __init__(self, limits: RateLimits, clock: Callable[[], float] = time.monotonic,
                 rng: random.Random | None = None, probe: bool = True) -> None:
        self.limits = limits
        self._clock = clock
        self._rng = rng or random.Random()
        self.buckets = {dim: TokenBucket(pm, clock) for dim, pm in limits.per_minute().items() if pm}
        self._slots = asyncio.Semaphore(max(1, limits.concurrency))
        self._lock = asyncio.Lock()
        self._pause_until = 0.0
        self.pauses = 0
        self._window = 1 if probe else max(1, limits.concurrency)
        self._in_flight = 0
        self._room = asyncio.Event()
        self._seq = 0
        self._recent: deque[tuple[float, int, dict[str, float]]] = deque()

    @property
    def window(self) -> int:
        """Requests allowed in flight now (1 while probing, else the concurrency cap)."""
        return self._window

    def check_fits(self, cost: Cost, what: str = "a request") -> None:
        """Raise `PlanError` if `cost` exceeds a bucket's capacity: it could never be sent."""
        amounts = cost.amounts()
        for dim, bucket in self.buckets.items():
            if amounts[dim] > bucket.capacity:
                raise PlanError(f"{what} needs {amounts[dim]:.0f} {dim.replace('_', ' ')} but the per-minute limit "
                                f"is {bucket.capacity:.0f}; it can never be sent. Lower the batch size or "
                                f"max output tokens, shorten the task, or raise the limit.")

    async def acquire(self, cost: Cost) -> Grant:
        """Wait until the window has room, every bucket holds `cost` and no pause is on; take it.

        The caller sends at once and calls `release` when the answer (or fault) is in.
        """
        amounts = cost.amounts()
        async with self._lock:
            while True:
                # Inside the loop: headers may lower a bucket below this request while it waits,
                # and then it could never be sent; the caller splits or fails it instead of hanging.
                self.check_fits(cost)
                # A small reserve left in each bucket absorbs the provider's rounding and clock skew;
                # it delays the run once, by HEADROOM of a minute, and costs no throughput.
                wait = max([self._pause_until - self._clock()] +
                           [b.wait_for(min(b.capacity, amounts[d] + HEADROOM * b.capacity))
                            for d, b in self.buckets.items()])
                # The workers themselves keep to the concurrency cap; the window only narrows it.
                if wait <= 0 and (self._in_flight < self._window or self._window >= self.limits.concurrency):
                    break
                if wait > 0:
                    await asyncio.sleep(min(wait, 1.0))  # wake up to re-check limits that headers changed
                    continue
                self._room.clear()
                try:  # the window is full: wait for a request to end
                    await asyncio.wait_for(self._room.wait(), 1.0)
                except TimeoutError:
                    pass
            for dim, bucket in self.buckets.items():
                bucket.take(amounts[dim])
            self._in_flight += 1
            self._seq += 1
            now = self._clock()
            grant = Grant(cost, levels={d: b.level for d, b in self.buckets.items()}, sent_at=now, seq=self._seq)
            self._recent.append((now, self._seq, amounts))
            while self._recent and now - self._recent[0][0] > 10 * ADMISSION_SKEW_S:
                self._recent.popleft()
        return grant

    def release(self, grant: Grant, opened: bool = True) -> None:
        """The request is over; `opened` False (a 429) goes back to probing with one request."""
        if grant.released:
            return
        grant.released = True
        self._in_flight = max(0, self._in_flight - 1)
        self._window = max(1, self.limits.concurrency) if opened else 1
        self._room.set()

    def reconcile(self, grant: Grant, input_tokens: int | None, output_tokens: int | None) -> None:
        """Give back what the request reserved but did not use (or take what it overran)."""
        if grant.settled:
            return
        grant.settled = True
        used = {"input_tokens": grant.cost.input_tokens if input_tokens is None else input_tokens,
                "output_tokens": grant.cost.output_tokens if output_tokens is None else output_tokens}
        used["tokens"] = used["input_tokens"] + used["output_tokens"]
        grant.input_error = used["input_tokens"] - grant.cost.input_tokens
        reserved = grant.cost.amounts()
        for dim in ("input_tokens", "output_tokens", "tokens"):
            if dim in self.buckets:
                self.buckets[dim].give(reserved[dim] - used[dim])

    def refund(self, grant: Grant) -> None:
        """A request the provider refused outright (429) consumed nothing but its request slot."""
        self.reconcile(grant, 0, 0)

    def sync(self, snap: LimitSnapshot, grant: Grant | None = None, charged: bool = True) -> None:
        """Bring the buckets in line with the provider's headers (lower only: requests in flight).

        With the `grant` whose response carried `snap`, an admission-time ``remaining`` is
        compared with the level the limiter had when it sent that request (`charged` False:
        the provider refused it, so its own reservation is not in the figure); the bucket is
        lowered by exactly the difference, when that exceeds the snapshot's tolerance. The
        difference is traffic the limiter did not send itself, or a tighter limit.
        """
        for dim, limit in snap.limit.items():
            if limit <= 0:  # a nonsense header must not zero a bucket (its refill rate divides by it)
                continue
            configured = self.limits.per_minute().get(dim)
            if dim in self.buckets and limit < self.buckets[dim].capacity:
                self.buckets[dim].set_capacity(limit)
            elif dim not in self.buckets and configured is None and limit > 0:
                self.buckets[dim] = TokenBucket(limit, self._clock)
                if dim in snap.remaining:
                    self.buckets[dim].cap_at(snap.remaining[dim])
                continue
        for dim, remaining in snap.remaining.items():
            bucket = self.buckets.get(dim)
            if bucket is None:
                continue
            if grant is None or dim not in grant.levels:
                bucket.cap_at(remaining)
                continue
            if snap.remaining_at == "admission":
                expected = grant.levels[dim] + (0.0 if charged else grant.cost.amounts()[dim])
                # A level above a capacity the provider just lowered was never real.
                expected = min(expected, bucket.capacity) - self._sent_just_after(grant, dim)
                if charged and dim in ("input_tokens", "tokens"):
                    expected -= grant.input_error  # the provider charged its own count; reconcile took it
            else:
                expected = bucket.level
            excess = expected - remaining
            # Providers report whole numbers: under one unit is rounding, not traffic from elsewhere.
            if excess > max(snap.tolerance, 1.0):
                bucket.take(excess)

    def _sent_just_after(self, grant: Grant, dim: str) -> float:
        return sum(a[dim] for t, seq, a in self._recent
                   if seq > grant.seq and t - grant.sent_at <= ADMISSION_SKEW_S)

    def pause(self, seconds: float) -> float:
        """One shared pause after a 429, with jitter so the restart is not a stampede."""
        seconds = max(0.05, seconds) * (1.0 + 0.1 * self._rng.random()) + 0.05 * self._rng.random()
        now = self._clock()
        if now >= self._pause_until:
            self.pauses += 1  # 429s answered while a pause is on join it rather than start their own
        self._pause_until = max(self._pause_until, now + seconds)
        return seconds

    def pause_for_429(self, snap: LimitSnapshot, grant: Grant | None = None) -> float:
        """Pause for retry-after, else until the exhausted bucket resets, else one second."""
        if snap.retry_after_s is not None:
            wait = snap.retry_after_s
        else:
            exhausted = [snap.reset_s[d] for d, r in snap.remaining.items() if r <= 0 and d in snap.reset_s]
            wait = max(exhausted) if exhausted else 1.0
        self.sync(snap, grant, charged=False)
        return self.pause(wait)
