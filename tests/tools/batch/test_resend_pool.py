"""Re-sent tasks share as few requests (headers) as possible, and are never split without cause."""

import asyncio
import json
import re

import httpx2

from skilldeck.tools.batch import PlanOptions, PromptSpec, ProviderConfig, RateLimiter, RateLimits, Task, make_provider
from skilldeck.tools.batch.journal import Journal
from skilldeck.tools.batch.runner import BatchRunner, RetryPolicy

FAST = RetryPolicy(max_attempts=8, timeout_s=2.0, backoff_base_s=0.02, backoff_cap_s=0.2)


def ok(task_id, echo):
    return {"id": task_id, "echo": echo, "status": "ok", "output": {"answer": f"for {task_id}"}, "reason": ""}


def scripted(answer_for):
    """An async mock transport: `answer_for(ids, echoes, n)` -> (items, finish_reason, output tokens, delay)."""
    sent = []

    async def handler(request):
        body = json.loads(request.content)
        echoes = dict(re.findall(r"^### TASK (.+?) \(echo: ([a-z0-9]+)\)$", body["messages"][1]["content"], re.M))
        ids = list(echoes)
        sent.append(ids)
        items, finish, out_tokens, delay = answer_for(ids, echoes, len(sent))
        await asyncio.sleep(delay)
        return httpx2.Response(200, json={"choices": [{"message": {"content": json.dumps({"results": items})},
                                                       "finish_reason": finish}],
                                          "usage": {"prompt_tokens": 10, "completion_tokens": out_tokens}})

    return handler, sent


def run(tmp_path, handler, tasks, batch_size, concurrency=1):
    async def main():
        async with httpx2.AsyncClient(transport=httpx2.MockTransport(handler)) as client:
            provider = make_provider(ProviderConfig("vllm", "m"), client, environ={})
            runner = BatchRunner(provider, PromptSpec(), PlanOptions(batch_size=batch_size),
                                 RateLimiter(RateLimits(concurrency=concurrency)), Journal(tmp_path / "j.jsonl"), FAST)
            return await asyncio.wait_for(runner.run(tasks), 30), runner.journal

    return asyncio.run(main())


def assert_all_answered_right(journal, tasks):
    for task in tasks:
        assert journal.state.results[task.id]["output"] == {"answer": f"for {task.id}"}, task.id


def test_a_swapped_pair_is_re_sent_together_not_split_into_single_requests(tmp_path):
    def answer(ids, echoes, n):
        items = [ok(i, echoes[i]) for i in ids]
        if n <= 2:  # the first two answers swap a and b (content and echo stay in place)
            ia, ib = ids.index("a"), ids.index("b")
            items[ia]["id"], items[ib]["id"] = "b", "a"
        return items, "stop", 10, 0.0

    handler, sent = scripted(answer)
    tasks = [Task(i, {"x": i}) for i in "abcd"]
    outcome, journal = run(tmp_path, handler, tasks, batch_size=10)
    assert outcome.finished and sent == [list("abcd"), ["a", "b"], ["a", "b"]]
    assert_all_answered_right(journal, tasks)


def cut_after_four(tmp_path, output_tokens: int):
    """Ten tasks in one request whose first answer stops ("length") after four, having used
    `output_tokens`; later answers are whole. Returns (outcome, requests sent, journal, tasks)."""
    def answer(ids, echoes, n):
        if n == 1:
            return [ok(i, echoes[i]) for i in ids[:4]], "length", output_tokens, 0.0
        return [ok(i, echoes[i]) for i in ids], "stop", 10, 0.0

    handler, sent = scripted(answer)
    tasks = [Task(f"t{i}", {"x": i}) for i in range(10)]
    outcome, journal = run(tmp_path, handler, tasks, batch_size=10)
    return outcome, sent, journal, tasks


def test_an_answer_cut_short_of_its_output_budget_re_sends_the_rest_in_one_request(tmp_path):
    # finish_reason "length" after 10 output tokens, far below max_tokens: not a batch too big for
    # its budget, so halving it would only pay one more header.
    outcome, sent, journal, tasks = cut_after_four(tmp_path, 10)
    assert outcome.finished and sent[1:] == [[f"t{i}" for i in range(4, 10)]]
    assert_all_answered_right(journal, tasks)


def test_an_answer_cut_at_its_output_budget_is_still_halved(tmp_path):
    outcome, sent, journal, tasks = cut_after_four(tmp_path, 100_000)
    assert outcome.finished and sorted(map(len, sent[1:])) == [3, 3]
    assert_all_answered_right(journal, tasks)


def test_tasks_re_queued_while_other_requests_are_in_flight_wait_and_share_one_request(tmp_path):
    # Batch {t4..t7} drops t5 at once; batch {t8..t11} drops t9 a moment later. Sending t5 as soon
    # as the queue is empty would pay two headers for two tasks.
    def answer(ids, echoes, n):
        drop = {"t4": ("t5", 0.0), "t8": ("t9", 0.3)}.get(ids[0])
        if drop and n <= 3:
            return [ok(i, echoes[i]) for i in ids if i != drop[0]], "stop", 10, drop[1]
        return [ok(i, echoes[i]) for i in ids], "stop", 10, 0.0

    handler, sent = scripted(answer)
    tasks = [Task(f"t{i}", {"x": i}) for i in range(12)]
    outcome, journal = run(tmp_path, handler, tasks, batch_size=4, concurrency=3)
    assert outcome.finished and len(sent) == 4 and sorted(sent[3]) == ["t5", "t9"], sent
    assert_all_answered_right(journal, tasks)
