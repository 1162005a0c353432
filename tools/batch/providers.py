"""Providers: OpenAI-compatible Chat Completions and the Anthropic Messages API over httpx2.

A provider turns a `BatchPrompt` into an HTTP request and the response into a `Completion`,
raising `ProviderFault` with a kind the runner's one retry layer acts on. The HTTP client is
injected, so tests pass one with a mock transport; API keys come from the environment only
and are redacted from every message.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit
from typing import Any, Literal

import httpx2

from skilldeck.tools.batch.errors import ProviderConfigError
from skilldeck.tools.batch.headers import HeaderMapping, LimitSnapshot, mapping_for, parse_headers
from skilldeck.tools.batch.prompt import BatchPrompt

MAX_RESPONSE_BYTES = 32 << 20  # a larger response body (after decompression) is not read to its end

__all__ = ["ProviderConfig", "Provider", "OpenAIChat", "AnthropicMessages", "Completion", "ProviderFault",
           "make_provider", "check_endpoint", "PRESETS"]

FaultKind = Literal["rate_limit", "transient", "overflow", "fatal", "bad_request"]

# name -> (api, base URL, API key variable, structured output mode)
PRESETS: dict[str, tuple[str, str, str | None, str]] = {
    "openai": ("openai", "https://api.openai.com/v1", "OPENAI_API_KEY", "json_schema"),
    "anthropic": ("anthropic", "https://api.anthropic.com/v1", "ANTHROPIC_API_KEY", "tool"),
    "deepseek": ("openai", "https://api.deepseek.com/v1", "DEEPSEEK_API_KEY", "json_object"),
    "vllm": ("openai", "http://127.0.0.1:8000/v1", None, "json_schema"),
    "llamacpp": ("openai", "http://127.0.0.1:8080/v1", None, "json_schema"),
    "ollama": ("openai", "http://127.0.0.1:11434/v1", None, "json_schema"),
    "litellm": ("openai", "http://127.0.0.1:4000/v1", "LITELLM_API_KEY", "json_schema"),
    "openai-compatible": ("openai", "http://127.0.0.1:8000/v1", None, "json_schema"),
}
_OVERFLOW_HINTS = ("context_length_exceeded", "maximum context length", "prompt is too long", "too many tokens",
                   "context window", "reduce the length")


@dataclass(frozen=True)
class ProviderConfig:
    """Where and how to send requests. The key itself is never stored, only its variable's name.

    Usage: ``ProviderConfig(provider="openai", model="gpt-4o-mini")`` or
    ``ProviderConfig(provider="vllm", model="qwen", base_url="http://gpu-box:8000/v1")``.
    """

    provider: str
    model: str
    base_url: str | None = None
    api_key_env: str | None = None
    structured: Literal["json_schema", "json_object", "tool", "none"] | None = None
    temperature: float = 0.0
    headers: dict[str, Any] | None = None  # overrides of the rate-limit header mapping (see headers.py)

    def header_mapping(self) -> HeaderMapping:
        """How this provider's rate-limit headers feed the buckets (raises ProviderConfigError if bad)."""
        try:
            return mapping_for(self.resolved()[0], self.headers)
        except ValueError as exc:
            raise ProviderConfigError(str(exc)) from exc

    def resolved(self) -> tuple[str, str, str | None, str]:
        if self.provider not in PRESETS:
            raise ProviderConfigError(f"unknown provider {self.provider!r}; known: {', '.join(PRESETS)}. "
                                      "Any OpenAI-compatible server works as 'openai-compatible' with a base URL.")
        api, base, key_env, mode = PRESETS[self.provider]
        return api, (self.base_url or base).rstrip("/"), self.api_key_env or key_env, self.structured or mode

    def to_dict(self) -> dict[str, Any]:
        return {"provider": self.provider, "model": self.model, "base_url": self.base_url,
                "api_key_env": self.api_key_env, "structured": self.structured, "temperature": self.temperature,
                "headers": self.headers}


@dataclass
class Completion:
    """A provider's answer: the JSON text (or already-parsed tool input), usage and rate-limit state."""

    text: str | None
    data: Any | None
    truncated: bool
    input_tokens: int | None
    output_tokens: int | None
    cached_input_tokens: int
    limits: LimitSnapshot = field(default_factory=LimitSnapshot)


class ProviderFault(Exception):
    """A request that did not produce a completion; `kind` tells the retry layer what to do."""

    def __init__(self, kind: FaultKind, message: str, status: int | None = None,
                 limits: LimitSnapshot | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.status = status
        self.limits = limits or LimitSnapshot()


class Provider:
    """Shared request/response plumbing; subclasses build bodies and read answers."""

    api = "base"

    def __init__(self, config: ProviderConfig, client: httpx2.AsyncClient, environ: dict[str, str] | None = None):
        self.config = config
        self.client = client
        _, self.base_url, _, self.structured = config.resolved()
        self.mapping = config.header_mapping()
        self._key = self.check_key(config, environ)

    @staticmethod
    def check_key(config: ProviderConfig, environ: dict[str, str] | None = None) -> str:
        """The API key from the environment; a cloud provider without one is a config error."""
        key_env = config.resolved()[2]
        env = os.environ if environ is None else environ
        # A key copied from a CRLF .env file ends in "\r": the HTTP library would refuse the header and
        # quote it, key and all, in its error. Surrounding whitespace goes; any other odd character is refused.
        key = env.get(key_env, "").strip() if key_env else ""
        if key and not all("!" <= ch <= "~" for ch in key):
            raise ProviderConfigError(f"the API key in {key_env} holds a space, control or non-ASCII character; "
                                      "set it to the key alone (the key is not shown here).")
        if key_env and not key and config.base_url is None and config.provider in ("openai", "anthropic", "deepseek"):
            raise ProviderConfigError(f"the API key variable {key_env} is not set; export it (the key is read "
                                      "from the environment only and never written anywhere).")
        return key

    def redact(self, text: str) -> str:
        """`text` without the key, as it is, as a message quoting it writes it (backslashes doubled),
        and spelt in JSON escapes (an endpoint echoed it back as ``\\u0073k-...``)."""
        if not self._key:
            return text
        if "\\u" in text:
            text = _JSON_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)
        return text.replace(self._key, "***").replace(repr(self._key)[1:-1], "***")

    def redact_data(self, data: Any) -> Any:
        """Every string of a decoded JSON value redacted (keys included): decoding turns an escaped
        key back into the key, after a redaction of the raw text could no longer see it."""
        if not self._key:
            return data
        root = [data]
        stack: list[tuple[Any, Any]] = [(root, 0)]
        while stack:
            holder, key = stack.pop()
            value = holder[key]
            if isinstance(value, str):
                holder[key] = self.redact(value)
            elif isinstance(value, list):
                stack.extend((value, i) for i in range(len(value)))
            elif isinstance(value, dict):
                clean = {self.redact(k) if isinstance(k, str) else k: v for k, v in value.items()}
                holder[key] = clean
                stack.extend((clean, k) for k in clean)
        return root[0]

    def headers(self) -> dict[str, str]:
        raise NotImplementedError

    def url(self) -> str:
        raise NotImplementedError

    def body(self, prompt: BatchPrompt) -> dict[str, Any]:
        raise NotImplementedError

    def parse(self, data: dict[str, Any], limits: LimitSnapshot) -> Completion:
        raise NotImplementedError

    def snapshot(self, headers: httpx2.Headers) -> LimitSnapshot:
        return parse_headers(headers, self.mapping)

    async def complete(self, prompt: BatchPrompt, timeout_s: float) -> Completion:
        """Send one batch; return its completion or raise `ProviderFault`.

        `timeout_s` bounds the whole exchange, body included (httpx's own timeout is per read, so a
        body dripping one byte a second never ran out), and a body is read only up to
        MAX_RESPONSE_BYTES after decompression: an endless body or a gzip bomb grew the worker by
        gigabytes in seconds."""
        try:
            async with asyncio.timeout(timeout_s):
                response, body = await read_bounded(self.client, "POST", self.url(), MAX_RESPONSE_BYTES,
                                                    json=self.body(prompt), headers=self.headers(), timeout=timeout_s)
        except TimeoutError as exc:
            raise ProviderFault("transient", f"timed out after {timeout_s:g}s (the whole request)") from exc
        except httpx2.TimeoutException as exc:
            raise ProviderFault("transient", f"timed out after {timeout_s:g}s ({type(exc).__name__})") from exc
        except httpx2.TransportError as exc:
            raise ProviderFault("transient", f"connection failed: {type(exc).__name__}: "
                                f"{self.redact(str(exc))[:200]}") from exc
        limits = self.snapshot(response.headers)
        if body is None:
            raise ProviderFault("transient", f"the response body is larger than {MAX_RESPONSE_BYTES:,} bytes",
                                response.status_code, limits)
        if response.status_code != 200:
            raise self._fault(response.status_code, body.decode("utf-8", "replace"), limits)
        try:
            data = json.loads(body.decode("utf-8", "replace"))
        except (ValueError, RecursionError) as exc:
            raise ProviderFault("transient", "the response body is not JSON", 200, limits) from exc
        # An endpoint that echoes the key back must not get it into the journal or the results.
        return self.parse(self.redact_data(data), limits)

    def _fault(self, status: int, body: str, limits: LimitSnapshot) -> ProviderFault:
        text = self.redact(body[:500])
        if status == 429:
            return ProviderFault("rate_limit", f"429 rate limited: {text[:200]}", status, limits)
        if status in (400, 413) and any(h in text.lower() for h in _OVERFLOW_HINTS):
            return ProviderFault("overflow", f"{status} context overflow: {text[:200]}", status, limits)
        if status in (401, 403, 404):
            return ProviderFault("fatal", f"{status} from {self.url()}: {text[:300]}", status, limits)
        if status >= 500 or status in (408, 409, 425):
            return ProviderFault("transient", f"{status} server error: {text[:200]}", status, limits)
        return ProviderFault("bad_request", f"{status}: {text[:300]}", status, limits)


class OpenAIChat(Provider):
    """OpenAI-compatible Chat Completions (OpenAI, DeepSeek, vLLM, llama.cpp, Ollama, LiteLLM)."""

    api = "openai"

    def url(self) -> str:
        return f"{self.base_url}/chat/completions"

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._key}"} if self._key else {}

    def body(self, prompt: BatchPrompt) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.config.model, "temperature": self.config.temperature,
            "messages": [{"role": "system", "content": prompt.system}, {"role": "user", "content": prompt.user}],
        }
        # OpenAI's own API wants max_completion_tokens; compatible servers still read max_tokens.
        body["max_completion_tokens" if self.config.provider == "openai" else "max_tokens"] = prompt.max_tokens
        if self.structured == "json_schema":
            body["response_format"] = {"type": "json_schema", "json_schema": {
                "name": "batch_results", "strict": True, "schema": prompt.schema}}
        elif self.structured == "json_object":
            body["response_format"] = {"type": "json_object"}
        return body

    def parse(self, data: dict[str, Any], limits: LimitSnapshot) -> Completion:
        try:
            choice = data["choices"][0]
            text = choice["message"].get("content") or ""
        except (KeyError, IndexError, TypeError, AttributeError) as exc:
            raise ProviderFault("transient", "the response has no choices[0].message", 200, limits) from exc
        usage = _mapping(data.get("usage"))
        details = _mapping(usage.get("prompt_tokens_details"))
        return Completion(text=text, data=None, truncated=choice.get("finish_reason") == "length",
                          input_tokens=token_count(usage.get("prompt_tokens")),
                          output_tokens=token_count(usage.get("completion_tokens")),
                          cached_input_tokens=token_count(details.get("cached_tokens")) or 0, limits=limits)


class AnthropicMessages(Provider):
    """The Anthropic Messages API; structured output through one forced tool."""

    api = "anthropic"
    TOOL = "record_results"

    def url(self) -> str:
        return f"{self.base_url}/messages"

    def headers(self) -> dict[str, str]:
        headers = {"anthropic-version": "2023-06-01"}
        if self._key:
            headers["x-api-key"] = self._key
        return headers

    def body(self, prompt: BatchPrompt) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.config.model, "max_tokens": prompt.max_tokens,
                                "temperature": self.config.temperature, "system": prompt.system,
                                "messages": [{"role": "user", "content": prompt.user}]}
        if self.structured == "tool":
            body["tools"] = [{"name": self.TOOL, "description": "Record the result of every task.",
                              "input_schema": prompt.schema}]
            body["tool_choice"] = {"type": "tool", "name": self.TOOL}
        return body

    def parse(self, data: dict[str, Any], limits: LimitSnapshot) -> Completion:
        blocks = data.get("content")
        if not isinstance(blocks, list):
            raise ProviderFault("transient", "the response has no content blocks", 200, limits)
        tool_input = next((b.get("input") for b in blocks if isinstance(b, dict) and b.get("type") == "tool_use"), None)
        text = "".join(b.get("text", "") for b in blocks if isinstance(b, dict) and b.get("type") == "text")
        usage = _mapping(data.get("usage"))
        cached = token_count(usage.get("cache_read_input_tokens")) or 0
        input_tokens = token_count(usage.get("input_tokens"))
        return Completion(text=text, data=tool_input if isinstance(tool_input, dict) else None,
                          truncated=data.get("stop_reason") == "max_tokens",
                          input_tokens=None if input_tokens is None else input_tokens + cached,
                          output_tokens=token_count(usage.get("output_tokens")), cached_input_tokens=cached,
                          limits=limits)


_JSON_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")
# More tokens than any model reads or writes in one request: a count above it is not believed.
MAX_REPORTED_TOKENS = 10_000_000


def token_count(value: Any) -> int | None:
    """A usage figure from a response body, or None (then the reservation stands) when it is not a
    count one request can have: text, negative, infinite, or over MAX_REPORTED_TOKENS. An endpoint
    reporting 1e15 input tokens drained the token buckets so far that the run never ended."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return int(value) if 0 <= value <= MAX_REPORTED_TOKENS else None


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


async def read_bounded(client: httpx2.AsyncClient, method: str, url: str, limit: int,
                       **kwargs: Any) -> tuple[httpx2.Response, bytes | None]:
    """The response and its body, decoded, read to at most `limit` bytes (None past that)."""
    async with client.stream(method, url, **kwargs) as response:
        parts, size = [], 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > limit:
                return response, None
            parts.append(chunk)
        return response, b"".join(parts)


def make_provider(config: ProviderConfig, client: httpx2.AsyncClient,
                  environ: dict[str, str] | None = None) -> Provider:
    """The provider class for `config` (raises `ProviderConfigError` for unknown names or missing keys)."""
    api = config.resolved()[0]
    return (AnthropicMessages if api == "anthropic" else OpenAIChat)(config, client, environ)


_ALLOW = ("ask the user to add it to the server's configuration: `skilldeck serve --provider-url URL`, "
          "SKILLDECK_PROVIDER_URLS (comma-separated) or provider_urls in skilldeck.toml")


def _endpoint(url: str) -> tuple[str, str, int | None, str] | None:
    try:
        parts = urlsplit(url.strip())
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme.lower())
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    # "/team-a/v1/../../team-b" is below "/team-a/v1" as text, not where the request goes: a path
    # with a dot segment, written out or percent-encoded, is no endpoint to trust.
    if any(seg in (".", "..") for seg in unquote(parts.path).replace("\\", "/").split("/")):
        return None
    return parts.scheme.lower(), parts.hostname.lower(), port, parts.path.rstrip("/")


def _trusted(url: str, trusted: Sequence[str]) -> bool:
    """True if `url` is one of `trusted` or below one (same scheme, host and port; path on a '/' boundary)."""
    mine = _endpoint(url)
    if mine is None or "@" in urlsplit(url).netloc:
        return False
    for allowed in trusted:
        other = _endpoint(allowed)
        if other and other[:3] == mine[:3] and (mine[3] == other[3] or mine[3].startswith(other[3] + "/")):
            return True
    return False


def check_endpoint(config: ProviderConfig, trusted: Sequence[str], where: str = "options") -> None:
    """Refuse a `base_url` or `api_key_env` the user did not configure (for tool calls a model makes).

    A request, and with it the API key, goes only to the provider's own default URL or to a URL in
    `trusted` (the user's ``provider_urls``). The key variable may differ from the provider's own
    only for a trusted URL, so a model cannot have OPENAI_API_KEY sent to another provider's host.
    Raises `ProviderConfigError` naming the field and how to allow it.
    """
    config.resolved()  # an unknown provider fails with its own message
    _, default, preset_key, _ = PRESETS[config.provider]
    url = (config.base_url or default).rstrip("/")
    configured = config.base_url is not None and _trusted(config.base_url, trusted)
    if config.base_url is not None and not configured and url != default:
        raise ProviderConfigError(
            f"{where}.base_url {config.base_url[:200]!r} is not an endpoint the user configured; requests (and any "
            f"API key) go only to the provider's own endpoint ({default}) or to one in provider_urls "
            f"({', '.join(trusted) or 'none configured'}). Leave base_url out, or {_ALLOW}.")
    if config.api_key_env is not None and config.api_key_env != preset_key and not configured:
        raise ProviderConfigError(
            f"{where}.api_key_env {config.api_key_env!r} would send that key to {url}, which receives "
            f"{preset_key or 'no key'} only; a different key variable is sent only to a base_url in provider_urls. "
            f"Leave api_key_env out, or {_ALLOW}.")
