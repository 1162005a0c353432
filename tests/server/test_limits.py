"""Every call keeps its limits: a time limit that never stalls other clients, capped answers, checked arguments."""

import contextlib
import threading
import time

import anyio
import mcp.types as types
import pytest
from mcp import Client
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel

from skilldeck.server.app import build_server
from skilldeck.server.http_transport import http_app
from skilldeck.server.limits import cap_prompt_result, cap_tool_result, check_arguments
from skilldeck.server.settings import Settings
from tests.fixtures.skill_factory import basic_collection
from tests.server.http_client import http_session, serving
from tests.server.mcp_client import text_of

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend():
    return "asyncio"


class Rows(BaseModel):
    rows: list[str]


def settings(tmp_path, **extra):
    return Settings(watch=False, user_skills=False, bundled_skills=False,
                    skills=[basic_collection(tmp_path / "skills")], **extra)


def stalling_server(tmp_path, release: threading.Event, entered: threading.Event, **extra):
    """A server with one extra tool that blocks its worker thread until `release` is set."""
    mcp = build_server(settings(tmp_path, **extra))

    @mcp.tool()
    def stall() -> str:
        """Block until the test releases it."""
        entered.set()
        release.wait(30)
        return "released"

    return mcp


async def test_a_stuck_call_times_out_while_another_http_client_is_served(tmp_path):
    release, entered = threading.Event(), threading.Event()
    mcp = stalling_server(tmp_path, release, entered, call_timeout_s=3)
    try:
        async with serving(http_app(mcp, settings(tmp_path))) as url:
            async with http_session(url) as (first, _), http_session(url) as (second, _):
                outcome = {}

                async def stuck():
                    outcome["result"] = await first.call_tool("stall", {})
                    outcome["at"] = time.monotonic()

                async with anyio.create_task_group() as group:
                    group.start_soon(stuck)
                    await anyio.to_thread.run_sync(entered.wait, 10)
                    used = await second.call_tool("use_skill", {"name": "sql-tuning"})
                    served_at = time.monotonic()
                    assert not used.is_error and "Do the thing." in text_of(used)
                    assert "result" not in outcome  # the other client was answered while the call was stuck
                assert served_at < outcome["at"]
                assert outcome["result"].is_error
                assert "Tool stall took longer than 3 s" in text_of(outcome["result"])
                # the stuck thread has not been released, and the server still answers the same client
                assert not (await first.call_tool("use_skill", {"name": "pdf-forms"})).is_error
    finally:
        release.set()


async def test_stuck_calls_never_take_the_threads_the_transport_needs(tmp_path):
    # Each call that passes its limit while stuck in a worker thread keeps its slot until the thread
    # ends: with 2 slots, the third call waits, is refused at its limit, and the thread pool that the
    # stdio transport reads and writes with keeps room; once the threads end, calls run again.
    release, entered = threading.Event(), threading.Event()
    mcp = stalling_server(tmp_path, release, entered, call_timeout_s=0.5, concurrent_calls=2)
    try:
        async with Client(mcp) as client:
            for _ in range(2):
                stuck = await client.call_tool("stall", {})
                assert stuck.is_error and "Tool stall took longer than 0.5 s" in text_of(stuck)
            waited = await client.call_tool("use_skill", {"name": "sql-tuning"})
            assert waited.is_error and "waited 0.5 s for the server's other calls" in text_of(waited)
            assert "concurrent_calls" in text_of(waited)
            limiter = anyio.to_thread.current_default_thread_limiter()
            assert limiter.borrowed_tokens <= 2 < limiter.total_tokens
            release.set()
            for _ in range(50):
                used = await client.call_tool("use_skill", {"name": "sql-tuning"})
                if not used.is_error:
                    break
                await anyio.sleep(0.1)
            assert not used.is_error and "Do the thing." in text_of(used)
    finally:
        release.set()


async def test_work_past_its_time_limit_ends_and_gives_its_thread_back(tmp_path):
    # 3,000 claims against 3,000 evidence sentences is about 45 s of work: stopped at 1 s, it must
    # not run on in its worker thread (where it would hold one of the concurrent_calls slots).
    mcp = build_server(settings(tmp_path, call_timeout_s=1, max_argument_chars=100_000))
    bullets = "".join(f"- item {i} is fine\n" for i in range(3000))
    async with Client(mcp) as client:
        stopped = await client.call_tool("verify_answer", {"answer": bullets, "evidence": [bullets]})
        assert stopped.is_error and "took longer than 1 s" in text_of(stopped)
        limiter = anyio.to_thread.current_default_thread_limiter()
        for _ in range(40):
            if limiter.borrowed_tokens == 0:
                break
            await anyio.sleep(0.1)
        assert limiter.borrowed_tokens == 0, "the stopped call's thread is still working"


async def test_wait_s_adds_to_the_time_limit(tmp_path):
    mcp = build_server(settings(tmp_path, call_timeout_s=0.2))

    @mcp.tool()
    async def waits(wait_s: float) -> str:
        await anyio.sleep(wait_s)
        return "waited"

    @mcp.tool()
    async def naps(seconds: float) -> str:
        await anyio.sleep(seconds)
        return "napped"

    async with Client(mcp) as client:
        assert text_of(await client.call_tool("waits", {"wait_s": 0.5})) == "waited"
        late = await client.call_tool("naps", {"seconds": 0.5})
        assert late.is_error and "Tool naps took longer than 0.2 s" in text_of(late)


async def test_long_answers_are_cut_with_a_note(tmp_path):
    mcp = build_server(settings(tmp_path, max_answer_bytes=10_000))

    @mcp.tool()
    def big() -> str:
        """A long answer."""
        return "é" * 50_000

    @mcp.tool()
    def big_data() -> Rows:
        """A long structured answer."""
        return Rows(rows=["x" * 100] * 500)

    async with Client(mcp) as client:
        cut = await client.call_tool("big", {})
        assert not cut.is_error
        assert len(text_of(cut).encode()) <= 10_000 and "[cut: this answer was 100,000 bytes" in text_of(cut)
        refused = await client.call_tool("big_data", {})
        assert refused.is_error and "max_answer_bytes" in text_of(refused) and refused.structured_content is None


def test_check_arguments_names_nested_fields_and_respects_declared_limits():
    with pytest.raises(ToolError, match=r"'evidence\[1\].text'.*NUL byte"):
        check_arguments({"evidence": ["ok", {"text": "a\x00b"}]}, 100)
    with pytest.raises(ToolError, match=r"'answer'.*150 characters long; the limit is 100"):
        check_arguments({"answer": "x" * 150}, 100)
    schema = {"properties": {"task": {"type": "string", "maxLength": 4000}}}
    check_arguments({"task": "x" * 150}, 100, schema)  # the schema's own limit applies in validation


def test_check_arguments_refuses_millions_of_values_without_walking_them_all():
    import time

    from skilldeck.server.limits import MAX_ARGUMENT_VALUES

    check_arguments({"tasks": [{"id": i} for i in range(MAX_ARGUMENT_VALUES // 4)]}, 100)
    started = time.monotonic()
    with pytest.raises(ToolError, match=r"more than 200,000 values \(at 'judgments\[\d+\]"):
        check_arguments({"judgments": [{"claim": 1}] * 5_000_000}, 100)
    assert time.monotonic() - started < 2  # the event loop is not held while five million are walked


def test_cap_tool_result_keeps_short_answers_and_cuts_on_a_character_boundary():
    short = types.CallToolResult(content=[types.TextContent(type="text", text="ok")])
    assert cap_tool_result(short, 10_000) is short
    long = types.CallToolResult(content=[types.TextContent(type="text", text="ü" * 10_000)])
    text = cap_tool_result(long, 1_000).content[0].text
    assert len(text.encode()) <= 1_000 and text.startswith("ü") and "max_answer_bytes" in text


def test_cap_prompt_result_cuts_text_messages():
    result = types.GetPromptResult(messages=[types.PromptMessage(
        role="user", content=types.TextContent(type="text", text="p" * 20_000))])
    text = cap_prompt_result(result, 10_000).messages[0].content.text
    assert len(text.encode()) <= 10_000 and "[cut:" in text


async def test_protocol_errors_do_not_echo_a_huge_hostile_input(tmp_path):
    from mcp import MCPError

    mcp = build_server(settings(tmp_path))
    async with Client(mcp) as client:
        for call in (lambda: client.read_resource("skill://" + "x" * 100_000),
                     lambda: client.read_resource("nope:" + "x" * 100_000),
                     lambda: client.get_prompt("p" * 1_000_000),
                     lambda: client.list_prompts(cursor="c" * 1_000_000)):
            with pytest.raises(MCPError) as raised:
                await call()
            assert len(raised.value.error.message) < 1_200, raised.value.error.message[:300]


async def test_a_call_that_waited_for_a_slot_gets_only_what_is_left_of_its_limit():
    # The second security audit: the deadline started when the slot came free, so a call answered
    # "took too long" at its limit went on for a whole new limit in its thread, holding the slot.
    from skilldeck.server.limits import CallTookTooLong, run_with_time_limit
    from skilldeck.tools.deadline import TimeLimitError, check

    slots = anyio.Semaphore(1)
    stopped_at: dict[str, float] = {}

    def spin(name: str) -> None:  # work in a worker thread, which no cancellation reaches
        try:
            while True:
                check()
                time.sleep(0.01)
        except TimeLimitError:
            stopped_at[name] = time.monotonic()
            raise

    async with anyio.create_task_group() as tg:
        begun = time.monotonic()

        async def call(name: str) -> None:
            # The caller's limit and the engine's deadline end at the same moment: whichever is seen
            # first answers (the engine's own "passed the call's time limit" or the server's).
            with pytest.raises((CallTookTooLong, TimeLimitError)):
                await run_with_time_limit(name, 1.0, lambda: anyio.to_thread.run_sync(spin, name), tg.start_soon,
                                          slots)

        tg.start_soon(call, "first")
        await anyio.sleep(0.2)
        tg.start_soon(call, "second")
    # The second waits for the first's slot (about 1 s), then stops at its own limit (1.2 s), not 1 s later.
    assert stopped_at["first"] - begun < 1.3
    assert stopped_at.get("second", begun) - begun < 1.5, stopped_at["second"] - begun


async def test_a_call_waiting_for_a_job_lends_its_slot_and_never_gives_back_two():
    """Sixteen batch_status(wait_s=600) calls held every slot while they slept: all other calls were refused."""
    from skilldeck.server.limits import run_with_time_limit, slot_lent

    slots = anyio.Semaphore(1)
    order: list[str] = []

    async def waiter() -> str:
        async with slot_lent():
            await anyio.sleep(0.5)
        order.append("waiter woke")
        return "waited"

    async def quick() -> str:
        order.append("quick ran")
        return "quick"

    async with anyio.create_task_group() as tg:
        results: dict[str, str] = {}

        async def call(name, fn, limit):
            results[name] = await run_with_time_limit(name, limit, fn, tg.start_soon, slots)

        tg.start_soon(call, "waiter", waiter, 5.0)
        await anyio.sleep(0.1)
        tg.start_soon(call, "quick", quick, 0.3)  # refused "not started" if the sleeping waiter held the slot
    assert results == {"waiter": "waited", "quick": "quick"} and order == ["quick ran", "waiter woke"]
    assert slots.value == 1  # every slot taken was given back once


async def test_a_call_cancelled_while_taking_its_slot_back_gives_nothing_back():
    from skilldeck.server.limits import CallTookTooLong, run_with_time_limit, slot_lent

    slots = anyio.Semaphore(1)

    async def waiter() -> None:
        async with slot_lent():
            await anyio.sleep(0.1)

    async def hog() -> None:
        await anyio.sleep(1.0)

    async with anyio.create_task_group() as tg:
        async def call(fn, limit):
            with contextlib.suppress(CallTookTooLong):
                await run_with_time_limit("call", limit, fn, tg.start_soon, slots)

        tg.start_soon(call, waiter, 0.4)  # lends its slot, then cannot take it back before its limit
        await anyio.sleep(0.05)
        tg.start_soon(call, hog, 2.0)
    assert slots.value == 1
