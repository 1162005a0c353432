"""A claim that copies an evidence sentence but swaps one uncommon word is unsure, not supported."""

from skilldeck.tools.verify import VerifyOptions, verify_answer
from skilldeck.tools.verify.checks import check_swapped_word
from skilldeck.tools.verify.judge import build_packets

ROBOT = ("Scientists are working towards building a robot that thinks, senses and acts just like a honeybee. "
         "Professor James Marshall said the team had studied insect brains for years. "
         "Elsewhere in the zoo, a boa was moved to a new enclosure.")


def test_a_swapped_uncommon_word_fires_and_names_both_words():
    [signal] = check_swapped_word("Scientists are building a robot that senses and acts just like a boa.",
                                  [ROBOT.split(". ")[0]])
    assert signal.name == "word_swapped" and signal.doubt and not signal.contradicts
    assert "'boa'" in signal.detail and "honeybee" in signal.detail
    assert signal.to_dict()["doubt"] is True
    # The claim ends at the swap while the sentence goes on (a run-on sentence, or a clause cut off).
    run_on = ROBOT.split(". ")[0] + " Professor James Marshall said insect brains were studied"
    assert check_swapped_word("Scientists are building a robot that senses and acts just like a boa.", [run_on])


def test_paraphrases_forms_numbers_and_loose_claims_do_not_fire():
    sentence = "The striker confirmed on Friday that he will leave the club at the end of the season."
    assert check_swapped_word("The striker said on Friday that he will leave the club.", [sentence]) == []  # common
    assert check_swapped_word("The striker confirmed on Friday that he will leave the clubs.", [sentence]) == []
    assert check_swapped_word("The striker confirmed on Monday that he will leave the club.",
                              ["The striker confirmed on 12 May that he will leave the club."]) == []  # number check's
    # A claim that does not follow any one sentence is coverage's business, not this check's.
    assert check_swapped_word("A honeybee brain inspired the zoo enclosure design.", [sentence]) == []
    assert check_swapped_word("anything", []) == []


def test_the_claim_is_unsure_for_a_judge_while_the_lexical_lean_stays():
    claim = "Scientists are working towards building a robot that thinks, senses and acts just like a boa."
    report = verify_answer(claim, evidence=[ROBOT])
    [result] = [c for c in report.claims if c.claim.check_worthy]
    assert result.outcome == "unsure" and result.lean == "supported"
    assert any(s.name == "word_swapped" for s in result.signals)
    assert [p.text for p in build_packets(report.claims)] == [result.claim.text]  # the judge is asked
    assert any("says 'boa' where it has 'honeybee'" in reason for reason in report.reasons)
    assert verify_answer(claim, evidence=[ROBOT], options=VerifyOptions(risk="high")).status == "rejected"

    right = verify_answer(claim.replace("boa", "honeybee"), evidence=[ROBOT])
    assert [c.outcome for c in right.claims if c.claim.check_worthy] == ["supported"]


FILM = ("Serendipity is a 2001 American romantic comedy film directed by Peter Chelsom, written by Marc Klein. "
        "Lucy Gordon had a small role in Serendipity.")


def test_a_role_the_evidence_gives_to_someone_else_is_a_doubt():
    from skilldeck.tools.verify.checks import check_roles

    first = FILM.split(". ")[0]
    [signal] = check_roles("Lucy Gordon directed Serendipity.", [first], FILM)
    assert signal.name == "role_mismatch" and signal.doubt and "Peter Chelsom" in signal.detail
    assert check_roles("Serendipity was directed by Lucy Gordon.", [first], FILM)  # the passive form too
    assert check_roles("Peter Chelsom directed Serendipity.", [first], FILM) == []
    assert check_roles("Serendipity was written by Marc Klein.", [first], FILM) == []
    # Another role, or a role the window does not state, is not this check's.
    assert check_roles("Lucy Gordon produced Serendipity.", [first], FILM) == []
    # Named anywhere in the evidence with that role: two directors, the window naming one.
    both = FILM + " It was also directed by Lucy Gordon, uncredited."
    assert check_roles("Lucy Gordon directed Serendipity.", [first], both) == []

    only_roles = "Serendipity is a 2001 film directed by Peter Chelsom. Lucy Gordon was born in 1980."
    [result] = [c for c in verify_answer("Lucy Gordon directed Serendipity.", evidence=[only_roles]).claims
                if c.claim.check_worthy]
    assert result.outcome == "unsure" and [s.name for s in result.signals] == ["role_mismatch"]


def test_support_joined_from_two_distant_sentences_of_one_source_is_a_doubt():
    filler = " ".join(f"Paragraph {i} is about the weather in the harbour town." for i in range(6))
    article = ("Princess Eugenie is working in New York at an art gallery. " + filler +
               " She wore a black bowler hat for the second day in a row.")
    claim = "Princess Eugenie is working in New York for the second day in a row."
    [result] = [c for c in verify_answer(claim, evidence=[article]).claims if c.claim.check_worthy]
    assert result.lean == "supported" and result.outcome == "unsure"
    assert [s.name for s in result.signals] == ["scattered_support"]

    # The same two sentences side by side are a local run: no doubt from this check.
    near = "Princess Eugenie is working in New York at an art gallery. She has worn a bowler for the second day in a row."
    [close] = [c for c in verify_answer(claim, evidence=[near]).claims if c.claim.check_worthy]
    assert all(s.name != "scattered_support" for s in close.signals)



def test_a_far_sentence_that_adds_only_one_word_to_a_local_run_is_no_doubt():
    """An answer about an article often takes one word from elsewhere; the doubt is for a phrase
    moved from another part ("for the second day in a row": three words)."""
    import dataclasses

    from skilldeck.tools.verify.support import check_scattered

    article = "Spell the rule out once, right next to the few-shot examples. Paragraph two. Say it explicitly."
    [result] = [c for c in verify_answer("Spell the rule out explicitly next to the examples.", evidence=[article]).claims
                if c.claim.check_worthy]
    first = result.citations[0]
    far = [first, dataclasses.replace(first, position=first.position + 10)]  # same source, 10 sentences on
    assert check_scattered(far, local=0.8, coverage=0.95, added=1) == []
    assert check_scattered(far, local=0.8, coverage=0.95, added=2)
