"""Plans: same-shape tasks packed into batches under input and output token budgets.

A dry run (`Plan.summary`) reports batches, tokens, the input saved against one request per
task, the estimated cost, and how long the provider's limits make the run take at least.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from skilldeck.tools.batch.errors import PlanError
from skilldeck.tools.batch.limits import Cost, RateLimits
from skilldeck.tools.batch.prompt import (ECHO_PLACEHOLDER, MESSAGE_OVERHEAD_TOKENS, PromptSpec, count,
                                          expected_output_tokens, header_text, results_schema, task_block)
from skilldeck.tools.batch.tasks import Task
from skilldeck.tools.deadline import check

__all__ = ["PlanOptions", "Batch", "Plan", "make_plan", "fixed_tokens", "check_request_fits", "estimate_time"]


@dataclass(frozen=True)
class PlanOptions:
    """Budgets for one request.

    Usage: ``PlanOptions(batch_size=20, max_input_tokens=16_000, max_output_tokens=4096)``.
    """

    batch_size: int = 20
    max_input_tokens: int = 16_000
    max_output_tokens: int = 4096
    context_window: int = 128_000

    def to_dict(self) -> dict[str, int]:
        return {"batch_size": self.batch_size, "max_input_tokens": self.max_input_tokens,
                "max_output_tokens": self.max_output_tokens, "context_window": self.context_window}


@dataclass(frozen=True)
class Batch:
    """Tasks sent together, with the planned input estimate and max_tokens."""

    tasks: tuple[Task, ...]
    input_tokens: int
    max_tokens: int

    @property
    def task_ids(self) -> tuple[str, ...]:
        return tuple(t.id for t in self.tasks)


@dataclass(frozen=True)
class Plan:
    batches: tuple[Batch, ...]
    unbatched_input_tokens: int  # one request per task, for comparison

    @property
    def input_tokens(self) -> int:
        return sum(b.input_tokens for b in self.batches)

    @property
    def max_output_tokens(self) -> int:
        return sum(b.max_tokens for b in self.batches)

    @property
    def task_count(self) -> int:
        return sum(len(b.tasks) for b in self.batches)

    def summary(self, limits: RateLimits | None = None) -> dict[str, Any]:
        """Figures for a dry run; `limits` adds the shortest time the provider allows."""
        n = len(self.batches)
        out: dict[str, Any] = {
            "tasks": self.task_count, "batches": n,
            "tasks_per_batch": round(self.task_count / n, 2) if n else 0,
            "input_tokens": self.input_tokens, "max_output_tokens": self.max_output_tokens,
            "unbatched_input_tokens": self.unbatched_input_tokens,
            "input_tokens_saved": self.unbatched_input_tokens - self.input_tokens,
        }
        if limits is not None:
            out["limit_time"] = limit_time(Cost(self.input_tokens, self.max_output_tokens, n), limits)
        return out


def estimate_time(plan: Plan, limits: RateLimits, latency_s: float | None = None) -> dict[str, Any]:
    """How long a live run should take: each limit's refill past one full bucket (the key is
    assumed idle at the start), the concurrency cap, and the first request sent alone.

    Output is counted at each batch's max_tokens, so where output binds this is an upper
    bound. `latency_s`: seconds per request (default: 1 s plus max_tokens at 100 tokens/s).
    """
    n = len(plan.batches)
    if not n:
        return {"seconds": 0.0, "binding": None, "by_limit": {}, "latency_s": 0.0}
    latency = latency_s if latency_s is not None else 1.0 + plan.max_output_tokens / n / 100.0
    amounts = Cost(plan.input_tokens, plan.max_output_tokens, n).amounts()
    needs = {dim: max(0.0, amounts[dim] - pm) * 60.0 / pm for dim, pm in limits.per_minute().items() if pm}
    needs["concurrency"] = -(-n // max(1, limits.concurrency)) * latency
    binding = max(needs, key=needs.__getitem__)
    return {"seconds": round(needs[binding] + 2 * latency, 1), "binding": binding,
            "by_limit": {k: round(v, 1) for k, v in needs.items()}, "latency_s": round(latency, 2),
            "assumes": "an idle key (full buckets at the start) and output at max_tokens"}


def limit_time(total: Cost, limits: RateLimits) -> dict[str, Any]:
    """Seconds each limit needs for `total` at its steady rate (an initial full bucket shortens it)."""
    amounts = total.amounts()
    needs = {dim: round(60.0 * amounts[dim] / pm, 1) for dim, pm in limits.per_minute().items() if pm}
    if not needs:
        return {"seconds": None, "binding": None, "by_limit": {}}
    binding = max(needs, key=needs.__getitem__)
    return {"seconds": needs[binding], "binding": binding, "by_limit": needs}


def fixed_tokens(spec: PromptSpec, n_tasks: int, header: str) -> int:
    """Input tokens a request pays whatever its tasks: header, schema, message framing."""
    return (count(header) + count(json.dumps(results_schema(spec.output_schema, spec.echo), separators=(",", ":")))
            + count(f"TASKS ({n_tasks}):\n\n") + 2 * MESSAGE_OVERHEAD_TOKENS)


def check_request_fits(cost: Cost, limits: RateLimits, what: str) -> None:
    """Raise `PlanError` if one request can never pass a bucket (it would wait forever)."""
    amounts = cost.amounts()
    for dim, pm in limits.per_minute().items():
        if pm and amounts[dim] > pm:
            raise PlanError(f"{what} needs {amounts[dim]:.0f} {dim.replace('_', ' ')} but the limit is {pm:.0f} per "
                            "minute, so it could never be sent. Lower the batch size or output tokens per task, "
                            "shorten the task, or raise the limit.")


def _fits(cost: Cost, options: PlanOptions, limits: RateLimits | None) -> bool:
    if cost.input_tokens > options.max_input_tokens or cost.output_tokens > options.max_output_tokens:
        return False
    if cost.input_tokens + cost.output_tokens > options.context_window:
        return False
    amounts = cost.amounts()
    return limits is None or all(not pm or amounts[d] <= pm for d, pm in limits.per_minute().items())


def _block_tokens(task: Task, spec: PromptSpec) -> int:
    return count(task_block(task, ECHO_PLACEHOLDER if spec.echo else None)) + 2


def _single_cost(task: Task, spec: PromptSpec, header: str) -> Cost:
    return Cost(fixed_tokens(spec, 1, header) + _block_tokens(task, spec),
                expected_output_tokens(spec, [task.id]))


def make_plan(tasks: Sequence[Task], spec: PromptSpec, options: PlanOptions | None = None,
              limits: RateLimits | None = None) -> Plan:
    """Pack tasks, grouped by shape and in file order, into batches that fit every budget and limit.

    Raises `PlanError` when a single task cannot fit: that is a plan-time error, never a hang.
    """
    options = options or PlanOptions()
    if options.batch_size < 1:
        raise PlanError(f"batch size {options.batch_size} is invalid; use 1 or more.")
    header = header_text(spec)
    groups: dict[tuple[str, ...], list[Task]] = {}
    for task in tasks:
        groups.setdefault(task.shape, []).append(task)
    batches: list[Batch] = []
    unbatched = 0
    for group in groups.values():
        current: list[Task] = []
        block_tokens = 0
        for n, task in enumerate(group):
            if n % 256 == 0:
                check("Planning the batches", "Plan fewer tasks at once.")
            block = _block_tokens(task, spec)
            single = _single_cost(task, spec, header)
            unbatched += single.input_tokens
            if not _fits(single, options, None):
                raise PlanError(f"task {task.id!r} alone needs {single.input_tokens} input and {single.output_tokens} "
                                f"output tokens, over the request budget (input {options.max_input_tokens}, output "
                                f"{options.max_output_tokens}, context {options.context_window}). Shorten it or "
                                "raise the budget.")
            if limits is not None:
                check_request_fits(single, limits, f"task {task.id!r} alone")
            trial = current + [task]
            cost = Cost(fixed_tokens(spec, len(trial), header) + block_tokens + block,
                        expected_output_tokens(spec, [t.id for t in trial]))
            if current and (len(trial) > options.batch_size or not _fits(cost, options, limits)):
                batches.append(_close(current, spec, header, block_tokens))
                current, block_tokens = [task], block
            else:
                current, block_tokens = trial, block_tokens + block
        if current:
            batches.append(_close(current, spec, header, block_tokens))
    return Plan(tuple(batches), unbatched)


def _close(tasks: list[Task], spec: PromptSpec, header: str, block_tokens: int) -> Batch:
    return Batch(tuple(tasks), fixed_tokens(spec, len(tasks), header) + block_tokens,
                 expected_output_tokens(spec, [t.id for t in tasks]))
