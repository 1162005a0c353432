"""The verify adapter over the real protocol: in-process client, client sampling, CLI, and `skilldeck serve`."""

import json

import anyio
import mcp.types as types
import pytest
from mcp import Client

from skilldeck.server.app import build_server
from skilldeck.server.cli import main as cli_main
from skilldeck.server.settings import Settings
from tests.server.mcp_client import connect, text_of

pytestmark = pytest.mark.anyio

EVIDENCE = "The Hubble Space Telescope was launched in 1990 aboard Space Shuttle Discovery."
ANSWER = "Hubble was launched in 1990 aboard Space Shuttle Discovery. It was launched by Russia in 1985."


@pytest.fixture
def anyio_backend():
    return "asyncio"


def server():
    return build_server(Settings(watch=False, toolsets=["verify"], user_skills=False, bundled_skills=False))


def data(result):
    assert not result.is_error, text_of(result)
    return result.structured_content or json.loads(text_of(result))


async def test_extract_claims_lists_claims_with_offsets():
    async with Client(server()) as client:
        out = data(await client.call_tool("extract_claims", {"answer": "It rained. Is it sunny?"}))
    assert out["count"] == 2 and out["check_worthy"] == 1 and out["tokens"] > 20
    assert out["claims"][1]["reason"] == "question" and out["claims"][0]["end"] == 10


async def test_verify_answer_reports_verdicts_citations_and_rewrite():
    async with Client(server()) as client:
        out = data(await client.call_tool("verify_answer", {
            "answer": ANSWER, "evidence": [{"id": "nasa", "source": "nasa.gov", "text": EVIDENCE}]}))
    assert out["status"] == "partially_supported"
    assert out["claims"][0]["verdict"] == "supported"
    assert out["claims"][0]["citations"][0]["evidence_id"] == "nasa"
    assert out["claims"][1]["verdict"] == "contradicted"
    assert out["rewrite"].endswith("[contradicted by the evidence]")


async def test_high_risk_without_evidence_is_rejected_and_bad_input_is_a_tool_error():
    async with Client(server()) as client:
        out = data(await client.call_tool("verify_answer", {"answer": ANSWER, "risk": "high"}))
        assert out["status"] == "rejected" and "no evidence" in out["reasons"][0]
        bad = await client.call_tool("verify_answer", {"answer": ANSWER, "paths": ["no/such/file.md"]})
        assert bad.is_error and "no/such/file.md" in text_of(bad) and "does not exist" in text_of(bad)


def sampler(*replies):
    """A client sampling callback that answers with `replies` in turn and records the prompts."""
    asked = []

    async def sampling(context, params: types.CreateMessageRequestParams):
        asked.append(params.messages[0].content.text)
        text = replies[min(len(asked), len(replies)) - 1]
        return types.CreateMessageResult(role="assistant", model="test-model",
                                         content=types.TextContent(type="text", text=text))

    return sampling, asked


CONTRADICTED = json.dumps({"verdicts": [{"claim": 0, "verdict": "contradicted", "reason": "not by Discovery"}]})
OPEN = "Hubble was put into orbit by Discovery."  # related evidence, not settled by the lexical backend
JUDGED = {"answer": OPEN, "evidence": [EVIDENCE], "judge": "client"}


@pytest.mark.parametrize("mode", ["legacy", "auto"])  # mid-call request; 2026-07-28 input-required round trip
async def test_client_judge_samples_the_clients_model_on_both_kinds_of_connection(mode):
    sampling, asked = sampler(CONTRADICTED)
    async with Client(server(), mode=mode, sampling_callback=sampling) as client:
        out = data(await client.call_tool("verify_answer", JUDGED))
    assert len(asked) == 1 and '"text": "Hubble was put into orbit by Discovery."' in asked[0]
    assert out["backend"] == "lexical+client-llm" and out["claims"][0]["verdict"] == "contradicted"
    assert out["claims"][0]["judged_by"] == "client-llm"


async def test_a_broken_reply_gets_one_repair_request_then_the_claim_stays_unsure():
    sampling, asked = sampler("Looks supported to me!", CONTRADICTED)
    async with Client(server(), sampling_callback=sampling) as client:
        out = data(await client.call_tool("verify_answer", JUDGED))
    assert len(asked) == 2 and "broke the JSON contract: not valid JSON" in asked[1]
    assert out["claims"][0]["verdict"] == "contradicted"
    sampling, asked = sampler("no", "still no")
    async with Client(server(), sampling_callback=sampling) as client:
        out = data(await client.call_tool("verify_answer", {**JUDGED, "risk": "high"}))
    assert len(asked) == 2 and "broke the JSON contract twice" in out["notes"][0]
    assert out["claims"][0]["verdict"] == "unsure" and out["status"] == "rejected"


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_verdicts_apply_to_the_evidence_the_clients_model_judged(mode, tmp_path, monkeypatch):
    # The evidence file changes while the client's model is thinking. A mid-call request (legacy)
    # applies the verdict to the evidence the model was shown; the input-required round trip
    # re-reads the file on the retry, and a verdict about the old text is never applied to the new.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "nasa.md").write_text(EVIDENCE, encoding="utf-8")
    sampling, asked = sampler(CONTRADICTED)

    async def editing(context, params):
        (tmp_path / "nasa.md").write_text("Nothing relevant here.", encoding="utf-8")
        return await sampling(context, params)

    async with Client(server(), mode=mode, sampling_callback=editing) as client:
        out = data(await client.call_tool("verify_answer", {**JUDGED, "evidence": None, "paths": ["nasa.md"]}))
    assert len(asked) == 1 and "The Hubble Space Telescope was launched" in asked[0]
    if mode == "legacy":
        assert out["backend"] == "lexical+client-llm" and out["claims"][0]["verdict"] == "contradicted"
        assert out["claims"][0]["citations"][0]["quote"] == EVIDENCE
    else:
        assert out["backend"] == "lexical" and out["claims"][0]["verdict"] == "unsupported"
        assert out["claims"][0]["judged_by"] == "lexical"


async def test_without_client_sampling_the_client_judge_hands_out_host_packets_and_says_so():
    async with Client(server()) as client:
        plain = data(await client.call_tool("verify_answer", JUDGED))
    assert plain["backend"] == "lexical" and "does not support sampling" in plain["note"]
    assert plain["claims"][0]["verdict"] == "unsure" and plain["judgment"]["packets"][0]["claim"] == 0


async def test_host_judge_packets_then_record_judgments_folds_them_into_one_report():
    answer = f"{OPEN} It was launched by Russia in 1985."
    async with Client(server()) as client:
        first = data(await client.call_tool("verify_answer", {"answer": answer, "evidence": [EVIDENCE],
                                                              "judge": "host", "risk": "high"}))
        handoff = first["judgment"]
        assert first["status"] == "rejected" and [p["claim"] for p in handoff["packets"]] == [0]
        packet = handoff["packets"][0]
        assert packet["evidence"][0] == {"n": 1, "cite": "e1#0", "quote": EVIDENCE}
        assert 0 < handoff["tokens_per_claim"] < 200 and "record_judgments" in handoff["instructions"]
        # The model may not overrule a hard check (claim 1: 1985 and Russia), only decide the packet.
        decided = [{"claim": 0, "verdict": "supported", "evidence": [1], "reason": "put into orbit = launched"},
                   {"claim": 1, "verdict": "supported", "evidence": [1]}]
        final = data(await client.call_tool("record_judgments", {"verification_id": handoff["verification_id"],
                                                                 "judgments": decided}))
        assert final["backend"] == "lexical+host-model" and final["claims"][0]["verdict"] == "supported"
        assert final["claims"][0]["citations"][0]["quote"] == EVIDENCE
        assert final["claims"][1]["verdict"] == "contradicted" and final["status"] == "rejected"
        again = await client.call_tool("record_judgments", {"verification_id": handoff["verification_id"],
                                                            "judgments": decided})
        assert again.is_error and "already recorded, has expired" in text_of(again)


async def test_record_judgments_fails_closed_on_garbage_and_on_silence():
    async with Client(server()) as client:
        for judgments in ([], [{"claim": 0, "verdict": "supported"}], [{"claim": 0, "verdict": "yes!"}], [{"claim": "zero"}]):
            out = data(await client.call_tool("verify_answer", {"answer": OPEN, "evidence": [EVIDENCE],
                                                                "judge": "host", "risk": "high"}))
            final = data(await client.call_tool("record_judgments", {
                "verification_id": out["judgment"]["verification_id"], "judgments": judgments}))
            assert final["status"] == "rejected" and final["claims"][0]["verdict"] == "unsure"
            assert "outside the contract" in final["notes"][0]


def test_cli_prints_a_report_and_exits_by_verdict(tmp_path, capsys):
    (tmp_path / "ev.md").write_text(f"# Hubble\n\n{EVIDENCE}\n")
    (tmp_path / "answer.txt").write_text(ANSWER)
    code = cli_main(["verify", "--answer", str(tmp_path / "answer.txt"), "--evidence", str(tmp_path / "*.md")])
    out = capsys.readouterr().out
    assert code == 1 and out.startswith("verdict: partially_supported")
    assert "ev.md:3" in out and "claim says '1985'" in out
    code = cli_main(["verify", "--answer", str(tmp_path / "answer.txt"), "--evidence", str(tmp_path / "ev.md"),
                     "--risk", "high", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 1 and report["status"] == "rejected"
    assert report["rewrite"] == "Hubble was launched in 1990 aboard Space Shuttle Discovery."


def test_cli_names_an_unreadable_answer_file(tmp_path, capsys):
    assert cli_main(["verify", "--answer", str(tmp_path / "missing.txt"), "--evidence", "x.md"]) == 2
    assert "cannot read the answer file" in capsys.readouterr().err


async def test_skilldeck_serve_exposes_verify_tools_end_to_end(tmp_path):
    (tmp_path / "ev.md").write_text(EVIDENCE)
    async with connect("--toolsets", "verify", "--no-user-skills", "--no-bundled-skills", "--no-watch",
                       "--project-dir", str(tmp_path), cwd=tmp_path) as (session, _):
        names = {t.name for t in (await session.list_tools()).tools}
        assert {"extract_claims", "verify_answer"} <= names
        with anyio.fail_after(30):
            result = await session.call_tool("verify_answer", {"answer": ANSWER, "paths": ["ev.md"]})
        out = json.loads(text_of(result))
    assert out["claims"][0]["citations"][0]["line"] == 1 and out["status"] == "partially_supported"


async def test_a_judge_giving_one_claim_two_verdicts_does_not_pass_it_in_high_risk():
    # The first of "supported" and "contradicted" stood, and risk='high' accepted the answer.
    both = [{"claim": 0, "verdict": "supported", "evidence": [1]}, {"claim": 0, "verdict": "contradicted"}]
    sampling, asked = sampler(json.dumps({"verdicts": both}))
    async with Client(server(), sampling_callback=sampling) as client:
        sampled = data(await client.call_tool("verify_answer", {**JUDGED, "risk": "high"}))
        out = data(await client.call_tool("verify_answer", {**JUDGED, "judge": "host", "risk": "high"}))
        hosted = data(await client.call_tool("record_judgments", {
            "verification_id": out["judgment"]["verification_id"], "judgments": both}))
    assert len(asked) == 2 and "more than one verdict" in asked[1]
    for final in (sampled, hosted):
        assert final["status"] == "rejected" and final["claims"][0]["verdict"] == "unsure"
