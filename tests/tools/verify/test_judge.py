"""The judge contract: packets, strict JSON verdicts, one repair pass, never a pass on failure."""

import json

import anyio
import httpx2
import pytest

from skilldeck.tools.errors import NotFoundError
from skilldeck.tools.verify import VerifyOptions, verify_answer_async
from skilldeck.tools.verify.errors import JudgeError
from skilldeck.tools.verify.judge import Judgement, LLMJudge, Packet, http_completer, parse_verdicts
from skilldeck.tools.verify.verifier import judge_targets, prepare

EVIDENCE = ["The museum opened in 1902 and holds 40,000 paintings. Its director is Ana Ruiz."]
# "vast art collection" is a paraphrase of 40,000 paintings: open to a judge; 1903 fails the number check.
ANSWER = "The museum is home to a vast art collection. It opened in 1903."


def run(coro_fn, *args, **kw):
    return anyio.run(lambda: coro_fn(*args, **kw))


def packets(n=1):
    prepared = prepare("x", ["The museum opened in 1902."])
    sentence = prepared.evidence.sentences[0]
    return [Packet(i, f"claim {i}", [sentence, sentence]) for i in range(n)]


def reply(*verdicts, evidence=(1,)):
    return json.dumps({"verdicts": [{"claim": i, "verdict": v, "evidence": list(evidence)}
                                    for i, v in enumerate(verdicts)]})


def test_parse_accepts_the_contract_a_code_fence_and_old_verdict_names():
    found, problems = parse_verdicts(reply("supported", "contradicted"), packets(2))
    assert not problems and found[0] == Judgement("supported", (1,)) and found[1].verdict == "contradicted"
    found, problems = parse_verdicts("```json\n" + reply("unsupported") + "\n```", packets())
    assert not problems and found[0].verdict == "not_supported"


@pytest.mark.parametrize("bad, problem", [
    ("Sure! Here you go", "not valid JSON"),
    ('{"verdict": []}', '"verdicts" list'),
    ('{"verdicts": [{"claim": 0, "verdict": "true"}]}', "'true' for claim 0"),
    ('{"verdicts": [{"claim": 3, "verdict": "supported", "evidence": [1]}]}', "claim number 3"),
    ('{"verdicts": []}', "no valid verdict for claim(s) 0"),
    ('{"verdicts": [{"claim": 0, "verdict": "supported"}]}', "names no evidence span"),
    ('{"verdicts": [{"claim": 0, "verdict": "supported", "evidence": [9]}]}', "span numbers from 1 to 2"),
    ('{"verdicts": [{"claim": 0, "verdict": "supported", "evidence": [1], "confidence": 7}]}', "confidence 7"),
])
def test_parse_names_the_broken_part_and_leaves_the_claim_undecided(bad, problem):
    found, problems = parse_verdicts(bad, packets())
    assert 0 not in found and any(problem in p for p in problems)


def test_one_repair_pass_fixes_a_broken_reply_and_a_second_failure_decides_nothing():
    prompts = []

    async def flaky(system, prompt):
        prompts.append(prompt)
        return "I think it's supported." if len(prompts) == 1 else reply("supported")

    found, notes = run(LLMJudge(flaky).judge, packets())
    assert found[0].verdict == "supported" and not notes
    assert "broke the JSON contract: not valid JSON" in prompts[1]

    async def hopeless(system, prompt):
        return "no"

    found, notes = run(LLMJudge(hopeless).judge, packets())
    assert found == {} and "twice" in notes[0]


def test_http_completer_posts_chat_completions_through_the_injected_client():
    seen = {}

    def handler(request):
        seen["body"] = json.loads(request.content)
        seen["auth"] = request.headers.get("authorization")
        return httpx2.Response(200, json={"choices": [{"message": {"content": reply("supported")}}]})

    async def go():
        async with httpx2.AsyncClient(transport=httpx2.MockTransport(handler)) as client:
            judge = LLMJudge(http_completer(client, "https://llm.test/v1/chat/completions", "m1", api_key="k"))
            return await judge.judge(packets())

    found, _ = anyio.run(go)
    assert found[0].verdict == "supported"
    assert seen["body"]["model"] == "m1" and seen["auth"] == "Bearer k"
    assert '"claim": 0, "text": "claim 0"' in seen["body"]["messages"][1]["content"]


def test_http_errors_become_judge_errors():
    async def go():
        transport = httpx2.MockTransport(lambda r: httpx2.Response(503, text="overloaded"))
        async with httpx2.AsyncClient(transport=transport) as client:
            await LLMJudge(http_completer(client, "https://llm.test/x", "m")).judge(packets())

    with pytest.raises(JudgeError, match="HTTP 503: overloaded"):
        anyio.run(go)


class Scripted:
    """An async judge answering every packet it is shown with one verdict."""

    name = "fake-llm"

    def __init__(self, verdict="supported", raw=None):
        self.verdict, self.raw, self.seen = verdict, raw, []

    async def judge(self, shown):
        self.seen += shown
        if self.raw is not None:
            return parse_verdicts(self.raw, shown)
        return {p.claim: Judgement(self.verdict, (1,), "paraphrase") for p in shown}, []


def test_judge_decides_open_claims_but_never_a_failed_hard_check():
    judge = Scripted("supported")
    report = run(verify_answer_async, ANSWER, EVIDENCE, judge=judge)
    first, second = report.claims
    assert report.backend == "lexical+fake-llm" and [p.claim for p in judge.seen] == [0]
    assert first.verdict == "supported" and first.judged_by == "fake-llm" and first.citations
    assert second.verdict == "contradicted"  # 1903 vs 1902: the number check stands, and no judge saw it


def test_a_judge_that_returns_garbage_never_turns_a_claim_into_a_pass():
    for raw in ("garbage", '{"verdicts": [{"claim": 0, "verdict": "supported"}]}', '{"verdicts": "all fine"}'):
        report = run(verify_answer_async, ANSWER, EVIDENCE, options=VerifyOptions(risk="high"), judge=Scripted(raw=raw))
        assert report.status == "rejected" and report.claims[0].outcome != "supported"


def test_judge_targets_skip_settled_and_hard_failed_claims():
    prepared = prepare("The museum opened in 1902. " + ANSWER, EVIDENCE)
    assert [r.claim.index for r in judge_targets(prepared)] == [1]


def test_a_reply_nested_past_the_parser_leaves_every_claim_undecided():
    # From the code review: a RecursionError escaped parse_verdicts as an internal error.
    found, problems = parse_verdicts("[" * 100_000 + "]" * 100_000, packets())
    assert found == {} and any("nested too deeply" in p for p in problems)


def test_open_host_verifications_are_bounded_by_the_evidence_they_keep():
    """Ten host verifications of 4 MB of evidence each held 790 MB for an hour."""
    from skilldeck.tools.verify.ledger import JudgmentLedger

    ledger = JudgmentLedger(max_evidence_chars=50_000)
    evidence = ["The Hubble Space Telescope was launched in 1990 aboard Space Shuttle Discovery. " * 250]  # 20 KB
    idents = []
    for _ in range(4):
        handoff = ledger.open(prepare("Hubble was put into orbit by Discovery.", evidence))  # left unsure
        idents.append(handoff.get("verification_id"))
    assert all(idents) and len(ledger._open) == 2  # the two oldest went first
    with pytest.raises(NotFoundError, match="expired"):
        ledger.record(idents[0], [])
    assert ledger.record(idents[-1], []).claims


@pytest.mark.timeout(20)
def test_a_fence_of_blanks_from_a_hostile_judge_is_refused_at_once():
    # A reply of ``` and 6,000 blanks held the server (and its GIL) for minutes in a backtracking regex.
    found, problems = parse_verdicts("```json" + " " * 100_000 + "x", packets())
    assert found == {} and "not valid JSON" in problems[0]
    found, _ = parse_verdicts("```json\n" + reply("contradicted") + "\n```", packets())
    assert found[0].verdict == "contradicted"


def test_a_claim_given_two_verdicts_gets_neither():
    # A judge that said "supported" and then "contradicted" passed the claim on its first word.
    both = json.dumps({"verdicts": [{"claim": 0, "verdict": "supported", "evidence": [1]},
                                    {"claim": 0, "verdict": "contradicted"},
                                    {"claim": 0, "verdict": "supported", "evidence": [2]}]})
    found, problems = parse_verdicts(both, packets())
    assert found == {} and problems == ["claim 0 has more than one verdict", "no valid verdict for claim(s) 0"]
    # A second say that breaks the contract (a span that does not exist, a confidence of 2) counts too.
    for second in ({"claim": 0, "verdict": "contradicted", "evidence": [99]},
                   {"claim": 0, "verdict": "contradicted", "confidence": 2}):
        found, problems = parse_verdicts(json.dumps({"verdicts": [
            {"claim": 0, "verdict": "supported", "evidence": [1]}, second]}), packets())
        assert found == {} and problems[-1] == "no valid verdict for claim(s) 0"


def test_open_host_verifications_are_bounded_by_the_claims_they_keep():
    """64 host verifications of 3,000 short claims each held 790 MB for an hour, their evidence small."""
    from skilldeck.tools.verify.ledger import JudgmentLedger

    ledger = JudgmentLedger(max_claims=50)
    answer = "Hubble was put into orbit by Discovery. " * 20  # 20 claims, left unsure
    idents = [ledger.open(prepare(answer, EVIDENCE + ["Hubble was launched aboard Discovery."]))["verification_id"]
              for _ in range(4)]
    assert len(ledger._open) == 2  # the two oldest went first
    with pytest.raises(NotFoundError, match="expired"):
        ledger.record(idents[1], [])
    assert ledger.record(idents[-1], []).claims


def test_a_judges_huge_values_are_named_short():
    # A 3 MB claim number came back in the notes and pushed the report past the answer limit, cut
    # (a reply that long is now refused unread: these 90 KB values fit in one).
    bad = json.dumps({"verdicts": [{"claim": "A" * 90_000, "verdict": "supported"},
                                   {"claim": 0, "verdict": "B" * 90_000}]})
    found, problems = parse_verdicts(bad, packets())
    assert found == {} and len(problems) == 3 and max(map(len, problems)) < 200


def test_an_oversized_reply_is_refused_unread():
    # 15 MB of a million entries took 500 MB and 7 s of the GIL to refuse one entry at a time.
    found, problems = parse_verdicts(json.dumps({"verdicts": [{"claim": 99}] * 1_000_000}), packets())
    assert found == {} and "over 200,000" in problems[0]
    found, problems = parse_verdicts({"verdicts": [{"claim": 0, "verdict": "supported", "evidence": [1]}] * 13},
                                     packets())
    assert found == {} and problems == ["the reply has 13 verdicts for 1 claim(s): give one per claim"]
