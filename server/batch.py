"""MCP adapter for the batching engine: plan, run (as a background job), watch, page results,
cancel, and price tokens. The engine lives in `skilldeck.tools.batch`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import anyio
from mcp.server.mcpserver import Context
from pydantic import Field, ValidationError

from skilldeck.server.errors import tool_errors, validation_problems
from skilldeck.server.paths import Confinement
from skilldeck.server.jobs import follow_job

__all__ = ["register", "TOOLSET"]

TOOLSET = "run many small LLM tasks in batches under provider rate limits, with a result for every task"

TasksArg = Annotated[list[dict[str, Any]] | None, Field(
    description="Tasks inline: objects with a unique 'id' and the fields to work on. Use tasks_path for many.")]
TasksPathArg = Annotated[str | None, Field(description="JSONL task file (one {\"id\": ..., fields} per line), "
                                                       "relative to the project folder")]
InstructionsArg = Annotated[str | None, Field(description="What to do with each task; written once per batch")]
SchemaArg = Annotated[dict[str, Any] | None, Field(
    description="JSON schema of ONE task's output object, e.g. {\"type\": \"object\", \"properties\": "
                "{\"label\": {\"type\": \"string\"}}} (default: {answer: string})")]
ProviderArg = Annotated[str, Field(description="openai, anthropic, deepseek, vllm, llamacpp, ollama, litellm or "
                                               "openai-compatible (then give a configured base_url)")]
ModelArg = Annotated[str, Field(description="Model name as the provider spells it")]
# USD per 1M tokens, bounded as tools.batch.spec.Price is.
PriceArg = Annotated[float, Field(ge=0, le=1_000_000, allow_inf_nan=False)]
# Token counts, bounded as tools.batch.prices.MAX_TOKENS is (10**400 overflowed the price arithmetic).
MAX_TOKENS = 10**15
LimitArg = Annotated[float | None, Field(gt=0, allow_inf_nan=False,
                                         description="Per-minute limit from the provider's console")]
OptionsArg = Annotated[dict[str, Any] | None, Field(
    description="More settings: base_url, api_key_env, structured, rules, output_tokens_per_task, batch_size, "
                "max_input_tokens, max_output_tokens, context_window, tpm, max_attempts, timeout_s, prices, "
                "mode ('live' or 'batch_api': the provider's batch API, half price, results within 24 h), "
                "headers (rate-limit header mapping override), echo. base_url must be the provider's own or one "
                "the user configured (provider_urls)")]


class BatchTools:
    """The batch tools: each public method is one (see `register`)."""

    def __init__(self, services: Any) -> None:
        self.jobs = services.jobs
        self.where = Confinement.from_settings(services.settings)
        self.trusted_urls = list(services.settings.provider_urls or [])

    def _spec_of(self, tasks: list[dict[str, Any]] | None, tasks_path: str | None, fields: dict[str, Any],
                options: dict[str, Any] | None):
        """The run's settings, and its tasks when given inline (they go to the job, not to a file)."""
        from skilldeck.tools.batch import RunSpec, TaskFileError, tasks_from_records
        from skilldeck.tools.batch.providers import check_endpoint
        from skilldeck.tools.errors import InvalidInputError

        if (tasks is None) == (tasks_path is None):
            raise TaskFileError("give exactly one of tasks (inline list) or tasks_path (JSONL file).")
        inline = tasks_from_records(tasks) if tasks is not None else None  # bad ids fail with the item index
        values = {**(options or {}), **{k: v for k, v in fields.items() if v is not None}}
        values.pop("tasks_path", None)  # only the argument, checked to lie inside the project, names a file
        if tasks_path is not None:
            values["tasks_path"] = str(self.where.allowed_path(tasks_path, "tasks_path"))
        if not values.get("instructions"):
            raise InvalidInputError("instructions are required: say what to do with each task.")
        try:
            spec = RunSpec.model_validate(values)
        except ValidationError as exc:  # each field and its problem, without the value sent
            raise InvalidInputError(f"invalid batch settings: {validation_problems(exc)}") from exc
        check_endpoint(spec.provider_config(), self.trusted_urls)  # keys go only where the user said
        return spec, inline

    def plan_batches(
        self,
        instructions: InstructionsArg = None, tasks: TasksArg = None, tasks_path: TasksPathArg = None,
        output_schema: SchemaArg = None, provider: ProviderArg = "openai", model: ModelArg = "gpt-4o-mini",
        rpm: LimitArg = None, itpm: LimitArg = None, otpm: LimitArg = None,
        concurrency: Annotated[int | None, Field(ge=1, le=256, description="Requests in flight")] = None,
        options: OptionsArg = None,
    ) -> dict:
        """Dry run: how tasks pack into batches, tokens, input saved against one request per task,
        estimated cost and the shortest time the rate limits allow. Sends nothing. Call before
        run_batches to check batch size and budget; a task too big for the limits is reported here.
        """
        from skilldeck.tools.batch.service import dry_run

        with tool_errors():
            fields = {"instructions": instructions, "output_schema": output_schema, "provider": provider,
                      "model": model, "rpm": rpm, "itpm": itpm, "otpm": otpm, "concurrency": concurrency}
            spec, inline = self._spec_of(tasks, tasks_path, fields, options)
            return dry_run(spec, inline, within=self.where.bases("data"))

    async def run_batches(
        self,
        instructions: InstructionsArg = None, tasks: TasksArg = None, tasks_path: TasksPathArg = None,
        output_schema: SchemaArg = None, provider: ProviderArg = "openai", model: ModelArg = "gpt-4o-mini",
        rpm: LimitArg = None, itpm: LimitArg = None, otpm: LimitArg = None,
        concurrency: Annotated[int | None, Field(ge=1, le=256, description="Requests in flight")] = None,
        options: OptionsArg = None,
        wait_s: Annotated[float, Field(ge=0, le=600, description="Seconds to wait here, with progress "
                                                                  "notifications, before returning")] = 0,
        resume: Annotated[str | None, Field(description="Job id of a cancelled, failed or interrupted run to "
                                                        "continue (other arguments are then ignored)")] = None,
        ctx: Context = None,  # type: ignore[assignment]
    ) -> dict:
        """Run tasks through an LLM provider as a background job: batched, paced to the rate limits,
        retried and repaired, one result per task (ok, INSUFFICIENT_DATA or failed with the reason).
        API keys come from the server's environment (OPENAI_API_KEY, ANTHROPIC_API_KEY ...), never
        from arguments. Returns the job id at once (or after wait_s); follow with batch_status and
        read answers with batch_results. Pass resume=JOB to continue a stopped run without redoing
        answered tasks.
        """
        from skilldeck.tools.batch.service import job_view, resume_run, start_run

        with tool_errors():
            if resume:
                info = await anyio.to_thread.run_sync(lambda: resume_run(self.jobs, resume, self.trusted_urls))
                if wait_s > 0:
                    await follow_job(ctx, self.jobs, info.id, wait_s)
                return await anyio.to_thread.run_sync(lambda: job_view(self.jobs, info.id))
            fields = {"instructions": instructions, "output_schema": output_schema, "provider": provider,
                      "model": model, "rpm": rpm, "itpm": itpm, "otpm": otpm, "concurrency": concurrency}
            # Off the event loop: it parses inline tasks and resolves paths on the filesystem.
            spec, inline = await anyio.to_thread.run_sync(lambda: self._spec_of(tasks, tasks_path, fields, options))
            info = await anyio.to_thread.run_sync(lambda: start_run(self.jobs, spec, inline,
                                                                    within=self.where.bases("data")))
            if wait_s > 0:
                await follow_job(ctx, self.jobs, info.id, wait_s)
            return await anyio.to_thread.run_sync(lambda: job_view(self.jobs, info.id))

    async def batch_status(
        self,
        job_id: Annotated[str, Field(description="The id run_batches returned")],
        wait_s: Annotated[float, Field(ge=0, le=600, description="Wait up to this long for it to finish, "
                                                                  "with progress notifications")] = 0,
        ctx: Context = None,  # type: ignore[assignment]
    ) -> dict:
        """Status and progress of a batch run; once finished, its report: results by status,
        requests, 429 share, retry token overhead, tokens and cost."""
        from skilldeck.tools.batch.service import job_view

        with tool_errors():
            if wait_s > 0:
                await anyio.to_thread.run_sync(lambda: job_view(self.jobs, job_id))  # unknown id fails fast
                await follow_job(ctx, self.jobs, job_id, wait_s)
            return await anyio.to_thread.run_sync(lambda: job_view(self.jobs, job_id))

    def batch_results(
        self,
        job_id: Annotated[str, Field(description="The batch run's job id")],
        offset: Annotated[int, Field(ge=0, description="Start at this result (next_offset of the last page)")] = 0,
        limit: Annotated[int, Field(ge=1, le=500, description="Results per page")] = 50,
        status: Annotated[Literal["ok", "INSUFFICIENT_DATA", "failed"] | None, Field(
            description="Only results with this status")] = None,
    ) -> dict:
        """Page through a batch run's results in task order (also while it runs): id, status,
        output, reason, attempts. next_offset is null on the last page."""
        from skilldeck.tools.batch.service import results_page

        with tool_errors():
            return results_page(self.jobs, job_id, offset, limit, status)

    async def cancel_batch(self, job_id: Annotated[str, Field(description="The batch run's job id")]) -> dict:
        """Stop a batch run. Finished results are kept; run_batches(resume=JOB) continues it later
        without redoing anything already answered."""
        from skilldeck.tools.batch.service import job_view

        with tool_errors():
            await anyio.to_thread.run_sync(lambda: job_view(self.jobs, job_id))
            await anyio.to_thread.run_sync(lambda: self.jobs.cancel(job_id))
            return await anyio.to_thread.run_sync(lambda: job_view(self.jobs, job_id))

    def estimate_cost(
        self,
        model: ModelArg,
        input_tokens: Annotated[int, Field(ge=0, le=MAX_TOKENS, description="Input tokens, cached ones included")],
        output_tokens: Annotated[int, Field(ge=0, le=MAX_TOKENS, description="Output tokens")],
        cached_input_tokens: Annotated[int, Field(ge=0, le=MAX_TOKENS,
                                                  description="Input tokens read from the cache")] = 0,
        batch_api: Annotated[bool, Field(description="Price at the provider's batch-API discount (50%)")] = False,
        prices: Annotated[dict[str, dict[str, PriceArg]] | None, Field(
            description="Overrides: {model: {input, cached_input, output}} USD per 1M tokens")] = None,
    ) -> dict:
        """Price tokens for a model from the dated price table (or your overrides); lists the
        table's date, sources and known models so stale prices are visible."""
        from skilldeck.tools.batch.prices import cost_of
        from skilldeck.tools.batch.service import price_table

        with tool_errors():
            if cached_input_tokens > input_tokens:
                from skilldeck.tools.errors import InvalidInputError

                raise InvalidInputError(f"cached_input_tokens {cached_input_tokens} exceeds input_tokens "
                                        f"{input_tokens}; input_tokens counts the cached ones too.")
            return {**cost_of(model, input_tokens, output_tokens, cached_input_tokens, batch_api, prices),
                    "price_table": price_table()}


def register(mcp: Any, services: Any) -> None:
    tools = BatchTools(services)
    for tool in (tools.plan_batches, tools.run_batches, tools.batch_status, tools.batch_results, tools.cancel_batch,
                 tools.estimate_cost):
        mcp.tool()(tool)
