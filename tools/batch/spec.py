"""`RunSpec`: everything a batch run needs, validated once at the boundary (MCP, CLI, job spec).

It never holds an API key, only the name of the environment variable that does.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from skilldeck.tools.batch.limits import RateLimits
from skilldeck.tools.batch.plan import PlanOptions
from skilldeck.tools.batch.prices import MAX_TOKENS, check_price
from skilldeck.tools.batch.prompt import PromptSpec, check_output_schema
from skilldeck.tools.batch.providers import PRESETS, ProviderConfig
from skilldeck.tools.batch.runner import RetryPolicy

# USD per 1M tokens: finite, not negative and not absurd (NaN, Infinity and -1 were taken and priced a run at
# NaN or -200; 1e308 priced it at Infinity).
Price = Annotated[float, Field(ge=0, le=1_000_000, allow_inf_nan=False)]

# Every batch_api status poll is a request on the user's key: 1e-6 s made ~500 a second. A server on this
# machine (vLLM, the test mock) may be polled faster, as polling it costs nothing.
POLL_FLOOR_S = 1.0
LOCAL_POLL_FLOOR_S = 0.1

__all__ = ["RunSpec"]


def _host(url: str) -> str:
    try:
        return urlsplit(url).hostname or ""
    except ValueError:  # a malformed URL; check_endpoint refuses it with its own message
        return ""


def _is_local(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class RunSpec(BaseModel):
    """A batch run's settings; the job stores it as its spec."""

    model_config = ConfigDict(extra="forbid")

    tasks_path: str | None = Field(None, description="JSONL task file (one object with an 'id' per line)")
    provider: str = Field("openai", description="openai, anthropic, deepseek, vllm, llamacpp, ollama, litellm or "
                          "openai-compatible")
    model: str = Field("gpt-4o-mini", description="Model name as the provider spells it")
    base_url: str | None = Field(None, description="API base URL (default: the provider's)")
    api_key_env: str | None = Field(None, description="Environment variable holding the API key (default: the "
                                    "provider's, e.g. OPENAI_API_KEY)")
    structured: Literal["json_schema", "json_object", "tool", "none"] | None = Field(
        None, description="Structured output mode (default: json_schema for OpenAI-compatible, tool for Anthropic)")
    instructions: str = Field("Complete each task.", description="What to do with each task (written once per batch)")
    rules: list[str] = Field(default_factory=list, description="Extra rules for every task")
    output_schema: dict[str, Any] | None = Field(None, description="JSON schema of one task's output object "
                                                 "(default {answer: string})")
    output_tokens_per_task: int = Field(150, ge=1, le=32_000, description="Expected output tokens per task")
    batch_size: int = Field(20, ge=1, le=500, description="Most tasks per request")
    max_input_tokens: int = Field(16_000, ge=100, le=MAX_TOKENS, description="Input token budget per request")
    max_output_tokens: int = Field(4096, ge=16, le=MAX_TOKENS, description="max_tokens ceiling per request")
    context_window: int = Field(128_000, ge=1000, le=MAX_TOKENS, description="The model's context window")
    rpm: float | None = Field(None, gt=0, allow_inf_nan=False, description="Requests per minute")
    itpm: float | None = Field(None, gt=0, allow_inf_nan=False, description="Input tokens per minute")
    otpm: float | None = Field(None, gt=0, allow_inf_nan=False, description="Output tokens per minute")
    tpm: float | None = Field(None, gt=0, allow_inf_nan=False, description="Combined tokens per minute (OpenAI-style)")
    concurrency: int = Field(4, ge=1, le=256, description="Requests in flight at once")
    max_attempts: int = Field(4, ge=1, le=20, description="Failed sends per task before it is reported failed")
    timeout_s: float = Field(60.0, gt=0, le=3600, allow_inf_nan=False, description="Per-request timeout")
    # Bounded: a back-off of 1e9 s kept a run (and one of the batch workers) alive for good.
    backoff_base_s: float = Field(0.5, ge=0, le=600, allow_inf_nan=False)
    backoff_cap_s: float = Field(30.0, ge=0, le=3600, allow_inf_nan=False)
    prices: dict[str, dict[str, Price]] | None = Field(None, description="Price overrides per model: "
                                                       "{input, cached_input, output} USD per 1M tokens")
    batch_api: bool = Field(False, description="Price at the batch-API discount (set by mode='batch_api')")
    mode: Literal["live", "batch_api"] = Field("live", description="live: paced requests, answers in minutes; "
                                               "batch_api: the provider's batch API (OpenAI Batch, Anthropic "
                                               "Message Batches) at half price, results within 24 h")
    poll_s: float = Field(30.0, ge=LOCAL_POLL_FLOOR_S, le=3600, allow_inf_nan=False,
                          description=f"batch_api mode: seconds between status polls (at least {POLL_FLOOR_S:g}, "
                          f"{LOCAL_POLL_FLOOR_S:g} for a server on this machine)")
    headers: dict[str, Any] | None = Field(None, description="Override the rate-limit header mapping, e.g. "
                                           "{\"style\": \"none\"} or {\"remaining_at\": \"response\", "
                                           "\"tolerance\": 1000} (see tools/batch/headers.py)")
    echo: bool = Field(True, description="Ask each answer item to copy its task's echo code, so an answer "
                       "on the wrong task is caught; turn off only for a model that cannot copy it")
    latency_s: float | None = Field(None, ge=0.001, le=3600, allow_inf_nan=False,
                                    description="Expected seconds per request, for the plan's time estimate "
                                    "(default: 1 s plus max_tokens at 100 tokens/s)")

    @field_validator("output_schema")
    @classmethod
    def _schema_shaped(cls, schema: dict[str, Any] | None) -> dict[str, Any] | None:
        if schema is not None:
            check_output_schema(schema)
        return schema

    @field_validator("prices")
    @classmethod
    def _prices_complete(cls, prices: dict[str, dict[str, float]] | None) -> dict[str, dict[str, float]] | None:
        for model, price in (prices or {}).items():
            check_price(model, price)
        return prices

    @field_validator("api_key_env")
    @classmethod
    def _key_variables_only(cls, name: str | None) -> str | None:
        # The key is sent to base_url, which the caller (possibly a model) also chooses: only
        # variables named as API keys may be read, so no other secret of the server can leave.
        if name is not None and not re.fullmatch(r"[A-Z][A-Z0-9_]*_API_KEY", name):
            raise ValueError(f"api_key_env must name an API-key variable such as MY_PROVIDER_API_KEY, not {name!r}")
        return name

    @field_validator("poll_s")
    @classmethod
    def _poll_floor(cls, poll_s: float, info: ValidationInfo) -> float:
        # A field validator, so that the error names poll_s; provider and base_url come before it.
        preset = PRESETS.get(info.data.get("provider", ""))
        host = _host(info.data.get("base_url") or (preset[1] if preset else ""))
        if poll_s < POLL_FLOOR_S and not _is_local(host):
            raise ValueError(f"{poll_s:g} s is too short for {host or 'the provider'!r}: each poll is a request "
                             f"on the provider; use poll_s >= {POLL_FLOOR_S:g} (or >= {LOCAL_POLL_FLOOR_S:g} for "
                             "a server on this machine)")
        return poll_s

    def provider_config(self) -> ProviderConfig:
        return ProviderConfig(self.provider, self.model, self.base_url, self.api_key_env, self.structured,
                              headers=self.headers)

    def prompt_spec(self) -> PromptSpec:
        return PromptSpec.from_dict({"instructions": self.instructions, "rules": self.rules,
                                     "output_schema": self.output_schema,
                                     "output_tokens_per_task": self.output_tokens_per_task, "echo": self.echo})

    def plan_options(self) -> PlanOptions:
        return PlanOptions(self.batch_size, self.max_input_tokens, self.max_output_tokens, self.context_window)

    @property
    def priced_as_batch(self) -> bool:
        return self.batch_api or self.mode == "batch_api"

    def limits(self) -> RateLimits:
        return RateLimits(self.rpm, self.itpm, self.otpm, self.tpm, self.concurrency)

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(self.max_attempts, 30, self.backoff_base_s, self.backoff_cap_s, self.timeout_s)
