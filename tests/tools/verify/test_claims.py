"""Claim splitting: offsets, structure, clauses and check-worthiness."""

from skilldeck.tools.verify import extract_claims, split_claims


def test_every_claim_carries_offsets_into_the_answer():
    text = "Paris is the capital of France. It has 2.1 million residents.\n\n- The Seine flows through it."
    claims = split_claims(text)
    assert [c.text for c in claims] == ["Paris is the capital of France.", "It has 2.1 million residents.",
                                        "The Seine flows through it."]
    assert all(text[c.start:c.end] == c.text for c in claims)


def test_table_rows_are_claims_and_rule_lines_are_skipped():
    text = "| city | population |\n|---|---|\n| Paris | 2.1 million |"
    claims = split_claims(text)
    assert [c.text for c in claims] == ["city | population", "Paris | 2.1 million"]


def test_semicolon_and_comma_and_split_separate_facts_but_not_lists():
    joined = split_claims("The tower opened in 1889; it was built by Gustave Eiffel's company.")
    assert len(joined) == 2 and joined[1].text == "it was built by Gustave Eiffel's company."
    facts = split_claims("Obama was born in Hawaii, and he served two terms as president.")
    assert [c.text for c in facts] == ["Obama was born in Hawaii", "he served two terms as president."]
    listing = split_claims("She speaks French, German and Italian.")
    assert len(listing) == 1
    subjects = split_claims("Obama was born in Hawaii and he served two terms.")
    assert [c.text for c in subjects] == ["Obama was born in Hawaii", "he served two terms."]
    assert len(split_claims("He studied physics and the arts in Paris.")) == 1


def test_questions_hedges_opinions_and_meta_lines_are_not_check_worthy():
    text = ("Is it safe? I think it might be fine. You should ask a doctor.\nNote: sources vary.\n"
            "TL;DR: honey is sugar.\nHoney is mostly fructose and glucose.")
    reasons = {c.text: c.reason for c in split_claims(text)}
    assert reasons["Is it safe?"] == "question"
    assert reasons["I think it might be fine."] == "hedged"
    assert reasons["You should ask a doctor."] == "opinion or advice"
    assert reasons["Note: sources vary."] == "meta line"
    assert reasons["TL;DR: honey is sugar."] == "meta line"
    assert reasons["Honey is mostly fructose and glucose."] == ""


def test_abbreviations_do_not_end_a_claim():
    claims = extract_claims("Dr. Smith met Thomas K. Arnold in the U.S. in 1991. They talked.")
    assert [c.text for c in claims] == ["Dr. Smith met Thomas K. Arnold in the U.S. in 1991.", "They talked."]
