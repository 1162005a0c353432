"""A local mock LLM provider on 127.0.0.1 that speaks OpenAI Chat Completions and Anthropic
Messages, enforces rate limits like the real services, and injects faults with a seed.

Limits are continuously refilled buckets (requests, input, output and combined tokens per
minute). A request is charged on arrival (its prompt and its max_tokens), unused output is
credited back when it completes, and a request that does not fit gets 429 with
``retry-after``/``retry-after-ms`` and the provider's rate-limit headers. Faults, drawn per
request from ``MockConfig.faults``: ``error_500``, ``reset`` (connection dropped),
``hang`` (no answer until long past any sane timeout), ``malformed`` (fences, prose,
trailing commas or garbage), ``truncate`` (cut short, finish_reason length), ``missing``
(one item silently dropped) and ``swap`` (two items' ids exchanged, their content left in place).

Rate-limit headers are measured on admission, with the request's own reservation taken, as
OpenAI and Anthropic do (``headers_at="response"`` measures them after the request settled);
``preused`` starts every bucket partly spent by traffic the client does not know about.
``style="loose"`` answers like a model that ignores the schema: ``task_id``/``taskId`` for
``id``, ``"OK"`` for ``"ok"``, output fields at the item's top level.

Both providers' batch APIs are served too (see `mock_batches`): OpenAI's files and
``/batches``, Anthropic's ``/messages/batches``; a batch's requests are answered with the
same model and faults, after ``batch_delay_s``, outside the rate limits.

Answers are deterministic: a task's string output is ``"<id>: <first field value>"`` plus
filler words, so tests can prove no result landed on the wrong id.

Usage::

    with serve_in_thread(MockConfig(limits=RateLimits(requests_per_minute=600))) as mock:
        base_url = mock.base_url                  # http://127.0.0.1:PORT/v1
        ... mock.stats["rate_limited"] ...

or ``skilldeck batch mock-server --port 8787 --rpm 600 --faults error_500=0.01,missing=0.02``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from skilldeck.tools.batch.limits import RateLimits, TokenBucket
from skilldeck.tools.tokens import count_tokens

__all__ = ["MockConfig", "MockProvider", "serve_in_thread", "FAULTS", "parse_faults", "expected_answer", "mock_answer"]

FAULTS = ("error_500", "reset", "hang", "malformed", "truncate", "missing", "swap")
_TASK = re.compile(r"^### TASK (.+?)(?: \(echo: ([a-z0-9]+)\))?$", re.M)
_FILLER = ("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa "
           "quebec romeo sierra tango uniform victor whiskey xray yankee zulu").split()


@dataclass
class MockConfig:
    """How the mock behaves. `faults` maps a fault name to its probability per admitted request."""

    limits: RateLimits = field(default_factory=RateLimits)
    latency_s: float = 0.02
    per_output_token_s: float = 0.0
    faults: dict[str, float] = field(default_factory=dict)
    seed: int = 0
    hang_s: float = 30.0
    context_window: int = 128_000
    answer_words: int = 8
    headers: bool = True
    headers_at: str = "admission"   # or "response"
    preused: float = 0.0            # share of every bucket spent by other traffic at start
    style: str = "strict"           # or "loose": ignores the schema in the common near-miss ways
    batch_delay_s: float = 0.5      # how long a batch-API batch takes to end


def parse_faults(text: str) -> dict[str, float]:
    """``"error_500=0.01,missing=0.02"`` -> {"error_500": 0.01, "missing": 0.02}."""
    out = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, value = part.partition("=")
        if name not in FAULTS:
            raise ValueError(f"unknown fault {name!r}; known: {', '.join(FAULTS)}")
        out[name] = float(value)
    return out


def expected_answer(task_id: str, first_value: Any, words: int) -> str:
    """The string the mock answers for a task (tests compare results against it)."""
    filler = " ".join(_FILLER[(i + len(task_id)) % len(_FILLER)] for i in range(words))
    return f"{task_id}: {first_value} {filler}".strip()


def _fmt_duration(seconds: float) -> str:
    # OpenAI's style: "20ms", "1.5s", "6m0s".
    if seconds < 1:
        return f"{max(0, round(seconds * 1000))}ms"
    if seconds < 60:
        return f"{round(seconds, 3):g}s"
    minutes = int(seconds // 60)
    return f"{minutes}m{round(seconds - 60 * minutes, 3):g}s"


class MockProvider:
    """The mock server; `stats` counts requests by outcome."""

    def __init__(self, config: MockConfig | None = None) -> None:
        self.config = config or MockConfig()
        self.stats: Counter[str] = Counter()
        self.answered: Counter[str] = Counter()  # task id -> times answered in a 200 response
        self.credentials: list[str] = []  # every Authorization / x-api-key header value received, in order
        self._rng = random.Random(self.config.seed)
        self._buckets = {d: TokenBucket(pm) for d, pm in self.config.limits.per_minute().items() if pm}
        for bucket in self._buckets.values():
            bucket.take(bucket.capacity * self.config.preused)
        self._server: asyncio.Server | None = None
        self._conns: set[asyncio.Task[Any]] = set()
        self.base_url = ""
        from skilldeck.tools.batch.mock_batches import MockBatches  # the batch endpoints build on this class

        self.batches = MockBatches(self)

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self._server = await asyncio.start_server(self._connection, host, port)
        self.base_url = f"http://{host}:{self._server.sockets[0].getsockname()[1]}/v1"
        return self.base_url

    async def close(self) -> None:
        self.batches.close()
        if self._server is not None:
            self._server.close()
        for task in list(self._conns):
            task.cancel()
        await asyncio.gather(*self._conns, return_exceptions=True)

    # -- HTTP ---------------------------------------------------------------------------
    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._conns.add(task)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path = lines[0].split(" ")[:2]
                headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                self.credentials += [headers[h] for h in ("authorization", "x-api-key") if h in headers]
                status, out_headers, payload = await self._route(method, path, body, headers)
                if status == 0:  # a dropped connection
                    writer.transport.abort()
                    return
                # A str payload is a file's content (batch results), sent as it is.
                raw = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
                kind = "application/jsonl" if isinstance(payload, str) else "application/json"
                head_lines = [f"HTTP/1.1 {status} {'OK' if status == 200 else 'Error'}",
                              f"content-type: {kind}", f"content-length: {len(raw)}",
                              *(f"{k}: {v}" for k, v in out_headers.items())]
                writer.write(("\r\n".join(head_lines) + "\r\n\r\n").encode() + raw)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        except asyncio.CancelledError:
            # Only `close` cancels a connection; ending quietly keeps asyncio's stream callback
            # from reporting the cancellation as an error.
            pass
        finally:
            self._conns.discard(task)
            writer.close()

    async def _route(self, method: str, path: str, body: bytes,
                     headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], Any]:
        if method == "GET" and path.endswith("/stats"):
            return 200, {}, {"stats": dict(self.stats)}
        routed = self.batches.route(method, path, body, (headers or {}).get("content-type", ""))
        if routed is not None:
            return routed
        api = "openai" if path.endswith("/chat/completions") else "anthropic" if path.endswith("/messages") else None
        if method != "POST" or api is None:
            return 404, {}, {"error": {"message": f"no route {method} {path}"}}
        try:
            data = json.loads(body)
        except ValueError:
            return 400, {}, {"error": {"message": "body is not JSON"}}
        return await self._complete(api, data)

    # -- the model ----------------------------------------------------------------------
    async def _complete(self, api: str, data: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
        system, user = _texts(api, data)
        # Like the real services, the schema (response_format or tool definition) is billed as input.
        input_tokens = count_tokens(system) + count_tokens(user) + _schema_tokens(api, data) + 8
        max_tokens = int(data.get("max_tokens") or data.get("max_completion_tokens") or 4096)
        self.stats["requests"] += 1
        refusal = self._admit(api, input_tokens, max_tokens)
        if refusal is not None:
            return refusal
        headers = self._limit_headers(api)  # measured on admission, this request's reservation taken
        fault = self._draw_fault()
        if fault == "hang":
            self.stats["hang"] += 1
            await asyncio.sleep(self.config.hang_s)
            self._credit_output(max_tokens)
            return 0, {}, None
        status, payload, out_tokens = self.generate(api, data, input_tokens, max_tokens, fault)
        if status == 0:
            self._credit_output(max_tokens)
            return 0, {}, None
        await asyncio.sleep(self.config.latency_s + out_tokens * self.config.per_output_token_s)
        self._credit_output(max_tokens - out_tokens)
        if status == 200 and self.config.headers_at == "response":
            headers = self._limit_headers(api)
        return status, headers if status == 200 else {}, payload

    def generate(self, api: str, data: dict[str, Any], input_tokens: int, max_tokens: int,
                 fault: str | None) -> tuple[int, Any, int]:
        """(status, body, output tokens) of one admitted request; status 0 is a dropped connection."""
        system, user = _texts(api, data)
        if fault in ("error_500", "reset", "hang"):
            self.stats[fault] += 1
            if fault == "error_500":
                return 500, {"error": {"type": "api_error", "message": "Internal server error"}}, 0
            return 0, None, 0
        text, truncated, items = self._answer_text(api, data, user, fault)
        out_tokens = count_tokens(text)
        if out_tokens > max_tokens:
            text, truncated, out_tokens = _cut_tokens(text, max_tokens), True, max_tokens
        if not truncated and fault not in ("malformed", "swap"):
            self.answered.update(item["id"] for item in items)
        self.stats["ok"] += 1
        return 200, _response(api, data, text, truncated, input_tokens, out_tokens,
                              fault is None and not truncated), out_tokens

    def _admit(self, api: str, input_tokens: int, max_tokens: int) -> tuple[int, dict[str, str], Any] | None:
        """Charge the buckets, or return the 400 (context overflow) or 429 the request gets."""
        if input_tokens + max_tokens > self.config.context_window:
            self.stats["overflow"] += 1
            msg = ("prompt is too long" if api == "anthropic" else "This model's maximum context length is "
                   f"{self.config.context_window} tokens (context_length_exceeded)")
            return 400, {}, {"error": {"type": "invalid_request_error", "code": "context_length_exceeded",
                                       "message": msg}}
        amounts = {"requests": 1, "input_tokens": input_tokens, "output_tokens": max_tokens,
                   "tokens": input_tokens + max_tokens}
        wait = max([b.wait_for(amounts[d]) for d, b in self._buckets.items()] + [0.0])
        if wait > 0:
            self.stats["rate_limited"] += 1
            headers = {"retry-after": str(math.ceil(wait)), "retry-after-ms": str(math.ceil(wait * 1000)),
                       **self._limit_headers(api)}
            return 429, headers, {"error": {"type": "rate_limit_error", "message": "Rate limit reached"}}
        for dim, bucket in self._buckets.items():
            bucket.take(amounts[dim])
        self.stats["admitted"] += 1
        return None

    def _answer_text(self, api: str, data: dict[str, Any], user: str,
                     fault: str | None) -> tuple[str, bool, list[dict[str, Any]]]:
        """The answer's text, whether it was cut short, and the items it was built from."""
        items = json.loads(mock_answer(user, _item_schema(api, data), self.config.answer_words))["results"]
        if fault == "missing" and items:
            items.pop(self._rng.randrange(len(items)))
        if fault == "swap" and len(items) >= 2:
            i, j = self._rng.sample(range(len(items)), 2)
            items[i]["id"], items[j]["id"] = items[j]["id"], items[i]["id"]
        shown = [_loose(item, n) for n, item in enumerate(items)] if self.config.style == "loose" else items
        text = json.dumps({"results": shown}, ensure_ascii=False)
        truncated = False
        if fault == "malformed":
            text = self._malform(text)
        elif fault == "truncate":
            text, truncated = text[: int(len(text) * self._rng.uniform(0.3, 0.8))], True
        if fault:
            self.stats[fault] += 1
        return text, truncated, items

    def _draw_fault(self) -> str | None:
        roll = self._rng.random()
        for name in FAULTS:
            roll -= self.config.faults.get(name, 0.0)
            if roll < 0:
                return name
        return None

    def _malform(self, text: str) -> str:
        kind = self._rng.choice(["fence", "prose", "commas", "garbage"])
        self.stats[f"malformed_{kind}"] += 1
        if kind == "fence":
            return f"```json\n{text}\n```"
        if kind == "prose":
            return f"Here are the results you asked for:\n{text}\nLet me know if you need anything else."
        if kind == "commas":
            return text.replace("}", ",}").replace("]", ",]")
        return "I could not produce JSON for these tasks, sorry."

    def _credit_output(self, amount: int) -> None:
        for dim in ("output_tokens", "tokens"):
            if dim in self._buckets and amount > 0:
                self._buckets[dim].give(amount)

    def _limit_headers(self, api: str) -> dict[str, str]:
        if not self.config.headers:
            return {}
        out = {}
        names = {"requests": "requests", "input_tokens": "input-tokens", "output_tokens": "output-tokens",
                 "tokens": "tokens"}
        for dim, bucket in self._buckets.items():
            level = bucket.level
            full_in = (bucket.capacity - level) / bucket.rate
            name = names[dim]
            if api == "openai":
                out[f"x-ratelimit-limit-{name}"] = str(int(bucket.capacity))
                out[f"x-ratelimit-remaining-{name}"] = str(max(0, int(level)))
                out[f"x-ratelimit-reset-{name}"] = _fmt_duration(full_in)
            else:
                reset = datetime.fromtimestamp(time.time() + full_in, tz=timezone.utc)
                out[f"anthropic-ratelimit-{name}-limit"] = str(int(bucket.capacity))
                out[f"anthropic-ratelimit-{name}-remaining"] = str(max(0, int(level)))
                out[f"anthropic-ratelimit-{name}-reset"] = reset.isoformat().replace("+00:00", "Z")
        return out


def _texts(api: str, data: dict[str, Any]) -> tuple[str, str]:
    def text_of(content: Any) -> str:
        if isinstance(content, str):
            return content
        if isinstance(content, list):
            return "".join(b.get("text", "") for b in content if isinstance(b, dict))
        return ""

    messages = data.get("messages") or []
    system = text_of(data.get("system")) if api == "anthropic" else "".join(
        text_of(m.get("content")) for m in messages if m.get("role") == "system")
    user = "".join(text_of(m.get("content")) for m in messages if m.get("role") != "system")
    return system, user


def _schema_tokens(api: str, data: dict[str, Any]) -> int:
    try:
        schema = data["response_format"]["json_schema"]["schema"] if api == "openai" else data["tools"][0][
            "input_schema"]
    except (KeyError, IndexError, TypeError):
        return 0
    return count_tokens(json.dumps(schema, separators=(",", ":")))


def _tasks(user: str) -> list[tuple[str, str | None, list[tuple[str, str]]]]:
    """Task ids, echo codes and field lines, from the blocks of a batch prompt."""
    found = []
    marks = list(_TASK.finditer(user))
    for i, mark in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(user)
        fields = [(k.strip(), v.strip()) for k, _, v in (ln.partition(":") for ln in user[mark.end():end].splitlines())
                  if k.strip()]
        found.append((mark.group(1).strip(), mark.group(2), fields))
    return found


def _loose(item: dict[str, Any], n: int) -> dict[str, Any]:
    """The item as a model that ignores the schema writes it (three near-miss shapes in turn)."""
    out = {("task_id", "taskId", "id")[n % 3]: item["id"]}
    if "echo" in item:
        out["echo"] = item["echo"]
    out["status"] = "OK" if item["status"] == "ok" else item["status"]
    if n % 3 != 1 and isinstance(item["output"], dict):
        out.update(item["output"])  # output fields at the top level
    else:
        out["output"] = item["output"]
    if item["reason"]:
        out["reason"] = item["reason"]
    return out


def _item_schema(api: str, data: dict[str, Any]) -> dict[str, Any]:
    try:
        if api == "openai":
            root = data["response_format"]["json_schema"]["schema"]
        else:
            root = data["tools"][0]["input_schema"]
        return root["properties"]["results"]["items"]["properties"]["output"]["anyOf"][0]
    except (KeyError, IndexError, TypeError):
        return {"type": "object", "properties": {"answer": {"type": "string"}}}


def _value(schema: dict[str, Any], task_id: str, first: str, words: int) -> Any:
    if "enum" in schema:
        return schema["enum"][len(task_id) % len(schema["enum"])]
    kind = schema.get("type")
    kind = kind[0] if isinstance(kind, list) else kind
    if kind == "integer":
        return len(first)
    if kind == "number":
        return len(first) / 2
    if kind == "boolean":
        return len(first) % 2 == 0
    if kind == "array":
        return [first] if schema.get("items", {}).get("type") == "string" else []
    if kind == "object":
        return {k: _value(s, task_id, first, words) for k, s in schema.get("properties", {}).items()}
    return expected_answer(task_id, first, words)


def _answer(task_id: str, echo: str | None, fields: list[tuple[str, str]], schema: dict[str, Any],
            words: int) -> dict[str, Any]:
    head: dict[str, Any] = {"id": task_id, **({"echo": echo} if echo else {})}
    empty = [k for k, v in fields if v in ("", '""')]
    if empty:
        return {**head, "status": "INSUFFICIENT_DATA", "output": None, "reason": f"{empty[0]} is empty"}
    first = fields[0][1] if fields else ""
    return {**head, "status": "ok", "output": _value(schema, task_id, first, words), "reason": ""}


def mock_answer(user: str, item_schema: dict[str, Any], words: int = 8) -> str:
    """The JSON text the mock answers (without faults) for a batch prompt's user message."""
    return json.dumps({"results": [_answer(tid, echo, fields, item_schema, words)
                                   for tid, echo, fields in _tasks(user)]}, ensure_ascii=False)


def _cut_tokens(text: str, max_tokens: int) -> str:
    # Character cut close to max_tokens; exactness does not matter, only that it is cut.
    keep = max(1, int(len(text) * max_tokens / max(1, count_tokens(text))))
    return text[:keep]


def _response(api: str, data: dict[str, Any], text: str, truncated: bool, input_tokens: int, out_tokens: int,
              clean: bool) -> dict[str, Any]:
    model = data.get("model", "mock")
    if api == "openai":
        return {"id": "chatcmpl-mock", "object": "chat.completion", "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                             "finish_reason": "length" if truncated else "stop"}],
                "usage": {"prompt_tokens": input_tokens, "completion_tokens": out_tokens,
                          "total_tokens": input_tokens + out_tokens}}
    forced_tool = data.get("tool_choice", {}).get("type") == "tool"
    if forced_tool and clean:
        content = [{"type": "tool_use", "id": "toolu_mock", "name": data["tool_choice"]["name"],
                    "input": json.loads(text)}]
        stop = "tool_use"
    else:
        content, stop = [{"type": "text", "text": text}], "max_tokens" if truncated else "end_turn"
    return {"id": "msg_mock", "type": "message", "role": "assistant", "model": model, "content": content,
            "stop_reason": stop, "usage": {"input_tokens": input_tokens, "output_tokens": out_tokens}}


@contextlib.contextmanager
def serve_in_thread(config: MockConfig | None = None, port: int = 0) -> Iterator[MockProvider]:
    """Run the mock on its own event loop in a daemon thread; stop it on exit."""
    mock = MockProvider(config)
    loop = asyncio.new_event_loop()
    started = threading.Event()
    errors: list[BaseException] = []

    def main() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(mock.start(port=port))
        except BaseException as exc:  # noqa: BLE001 - reported to the caller below
            errors.append(exc)
            started.set()
            return
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=main, name="mock-provider", daemon=True)
    thread.start()
    if not started.wait(15) or errors:
        raise RuntimeError(f"the mock provider did not start: {errors[0] if errors else 'timeout'}")
    try:
        yield mock
    finally:
        asyncio.run_coroutine_threadsafe(mock.close(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def serve_forever(config: MockConfig, port: int, host: str = "127.0.0.1") -> None:
    """Run the mock in the foreground until interrupted (the CLI's `batch mock-server`)."""

    async def main() -> None:
        mock = MockProvider(config)
        url = await mock.start(host, port)
        print(f"mock provider listening on {url} (OpenAI: {url}/chat/completions, Anthropic: {url}/messages)",
              flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await mock.close()

    asyncio.run(main())
