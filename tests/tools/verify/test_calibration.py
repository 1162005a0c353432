"""The three outcomes: "supported" needs the claim's word relations, not only its words."""

from skilldeck.tools.verify import VerifyOptions, verify_answer
from skilldeck.tools.verify.calibration import Calibration

ARTICLE = ("The union said it would be seeking urgent talks with Liberty House Group about investment and pensions. "
           "Tata Steel's UK boss said the announcement was an important step forward. "
           "He said the sale of the business to Liberty could now be concluded.")


def _checked(claim: str, calibration: Calibration | None = None):
    options = VerifyOptions(calibration=calibration) if calibration else None
    [result] = [c for c in verify_answer(claim, [ARTICLE], options=options).claims if c.claim.check_worthy]
    return result


def test_words_of_the_source_in_new_relations_are_unsure_not_supported():
    claim = "Tata Steel pensions said investment in the union boss was an urgent step forward."
    result = _checked(claim)
    assert result.lean == "supported" and result.features["pairs"] < 0.5
    assert result.outcome == "unsure"
    # Without the gate the same evidence passes it: the gate, not the probability, decides.
    assert _checked(claim, Calibration(pairs_at=0.0)).outcome == "supported"


def test_a_claim_that_keeps_the_sources_relations_is_supported():
    result = _checked("Tata Steel's UK boss said the announcement was an important step forward.")
    assert result.features["pairs"] == 1.0 and result.outcome == "supported"


def test_weakly_related_evidence_leaves_a_claim_unsure_and_unrelated_evidence_settles_it():
    related = _checked("Talks about pensions will resume next month.")  # talks and pensions, not when
    default = Calibration()
    assert default.unsupported_at < related.probability < default.supported_at and related.outcome == "unsure"
    stricter = _checked("Talks about pensions will resume next month.",
                        Calibration(unsupported_at=related.probability + 0.01))
    assert (stricter.outcome, stricter.reason) == ("not_supported", "missing")
    unrelated = _checked("Liberty plans to invest in new furnaces at the plant.")
    assert unrelated.probability <= default.unsupported_at
    assert (unrelated.outcome, unrelated.reason) == ("not_supported", "missing")


PARK = ("Presque Isle State Park is a 3112 acre Pennsylvania state park on a sandy peninsula that juts into "
        "Lake Erie, 4 mi west of the city of Erie.")


def test_a_name_put_together_from_the_evidences_words_is_doubted():
    [conflated] = [c for c in verify_answer("Lake Erie State Park.", [PARK]).claims if c.claim.check_worthy]
    assert conflated.outcome == "unsure" and [s.name for s in conflated.signals] == ["name_assembled"]
    assert "'Lake Erie State Park'" in conflated.signals[0].detail
    [named] = [c for c in verify_answer("Presque Isle State Park juts into Lake Erie.", [PARK]).claims
               if c.claim.check_worthy]
    assert named.outcome == "supported" and not named.signals
    # A name with a word the evidence lacks is left to coverage and the entity check.
    [absent] = [c for c in verify_answer("Lake Ontario State Park.", [PARK]).claims if c.claim.check_worthy]
    assert "name_assembled" not in {s.name for s in absent.signals}


COUNCIL = ("Sheffield City Council said the cladding at Hanover House had failed new fire safety tests. "
           "Councillor Jayne Dunn said: \"We will not stop until we get to the bottom of what happened.\" "
           "A resident said he felt \"betrayed\" by the council.")


def _one(claim: str, question: str | None = None):
    [result] = [c for c in verify_answer(claim, [COUNCIL], question=question).claims if c.claim.check_worthy]
    return result


def test_a_quotation_the_evidence_never_says_in_those_words_is_doubted():
    made_up = _one('Sheffield City Council said it was "devastated" after Hanover House failed fire safety tests.')
    assert made_up.lean == "supported" and made_up.outcome == "unsure"
    assert [s.name for s in made_up.signals] == ["quote_absent"] and "'devastated'" in made_up.signals[0].detail
    # The same claim without quotation marks makes no promise of the source's words.
    plain = _one("Sheffield City Council said Hanover House had failed new fire safety tests.")
    assert plain.outcome == "supported"
    # Quoted in the source's words, with other word forms and stopwords forgiven; single quotes alike.
    for claim in ('Councillor Jayne Dunn said "we will not stop until we get to the bottom of what happened".',
                  "A resident said he felt 'betrayed' by Sheffield City Council.",
                  'Jayne Dunn said "we will not stop until we get to the bottoms".'):
        quoted = _one(claim)
        assert "quote_absent" not in {s.name for s in quoted.signals}, claim
    # Words in a new order are not the source's words.
    reordered = _one('Councillor Jayne Dunn said "we will get to the bottom of what happened and not stop".')
    assert "quote_absent" in {s.name for s in reordered.signals}


def test_a_quotation_the_question_holds_and_tokenised_possessives_are_not_quotes():
    asked = _one('Sheffield City Council said the "cladding at Hanover House" failed fire safety tests.',
                 question='What failed at the "cladding at Hanover House"?')
    assert "quote_absent" not in {s.name for s in asked.signals}
    tokenised = _one("sheffield city council 's cladding at hanover house had failed new fire safety tests , "
                     "councillor jayne dunn 's office said '")
    assert "quote_absent" not in {s.name for s in tokenised.signals}
