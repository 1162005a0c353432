"""Answers as assistants write them about a document: they cite the document itself ("According to
the article"), open sentences with imperatives ("Spell the rule out"), answer "No." before they
explain, and quote code names and model sizes. None of that is evidence against them."""

from skilldeck.tools.verify import verify_answer
from skilldeck.tools.verify.claims import split_claims
from skilldeck.tools.verify.text import entities, split_sentences, without_self_reference

GUIDE = ["Explicitly encode the rule once next to the examples. Keep all examples and instructions under 80% of "
         "the context window. The retry loop runs for attempt in range(MAX_RETRIES) and backs off. The case study "
         "fine-tunes a chat-tuned 7B model. Make clinician override first-class, not an afterthought."]


def signal_names(answer: str, evidence=GUIDE) -> set[str]:
    report = verify_answer(answer, evidence)
    return {s.name for c in report.claims for s in c.signals}


def test_an_imperative_opener_is_not_a_name_but_a_real_one_still_is():
    assert entities("Spell the rule out once.") == () and entities("Typical LoRA settings follow.") == ("LoRA",)
    assert "entity_absent" not in signal_names("Spell the rule out once next to the examples.")
    assert entities("Google encodes the rule once.") == ("Google",)
    assert "entity_absent" in signal_names("Google encodes the rule once next to the examples.")


def test_a_model_size_is_not_the_name_b_and_a_code_name_is_found_in_code():
    assert entities("It fine-tunes a 7B model in the UK.") == ("UK",)
    assert "entity_absent" not in signal_names("The loop makes up to MAX_RETRIES attempts and backs off.")
    assert "entity_absent" in signal_names("The loop makes up to TIMEOUT_SECONDS attempts and backs off.")


def test_the_document_the_answer_cites_is_the_evidence_itself():
    plain = "Keep all examples and instructions under 80% of the context window."
    for framed in (f"According to the article, {plain[0].lower()}{plain[1:]}", f"The author says {plain}",
                   f"As the guide notes, {plain[0].lower()}{plain[1:]}"):
        assert without_self_reference(framed).rstrip(".").lower() == plain.rstrip(".").lower()
        assert verify_answer(framed, GUIDE).status == verify_answer(plain, GUIDE).status == "supported"
    assert "attribution_unsourced" not in signal_names("The article frames the rule as something to encode once.")
    # An outside source is still an attribution the evidence must name.
    assert "attribution_unsourced" in signal_names(f"According to a 2023 Stanford study, {plain[0].lower()}{plain[1:]}")


def test_no_then_an_explanation_are_two_claims_and_a_contraction_ends_a_sentence():
    claims = [c.text for c in split_claims("No. A product often serves 80% of calls on a cheaper tier.")]
    assert claims[0] == "No." and claims[1].startswith("A product")
    assert [c.text for c in split_claims("See No. 5 for details.")] == ["See No. 5 for details."]
    text = "It didn’t. The Economist chose TACO."
    assert [text[a:b] for a, b in split_sentences(text)] == ["It didn’t.", "The Economist chose TACO."]



LIST = ["## Dynamic contracts\n\nA dynamic contract is not the absence of rules. It means:\n\n"
        "- goals can be updated,\n- constraints can be tightened or relaxed,\n- the system is monitored continuously,\n"
        "- humans can intervene,\n- accountability is explicit.\n\nThat is the whole idea."]


def test_an_answer_gathering_the_items_of_a_list_is_checked_against_the_whole_list():
    gathered = ("Goals can be updated, constraints tightened or relaxed, the system monitored continuously, "
                "and humans can intervene.")
    result = verify_answer(gathered, LIST).claims[0]
    assert result.lean == "supported" and len(result.citations) >= 3
    invented = ("Goals can be updated, budgets doubled every quarter, vendors audited by regulators, "
                "and humans can intervene.")
    assert verify_answer(invented, LIST).claims[0].lean != "supported"


def test_a_number_in_words_is_covered_by_its_digits_and_the_other_way_round():
    evidence = ["Batch items of the same type (e.g., 20 product blurbs)."]
    words = verify_answer("Batch twenty product blurbs of the same type.", evidence).claims[0]
    assert words.outcome == "supported" and words.missing == []
    digits = verify_answer("Batch 20 product blurbs of the same type.", ["Batch twenty product blurbs of the same type."])
    assert digits.claims[0].outcome == "supported"
    assert verify_answer("Batch thirty product blurbs of the same type.", evidence).claims[0].outcome != "supported"


def test_answer_particles_are_a_yes_or_a_no_not_names_or_claims_of_their_own():
    evidence = ["Batch items of the same type (e.g., 20 product blurbs)."]
    assert verify_answer("Nope.", evidence, question="What is batching?").status == "no_claims"
    assert verify_answer("Yep.", evidence, question="Are blurbs batched by type?").status == "supported"
    denied = verify_answer("Not really.", evidence, question="Are blurbs batched by type?").claims[0]
    assert denied.outcome == "unsure" and "entity_absent" not in {s.name for s in denied.signals}


def test_the_judge_is_shown_every_list_item_a_claim_cites():
    from skilldeck.tools.verify.judge import build_packets

    gathered = ("Goals can be updated, constraints tightened or relaxed, the system monitored continuously, "
                "humans can intervene and accountability is explicit.")
    result = verify_answer(gathered, LIST).claims[0]
    assert len(result.citations) >= 4
    assert len(build_packets([result])[0].spans) == len(result.citations)


def test_many_bare_nos_score_the_question_s_statement_once(monkeypatch):
    from skilldeck.tools.verify import verifier

    calls = []
    score = verifier.score_claim
    monkeypatch.setattr(verifier, "score_claim", lambda text, *a, **k: calls.append(text) or score(text, *a, **k))
    report = verify_answer("No. " * 200, ["Batch items of the same type (e.g., 20 product blurbs)."],
                           question="Are blurbs batched by type?")
    assert len([c for c in report.claims if c.claim.check_worthy]) == 200
    assert calls == ["blurbs batched by type"]
