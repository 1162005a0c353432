"""Risk modes, fail-closed paths, the grounded rewrite and bad input."""

import math

import pytest

from skilldeck.tools.errors import InvalidInputError, NotFoundError
from skilldeck.tools.verify import AnswerTooLargeError, VerifyOptions, verify_answer

EVIDENCE = ["Aspirin was first synthesised by Felix Hoffmann at Bayer in 1897. "
            "It is used to reduce pain, fever and inflammation."]
GOOD = "Felix Hoffmann synthesised aspirin at Bayer in 1897. Aspirin is used to reduce fever."
MIXED = GOOD + " It cures diabetes in 90% of patients."
HIGH = VerifyOptions(risk="high")


def test_normal_mode_reports_partial_support_and_marks_the_unsupported_sentence():
    report = verify_answer(MIXED, EVIDENCE)
    assert report.status == "partially_supported" and 0 < report.score < 1
    assert report.rewrite.endswith("It cures diabetes in 90% of patients. [unsupported]")
    assert report.to_dict()["counts"]["supported"] == 2


def test_high_mode_accepts_a_fully_supported_answer():
    report = verify_answer(GOOD, EVIDENCE, options=HIGH)
    assert report.status == "accepted" and report.reasons == [] and report.rewrite == GOOD


def test_high_mode_rejects_any_unsupported_claim_and_removes_it():
    report = verify_answer(MIXED, EVIDENCE, options=HIGH)
    assert report.status == "rejected" and not report.supported
    assert any("claim 2 is unsupported" in r for r in report.reasons)
    assert report.rewrite == GOOD


def test_high_mode_fails_closed_without_evidence():
    report = verify_answer(GOOD, [], options=HIGH)
    assert report.status == "rejected" and report.score == 0.0
    assert "no evidence was given" in report.reasons[0]


def test_high_mode_rejects_an_unreadable_evidence_file_instead_of_raising(tmp_path):
    report = verify_answer(GOOD, paths=["missing.md"], options=HIGH, base_dir=tmp_path)
    assert report.status == "rejected" and "evidence could not be read" in report.reasons[0]
    with pytest.raises(NotFoundError):
        verify_answer(GOOD, paths=["missing.md"], base_dir=tmp_path)


def test_an_answer_without_claims_is_never_a_silent_pass():
    for text in ("", "Is aspirin safe? Maybe."):
        high = verify_answer(text, EVIDENCE, options=HIGH)
        assert high.status == "rejected" and "no check-worthy claim" in " ".join(high.reasons)
        normal = verify_answer(text, EVIDENCE)
        assert normal.status == "no_claims" and normal.score == 0.0 and not math.isnan(normal.score)


def test_high_mode_rejects_on_an_answer_level_signal_alone():
    report = verify_answer("Recently, Felix Hoffmann synthesised aspirin at Bayer.", EVIDENCE, options=HIGH)
    assert report.status == "rejected" and any(r.startswith("unanchored time") for r in report.reasons)


def test_rewrite_remove_drops_bullets_left_empty():
    answer = "- Aspirin reduces fever.\n- Aspirin was invented in 1950 by NASA."
    report = verify_answer(answer, EVIDENCE, options=VerifyOptions(rewrite="remove"))
    assert report.rewrite == "- Aspirin reduces fever."


def test_report_dict_is_json_ready_with_citations():
    import json

    data = json.loads(json.dumps(verify_answer(GOOD, [{"id": "label", "source": "leaflet", "text": EVIDENCE[0]}])
                                 .to_dict()))
    cite = data["claims"][0]["citations"][0]
    assert cite["evidence_id"] == "label" and cite["source"] == "leaflet"
    assert EVIDENCE[0][cite["start"]:cite["end"]] == cite["quote"]


def test_bad_inputs_get_clear_errors():
    with pytest.raises(InvalidInputError, match="answer must be a string, got int"):
        verify_answer(42, EVIDENCE)
    with pytest.raises(InvalidInputError, match="risk 'extreme'"):
        verify_answer(GOOD, EVIDENCE, options=VerifyOptions(risk="extreme"))
    with pytest.raises(InvalidInputError, match="question must be a string"):
        verify_answer(GOOD, EVIDENCE, question=["why"])
    with pytest.raises(InvalidInputError, match="expected a string or an object"):
        verify_answer(GOOD, [b"bytes"], options=HIGH)  # wrong types raise even in high mode


def test_huge_answer_hits_the_size_limit_with_a_message():
    with pytest.raises(AnswerTooLargeError, match="limit is 1,000.*in parts"):
        verify_answer("word " * 300, EVIDENCE, options=VerifyOptions(max_answer_chars=1000))


def test_a_bare_yes_is_checked_as_the_statement_the_question_asks_about():
    evidence = ["Wenling is a city in Zhejiang, China. Xinzheng is a city in Henan, China."]
    q = "Are Wenling and Xinzheng both in China?"
    assert verify_answer("Yes.", evidence, question=q).status == "supported"
    assert verify_answer("yes", evidence, question="Are Wenling and Xinzheng both in Japan?").status != "supported"
    assert verify_answer("yes", evidence).status != "supported"  # no question: nothing to affirm


def test_a_bare_no_stands_only_where_the_evidence_contradicts_the_statement():
    evidence = ["The Watercolor was released in 2009. Up was released in 2009."]
    assert verify_answer("No.", evidence, question="Was The Watercolor released in 2010?").status == "supported"
    unsure = verify_answer("no", evidence, question="Was The Watercolor a success?")
    assert unsure.status == "unsure" and unsure.claims[0].outcome == "unsure"  # related evidence, no denial
    assert "denial_unsupported" in {s.name for c in unsure.claims for s in c.signals}
    strict = verify_answer("no", evidence, question="Was The Watercolor a success?", options=VerifyOptions(risk="high"))
    assert strict.status == "rejected"  # high risk: unsure fails closed
    unrelated = verify_answer("no", ["Bees make honey."], question="Was The Watercolor a success?")
    assert unrelated.claims[0].outcome == "not_supported" and unrelated.claims[0].reason == "denial_unsupported"


def test_window_choice_is_exact_so_ties_do_not_depend_on_set_order():
    # 0.1 + 0.3 + 1.3 is 1.7000000000000002 in plain float sums, more than 1.7: float rounding that
    # depends on set order once flipped verdicts between runs (hash seeds). Exact sums keep a tie a tie.
    from skilldeck.tools.verify.evidence import EvidenceSet, EvidenceItem
    from skilldeck.tools.verify.support import _best_window, _hits

    ev = EvidenceSet([EvidenceItem("e1", "e1", "Delta here. Alpha beta gamma here.")])
    first, second = ev.sentences
    needed = {"alpha": 0.1, "beta": 0.3, "gamma": 1.3, "delta": 1.7}
    variants = {w: frozenset({w}) for w in needed}
    assert _best_window(needed, _hits(variants, [first, second]), 1, 0.5) == [first]
