"""Batching engine: pack many small LLM tasks into batches, pace them to the provider's rate
limits, and return exactly one result per task.

    tasks.py    Task, load_tasks (JSONL, line-numbered errors)
    prompt.py   shared header + task blocks + strict JSON contract
    plan.py     packing under token budgets; dry-run figures
    limits.py   RPM/ITPM/OTPM/TPM buckets, concurrency cap, header parsing, shared 429 pause
    providers.py OpenAI-compatible Chat Completions and Anthropic Messages over httpx2
    repair.py   JSON repair and per-item validation
    runner.py   the async engine with its one retry layer
    journal.py  durable append-only journal (resume)
    prices.py   dated price table, overrides, batch discount
    job.py      the entry point the shared job mechanism runs
    mock_provider.py  a local provider with limits and faults, for tests and the bench
"""

from skilldeck.tools.batch.errors import BatchError, PlanError, ProviderConfigError, TaskFileError
from skilldeck.tools.batch.limits import Cost, RateLimiter, RateLimits, parse_duration
from skilldeck.tools.batch.plan import Plan, PlanOptions, make_plan
from skilldeck.tools.batch.prompt import PromptSpec
from skilldeck.tools.batch.providers import ProviderConfig, make_provider
from skilldeck.tools.batch.spec import RunSpec
from skilldeck.tools.batch.tasks import Task, load_tasks, tasks_from_records

__all__ = ["BatchError", "PlanError", "ProviderConfigError", "TaskFileError", "Cost", "RateLimiter", "RateLimits",
           "parse_duration", "Plan", "PlanOptions", "make_plan", "PromptSpec", "ProviderConfig", "make_provider",
           "RunSpec", "Task", "load_tasks", "tasks_from_records"]
