import asyncio
import json

import httpx2
import pytest

from skilldeck.tools.batch import PromptSpec, ProviderConfig, ProviderConfigError, Task, make_provider
from skilldeck.tools.batch.prompt import build_prompt
from skilldeck.tools.batch.providers import ProviderFault

KEY = "sk-test-secret-123"
PROMPT = build_prompt(PromptSpec(), [Task("a", {"text": "hello"})])
ANSWER = {"results": [{"id": "a", "status": "ok", "output": {"answer": "hi"}, "reason": ""}]}


def call(config, handler, environ=None):
    async def main():
        async with httpx2.AsyncClient(transport=httpx2.MockTransport(handler)) as client:
            provider = make_provider(config, client, environ if environ is not None else
                                     {"OPENAI_API_KEY": KEY, "ANTHROPIC_API_KEY": KEY})
            return await provider.complete(PROMPT, 5.0)

    return asyncio.run(main())


def test_openai_request_uses_strict_json_schema_and_bearer_key():
    seen = {}

    def handler(request):
        seen["body"], seen["auth"], seen["url"] = json.loads(request.content), request.headers["authorization"], \
            str(request.url)
        return httpx2.Response(200, json={"choices": [{"message": {"content": json.dumps(ANSWER)},
                                                       "finish_reason": "stop"}],
                                          "usage": {"prompt_tokens": 50, "completion_tokens": 20,
                                                    "prompt_tokens_details": {"cached_tokens": 10}}},
                               headers={"x-ratelimit-remaining-requests": "9", "x-ratelimit-reset-tokens": "1.5s"})

    out = call(ProviderConfig("openai", "gpt-4o-mini"), handler)
    fmt = seen["body"]["response_format"]
    assert seen["url"] == "https://api.openai.com/v1/chat/completions" and seen["auth"] == f"Bearer {KEY}"
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["strict"] is True
    assert seen["body"]["max_completion_tokens"] == PROMPT.max_tokens
    assert json.loads(out.text) == ANSWER and not out.truncated
    assert (out.input_tokens, out.output_tokens, out.cached_input_tokens) == (50, 20, 10)
    assert out.limits.remaining == {"requests": 9} and out.limits.reset_s == {"tokens": 1.5}


def test_anthropic_request_forces_one_tool_and_reads_its_input():
    seen = {}

    def handler(request):
        seen["body"], seen["headers"] = json.loads(request.content), request.headers
        return httpx2.Response(200, json={"content": [{"type": "tool_use", "name": "record_results", "input": ANSWER}],
                                          "stop_reason": "tool_use",
                                          "usage": {"input_tokens": 40, "output_tokens": 30,
                                                    "cache_read_input_tokens": 5}})

    out = call(ProviderConfig("anthropic", "claude-haiku-4-5"), handler)
    body = seen["body"]
    assert body["tool_choice"] == {"type": "tool", "name": "record_results"}
    assert body["tools"][0]["input_schema"] == PROMPT.schema and body["system"] == PROMPT.system
    assert seen["headers"]["x-api-key"] == KEY and seen["headers"]["anthropic-version"]
    assert out.data == ANSWER and out.input_tokens == 45 and out.cached_input_tokens == 5


@pytest.mark.parametrize("status, body, kind", [
    (429, {"error": {"message": "slow down"}}, "rate_limit"),
    (500, {"error": {"message": "boom"}}, "transient"),
    (503, {"error": {"message": "overloaded"}}, "transient"),
    (400, {"error": {"code": "context_length_exceeded", "message": "maximum context length is 8192"}}, "overflow"),
    (400, {"error": {"message": "bad temperature"}}, "bad_request"),
    (401, {"error": {"message": f"Incorrect API key provided: {KEY}"}}, "fatal"),
])
def test_error_statuses_map_to_fault_kinds_and_never_echo_the_key(status, body, kind):
    def handler(request):
        return httpx2.Response(status, json=body, headers={"retry-after-ms": "1500"})

    with pytest.raises(ProviderFault) as info:
        call(ProviderConfig("openai", "gpt-4o-mini"), handler)
    assert info.value.kind == kind and KEY not in str(info.value)
    if kind == "rate_limit":
        assert info.value.limits.retry_after_s == 1.5


def test_connection_errors_and_timeouts_are_transient():
    def reset(request):
        raise httpx2.RemoteProtocolError("peer closed connection", request=request)

    def slow(request):
        raise httpx2.ReadTimeout("timed out", request=request)

    for handler in (reset, slow):
        with pytest.raises(ProviderFault) as info:
            call(ProviderConfig("openai", "m"), handler)
        assert info.value.kind == "transient"


def test_cloud_provider_without_its_key_variable_is_a_config_error():
    with pytest.raises(ProviderConfigError, match="OPENAI_API_KEY is not set"):
        call(ProviderConfig("openai", "gpt-4o-mini"), lambda r: httpx2.Response(200), environ={})
    with pytest.raises(ProviderConfigError, match="unknown provider 'nope'"):
        call(ProviderConfig("nope", "m"), lambda r: httpx2.Response(200), environ={})


def test_a_key_with_a_trailing_carriage_return_is_sent_stripped():
    # A key copied from a CRLF .env file: the HTTP library refused the header and quoted it, key
    # and all, in its error, which reached the model, the job files and the log.
    seen = {}

    def handler(request):
        seen["auth"] = request.headers["authorization"]
        return httpx2.Response(200, json={"choices": [{"message": {"content": json.dumps(ANSWER)}}]})

    call(ProviderConfig("openai", "gpt-4o-mini"), handler, environ={"OPENAI_API_KEY": KEY + "\r\n"})
    assert seen["auth"] == f"Bearer {KEY}"


@pytest.mark.parametrize("key", [f"{KEY}\rX", f"sk-{chr(0)}secret-123", "sk-sécret-12345", "sk-two words-123"])
def test_a_key_with_an_odd_character_inside_is_refused_without_being_shown(key):
    with pytest.raises(ProviderConfigError, match="OPENAI_API_KEY holds a space, control or non-ASCII") as info:
        call(ProviderConfig("openai", "gpt-4o-mini"), lambda r: httpx2.Response(200), environ={"OPENAI_API_KEY": key})
    assert key not in str(info.value) and repr(key)[1:-1] not in str(info.value)


# A hostile or broken endpoint (found by an audit with a hostile OpenAI-compatible server): an endless
# body or a gzip bomb grew the worker by gigabytes, a body dripping a byte a second hung the run
# past its timeout, and an echoed key went into the journal unredacted.
def _answer_with(stream):
    class Body(httpx2.AsyncByteStream):
        async def __aiter__(self):
            async for chunk in stream():
                yield chunk

    return lambda request: httpx2.Response(200, stream=Body())


def test_a_body_past_the_size_cap_is_a_fault_read_no_further(monkeypatch):
    import skilldeck.tools.batch.providers as providers

    monkeypatch.setattr(providers, "MAX_RESPONSE_BYTES", 1 << 20)
    sent = []

    async def endless():
        while True:
            sent.append(1)
            yield b"x" * 65536

    with pytest.raises(ProviderFault, match="larger than 1,048,576 bytes") as info:
        call(ProviderConfig("openai", "m"), _answer_with(endless))
    assert info.value.kind == "transient" and len(sent) <= 17


def test_the_timeout_bounds_the_whole_request_not_each_read():
    async def drip():
        while True:
            yield b" "
            await asyncio.sleep(0.2)

    async def main():
        async with httpx2.AsyncClient(transport=httpx2.MockTransport(_answer_with(drip))) as client:
            provider = make_provider(ProviderConfig("openai", "m"), client, {"OPENAI_API_KEY": KEY})
            return await provider.complete(PROMPT, 1.0)

    started = asyncio.run(asyncio.wait_for(_timed(main), 10))
    assert started < 3


async def _timed(main):
    import time

    began = time.monotonic()
    with pytest.raises(ProviderFault, match="timed out after 1s \\(the whole request\\)"):
        await main()
    return time.monotonic() - began


def test_a_key_the_endpoint_echoes_back_never_reaches_the_completion():
    echoed = {"results": [{"id": "a", "status": "ok", "output": {"answer": f"Bearer {KEY}"}, "reason": ""}]}
    completion = call(ProviderConfig("openai", "gpt-4o-mini"), lambda r: httpx2.Response(
        200, json={"choices": [{"message": {"content": json.dumps(echoed)}}]}))
    assert "Bearer ***" in completion.text and KEY not in completion.text + json.dumps(completion.data)


def test_a_key_echoed_in_json_escapes_is_redacted_after_decoding_and_in_error_bodies():
    # The second security audit: "\u0073k-..." passed the redaction of the raw body, and decoding
    # then wrote the key into the journal and results; escaped in an error body it reached the status.
    escaped = "".join(f"\\u{ord(c):04x}" for c in KEY)
    raw = '{"choices": [{"message": {"content": "the key is ' + escaped + '"}}]}'
    completion = call(ProviderConfig("openai", "gpt-4o-mini"), lambda r: httpx2.Response(200, content=raw.encode()))
    assert KEY not in completion.text and "***" in completion.text
    with pytest.raises(ProviderFault) as caught:
        call(ProviderConfig("openai", "gpt-4o-mini"),
             lambda r: httpx2.Response(401, content=('{"error": "bad key ' + escaped + '"}').encode()))
    assert KEY not in str(caught.value) and escaped not in str(caught.value)


@pytest.mark.parametrize("usage", [{"prompt_tokens": 1e15, "completion_tokens": 5}, {"prompt_tokens": "many"},
                                   {"prompt_tokens": -3, "completion_tokens": float("inf")},
                                   {"prompt_tokens_details": {"cached_tokens": 1e300}}, ["not", "a", "mapping"]])
def test_usage_no_request_can_have_is_not_believed(usage):
    # The second security audit: 1e15 input tokens drained the token buckets so that the run never ended.
    body = json.dumps({"choices": [{"message": {"content": json.dumps(ANSWER)}}], "usage": usage})
    out = call(ProviderConfig("openai", "gpt-4o-mini"), lambda r: httpx2.Response(200, content=body.encode()))
    assert out.input_tokens is None and out.output_tokens in (None, 5) and out.cached_input_tokens == 0
