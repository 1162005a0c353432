"""The LLM judge: strict JSON contract, one repair pass, HTTP provider through an injected client."""

import json

import anyio
import httpx2
import pytest

from skilldeck.tools.verify import verify_answer_async
from skilldeck.tools.verify.errors import JudgeError
from skilldeck.tools.verify.judge import LLMJudge, http_completer, parse_verdicts

EVIDENCE = ["The museum opened in 1902 and holds 40,000 paintings. Its director is Ana Ruiz."]


def run(coro_fn, *args, **kw):
    return anyio.run(lambda: coro_fn(*args, **kw))


def reply(*verdicts):
    return json.dumps({"verdicts": [{"claim": i, "verdict": v, "confidence": 0.9} for i, v in enumerate(verdicts)]})


def test_parse_accepts_the_contract_and_a_code_fence():
    assert parse_verdicts(reply("supported", "contradicted"), 2) == [("supported", 0.9), ("contradicted", 0.9)]
    assert parse_verdicts("```json\n" + reply("unsupported") + "\n```", 1) == [("unsupported", 0.9)]


@pytest.mark.parametrize("bad, problem", [
    ("Sure! Here you go", "not valid JSON"),
    ('{"verdict": []}', '"verdicts" list'),
    ('{"verdicts": [{"claim": 0, "verdict": "true"}]}', "'true' for claim 0"),
    ('{"verdicts": [{"claim": 3, "verdict": "supported"}]}', "claim number 3"),
    ('{"verdicts": []}', "no verdict for claim(s) 0"),
    ('{"verdicts": [{"claim": 0, "verdict": "supported", "confidence": 7}]}', "confidence 7"),
])
def test_parse_names_the_broken_part_of_the_contract(bad, problem):
    with pytest.raises(ValueError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        parse_verdicts(bad, 1)


def test_one_repair_pass_fixes_a_broken_reply_and_a_second_failure_raises():
    prompts = []

    async def flaky(system, prompt):
        prompts.append(prompt)
        return "I think it's supported." if len(prompts) == 1 else reply("supported")

    assert run(LLMJudge(flaky).judge, [("evidence", "claim")]) == [("supported", 0.9)]
    assert "broke the JSON contract: not valid JSON" in prompts[1]

    async def hopeless(system, prompt):
        return "no"

    with pytest.raises(JudgeError, match="twice"):
        run(LLMJudge(hopeless).judge, [("evidence", "claim")])


def test_http_completer_posts_chat_completions_through_the_injected_client():
    seen = {}

    def handler(request):
        seen["body"] = json.loads(request.content)
        seen["auth"] = request.headers.get("authorization")
        return httpx2.Response(200, json={"choices": [{"message": {"content": reply("supported")}}]})

    async def go():
        async with httpx2.AsyncClient(transport=httpx2.MockTransport(handler)) as client:
            judge = LLMJudge(http_completer(client, "https://llm.test/v1/chat/completions", "m1", api_key="k"))
            return await judge.judge([("The museum opened in 1902.", "It opened in 1902.")])

    assert anyio.run(go) == [("supported", 0.9)]
    assert seen["body"]["model"] == "m1" and seen["auth"] == "Bearer k"
    assert "Claim 0: It opened in 1902." in seen["body"]["messages"][1]["content"]


def test_http_errors_become_judge_errors():
    async def go():
        transport = httpx2.MockTransport(lambda r: httpx2.Response(503, text="overloaded"))
        async with httpx2.AsyncClient(transport=transport) as client:
            await LLMJudge(http_completer(client, "https://llm.test/x", "m")).judge([("e", "c")])

    with pytest.raises(JudgeError, match="HTTP 503: overloaded"):
        anyio.run(go)


def test_judge_overrules_coverage_but_never_a_failed_hard_check():
    class Fixed:
        name = "fake-llm"

        def __init__(self, verdicts):
            self.verdicts = verdicts

        async def judge(self, pairs):
            return self.verdicts[:len(pairs)]

    answer = "The museum is home to a vast art collection. It opened in 1903."
    report = run(verify_answer_async, answer, EVIDENCE, judge=Fixed([("supported", 0.8), ("supported", 0.9)]))
    first, second = report.claims
    assert report.backend == "lexical+fake-llm"
    assert first.verdict == "supported" and first.judged_by == "fake-llm"
    assert second.verdict == "contradicted"  # 1903 vs 1902: the number check stands
