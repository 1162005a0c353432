"""The batch runner: paces batches through the limiter, retries in ONE layer, re-queues only
the tasks an answer missed or got wrong, and journals every result once.

Every unresolved task sits in exactly one pending unit at a time, and a result is only
ever accepted for an id the answered batch contained, so no task is lost or answered twice
and no result lands on the wrong id.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from skilldeck.tools.batch.errors import PlanError
from skilldeck.tools.batch.journal import Journal
from skilldeck.tools.batch.limits import Cost, Grant, RateLimiter
from skilldeck.tools.batch.plan import PlanOptions, make_plan
from skilldeck.tools.batch.prompt import BatchPrompt, PromptSpec, build_prompt, header_text
from skilldeck.tools.batch.providers import Completion, Provider, ProviderFault
from skilldeck.tools.batch.repair import ItemCheck, RepairError, extract_json, validate_items
from skilldeck.tools.batch.tasks import Task

__all__ = ["RetryPolicy", "BatchRunner", "RunOutcome"]

DRAIN_S = 20.0  # longest wait for in-flight requests after a cancel (the job manager's grace is 30 s)


@dataclass(frozen=True)
class RetryPolicy:
    """The one retry layer's settings.

    ``max_attempts`` counts, per task, the sends that failed it (server error, timeout, reset,
    missing or invalid item). 429s do not count; they pause everyone instead, up to
    ``max_rate_limited`` times per batch.
    """

    max_attempts: int = 4
    max_rate_limited: int = 30
    backoff_base_s: float = 0.5
    backoff_cap_s: float = 30.0
    timeout_s: float = 60.0

    def backoff(self, failures: int, rng: random.Random) -> float:
        """Capped exponential backoff with jitter (half to one and a half times the step)."""
        step = min(self.backoff_cap_s, self.backoff_base_s * 2 ** max(0, failures - 1))
        return step * (0.5 + rng.random())

    def to_dict(self) -> dict[str, float]:
        return {"max_attempts": self.max_attempts, "max_rate_limited": self.max_rate_limited,
                "backoff_base_s": self.backoff_base_s, "backoff_cap_s": self.backoff_cap_s, "timeout_s": self.timeout_s}


@dataclass
class _Unit:
    tasks: list[Task]
    first: bool                      # a planned batch's first send
    sends: int = 0
    rate_limited: int = 0
    transient: int = 0


@dataclass
class RunOutcome:
    """How a run ended: finished, cancelled, or stopped by a fatal provider error."""

    finished: bool
    cancelled: bool = False
    fatal: str | None = None
    elapsed_s: float = 0.0
    planned: dict[str, Any] = field(default_factory=dict)


class BatchRunner:
    """Runs tasks through one provider. Usage::

        runner = BatchRunner(provider, PromptSpec(...), PlanOptions(), RateLimiter(limits), Journal(path))
        outcome = await runner.run(tasks)          # results are in the journal
    """

    def __init__(self, provider: Provider, spec: PromptSpec, options: PlanOptions, limiter: RateLimiter,
                 journal: Journal, policy: RetryPolicy | None = None,
                 progress: Callable[[int, int], None] | None = None,
                 cancelled: Callable[[], bool] | None = None, rng: random.Random | None = None) -> None:
        self.provider = provider
        self.spec = spec
        self.options = options
        self.limiter = limiter
        self.journal = journal
        self.policy = policy or RetryPolicy()
        self._progress = progress or (lambda done, total: None)
        self._cancelled = cancelled or (lambda: False)
        self._rng = rng or random.Random()
        self._header = header_text(spec)
        self._salt = f"{self._rng.getrandbits(64):x}"
        self._sends = 0
        self._attempts: dict[str, int] = {}
        self._queue: asyncio.Queue[_Unit] = asyncio.Queue()
        self._open = 0
        self._total = 0
        self._stop = asyncio.Event()
        self._fatal: str | None = None
        self._later: set[asyncio.Task[None]] = set()
        self._pool: list[Task] = []      # re-queued tasks waiting to share one request
        self._active = 0                 # units taken by a worker and not yet settled
        self._busy: set[asyncio.Task[Any] | None] = set()

    async def run(self, tasks: Sequence[Task]) -> RunOutcome:
        """Answer every task not yet in the journal; return when all are resolved or the run stops."""
        start = time.monotonic()
        self.journal.mark_session()
        self._total = len(tasks)
        todo = [t for t in tasks if not self.journal.done(t.id)]
        plan = make_plan(todo, self.spec, self.options, self.limiter.limits)
        for batch in plan.batches:
            self._queue.put_nowait(_Unit(list(batch.tasks), first=True))
        self._open = len(todo)
        self._report()
        if self._open:
            await self._work()
        cancelled = self._open > 0 and self._fatal is None and self._cancelled()
        return RunOutcome(finished=self._open == 0, cancelled=cancelled, fatal=self._fatal,
                          elapsed_s=time.monotonic() - start, planned=plan.summary(self.limiter.limits))

    async def _work(self) -> None:
        workers = [asyncio.create_task(self._worker()) for _ in range(max(1, self.limiter.limits.concurrency))]
        watcher = asyncio.create_task(self._watch_cancel())
        try:
            await self._stop.wait()
            # A cancelled run lets requests already in flight land (their answers are paid for);
            # idle workers and units waiting out a backoff stop at once.
            busy = [w for w in workers if w in self._busy]
            for task in [*(w for w in workers if w not in self._busy), watcher, *self._later]:
                task.cancel()
            if busy:
                await asyncio.wait(busy, timeout=min(self.policy.timeout_s + 1.0, DRAIN_S))
        finally:
            for task in [*workers, watcher, *self._later]:
                task.cancel()
            await asyncio.gather(*workers, watcher, *self._later, return_exceptions=True)

    async def _watch_cancel(self) -> None:
        while not self._cancelled():
            await asyncio.sleep(0.1)
        self._stop.set()

    async def _worker(self) -> None:
        while not self._stop.is_set():
            unit = await self._queue.get()
            if self._stop.is_set():  # stopped while waiting: leave the unit for a resumed run
                return
            self._active += 1
            try:
                await self._send(unit)
            except Exception as exc:  # noqa: BLE001 - a bug here must not strand the unit's tasks
                try:
                    rest, failed = self._charge([t for t in unit.tasks if not self.journal.done(t.id)],
                                                f"internal error: {type(exc).__name__}: {exc}")
                    self._write(failed, None)
                    if rest:
                        self._later_put(_Unit(rest, first=False), self.policy.backoff(1, self._rng))
                except Exception as again:  # noqa: BLE001 - e.g. the journal cannot be written (disk full)
                    # Stop the run rather than leave it waiting on a worker that is gone; the
                    # journal keeps what finished, and a resumed run redoes the rest.
                    self._fatal = (f"stopped: could not record a failure ({type(again).__name__}: {again}) "
                                   f"after {type(exc).__name__}: {exc}")
                    self._stop.set()
                    return
            finally:
                self._active -= 1
                self._flush_pool()

    # -- one request --------------------------------------------------------------------
    async def _send(self, unit: _Unit) -> None:
        self._sends += 1
        prompt = build_prompt(self.spec, unit.tasks, self._header, salt=f"{self._salt}:{self._sends}")
        try:
            grant = await self.limiter.acquire(Cost(prompt.input_tokens, prompt.max_tokens))
        except PlanError as exc:  # the provider's headers shrank a bucket below this request
            if len(unit.tasks) > 1:
                self._split(unit)
            else:
                self._fail(unit.tasks, str(exc), record=None)
            return
        first = unit.first and unit.sends == 0
        unit.sends += 1
        began = time.monotonic()
        worker = asyncio.current_task()
        self._busy.add(worker)
        try:
            completion = await self.provider.complete(prompt, self.policy.timeout_s)
        except ProviderFault as fault:
            self._on_fault(unit, prompt, grant, fault, first, time.monotonic() - began)
            return
        finally:
            self._busy.discard(worker)
            # A 429 sends the limiter back to one request at a time until an answer comes.
            self.limiter.release(grant, opened=not grant.refused)
        self._on_completion(unit, prompt, grant, completion, first, time.monotonic() - began)

    def _record(self, prompt: BatchPrompt, first: bool, status: str, latency: float,
                completion: Completion | None = None, **extra: Any) -> dict[str, Any]:
        c = completion
        return {"first": first, "status": status, "tasks": len(prompt.task_ids), "latency_s": round(latency, 3),
                "input_tokens": c.input_tokens if c and c.input_tokens is not None else prompt.input_tokens,
                "output_tokens": (c.output_tokens or 0) if c else 0,
                "cached_input_tokens": c.cached_input_tokens if c else 0, "t": round(time.time(), 3), **extra}

    def _on_fault(self, unit: _Unit, prompt: BatchPrompt, grant: Grant, fault: ProviderFault, first: bool,
                  latency: float) -> None:
        try:
            self._handle_fault(unit, prompt, grant, fault, first, latency)
        finally:
            self._flush_pool()

    def _handle_fault(self, unit: _Unit, prompt: BatchPrompt, grant: Grant, fault: ProviderFault, first: bool,
                      latency: float) -> None:
        record = self._record(prompt, first, fault.kind, latency, status_code=fault.status, error=str(fault)[:200])
        if fault.kind == "rate_limit":
            self.limiter.refund(grant)
            grant.refused = True
            record["paused_s"] = round(self.limiter.pause_for_429(fault.limits, grant), 3)
            unit.rate_limited += 1
            if unit.rate_limited > self.policy.max_rate_limited:
                self._fail(unit.tasks, f"rate limited {unit.rate_limited} times", record)
            else:
                self._write([], record)  # the status shows the 429 and the pause at once
                self._queue.put_nowait(unit)
            return
        if fault.kind == "fatal":
            self.limiter.refund(grant)
            self.journal.append([], record)
            self._fatal = str(fault)
            self._stop.set()
            return
        if fault.kind == "transient":
            # The provider may have read the prompt; its output budget is free again.
            self.limiter.reconcile(grant, prompt.input_tokens, 0)
            unit.transient += 1
            rest, failed = self._charge(unit.tasks, str(fault))
            self._write(failed, record)
            if rest:
                self._later_put(_Unit(rest, first=False, transient=unit.transient),
                                self.policy.backoff(unit.transient, self._rng))
            return
        self.limiter.refund(grant)
        if len(unit.tasks) > 1:  # overflow or a request the server refused: smaller batches
            self._write([], record)
            self._split(unit)
        else:
            self._fail(unit.tasks, str(fault), record)

    def _on_completion(self, unit: _Unit, prompt: BatchPrompt, grant: Grant, completion: Completion, first: bool,
                       latency: float) -> None:
        counted = completion.input_tokens
        if counted is not None and not self.provider.mapping.cached_input_counts:
            counted -= completion.cached_input_tokens  # cache reads do not count against this input limit
        self.limiter.reconcile(grant, counted, completion.output_tokens)
        self.limiter.sync(completion.limits, grant)
        check, repairs, problem = self._check(completion, prompt)
        results = [{"id": tid, **item, "attempts": self._attempts.get(tid, 0) + 1}
                   for tid, item in check.accepted.items()]
        bad = {tid: check.invalid.get(tid, problem) for tid in prompt.task_ids if tid not in check.accepted}
        record = self._record(prompt, first, "ok", latency, completion, repairs=repairs, accepted=len(results),
                              requeued=len(bad), truncated=completion.truncated, foreign=check.foreign,
                              misattributed=check.misattributed, near_misses=dict(check.near_misses))
        by_id = {t.id: t for t in unit.tasks}
        rest, failed = self._charge([by_id[t] for t in bad], bad)
        self._write(results + failed, record)
        if rest:
            # An answer cut at its output budget, or one that answered none of its tasks, may mean
            # the batch is too big: halve it. Anything else (swapped ids, a dropped item, a cut
            # short of the budget) is re-sent in the pool, whose tasks share one request and header.
            at_budget = completion.truncated and (completion.output_tokens is None
                                                  or completion.output_tokens >= 0.9 * prompt.max_tokens)
            none_usable = len(rest) == len(unit.tasks) and not check.misattributed and not completion.truncated
            if at_budget or none_usable:
                self._split(_Unit(rest, first=False))
            else:
                self._pool.extend(rest)
        self._flush_pool()

    def _flush_pool(self) -> None:
        """Send the pool once it fills a batch, or when nothing else is queued, in flight or waiting
        out a backoff: re-queued tasks then ride together in as few requests (headers) as possible."""
        while self._pool and (len(self._pool) >= self.options.batch_size
                              or (self._queue.empty() and not self._active
                                  and all(t.done() for t in self._later))):
            part, self._pool = self._pool[:self.options.batch_size], self._pool[self.options.batch_size:]
            self._queue.put_nowait(_Unit(part, first=False))

    def _check(self, completion: Completion, prompt: BatchPrompt) -> tuple[ItemCheck, list[str], str]:
        """Validate the answer; `problem` is the reason given to tasks it does not answer."""
        problem = "answer truncated at max_tokens" if completion.truncated else "missing from the answer"
        repairs: list[str] = []
        try:
            value = completion.data
            if value is None:
                value, repairs = extract_json(completion.text or "")
            return (validate_items(value, prompt.task_ids, self.spec.output_schema, prompt.echoes or None),
                    repairs, problem)
        except RepairError as exc:
            return ItemCheck(missing=list(prompt.task_ids)), repairs, f"unusable answer: {exc}"

    # -- bookkeeping ----------------------------------------------------------------------
    def _charge(self, tasks: list[Task], reason: str | dict[str, str]) -> tuple[list[Task], list[dict[str, Any]]]:
        """Count a failed attempt against each task; return those left to retry and the failures."""
        rest, failed = [], []
        for task in tasks:
            self._attempts[task.id] = self._attempts.get(task.id, 0) + 1
            why = reason if isinstance(reason, str) else reason[task.id]
            if self._attempts[task.id] >= self.policy.max_attempts:
                failed.append(self._failure(task, why))
            else:
                rest.append(task)
        return rest, failed

    def _write(self, results: list[dict[str, Any]], record: dict[str, Any] | None) -> None:
        """One journal append (one fsync) per response; only ids not yet finished count."""
        self._open -= len(self.journal.append(results, record))
        self._report()

    def _failure(self, task: Task, reason: str) -> dict[str, Any]:
        return {"id": task.id, "status": "failed", "output": None, "attempts": self._attempts.get(task.id, 0),
                "reason": f"failed after {self._attempts.get(task.id, 0)} attempt(s): {reason}"}

    def _fail(self, tasks: list[Task], reason: str, record: dict[str, Any] | None) -> None:
        self._write([self._failure(t, reason) for t in tasks], record)

    def _split(self, unit: _Unit) -> None:
        half = (len(unit.tasks) + 1) // 2
        for part in (unit.tasks[:half], unit.tasks[half:]):
            if part:
                self._queue.put_nowait(_Unit(part, first=False, transient=unit.transient))

    def _later_put(self, unit: _Unit, delay: float) -> None:
        async def put() -> None:
            await asyncio.sleep(delay)
            self._queue.put_nowait(unit)

        task = asyncio.create_task(put())
        self._later.add(task)
        task.add_done_callback(self._later.discard)

    def _report(self) -> None:
        self._progress(self._total - self._open, self._total)
        self._done_check()

    def _done_check(self) -> None:
        if self._open <= 0:
            self._stop.set()

