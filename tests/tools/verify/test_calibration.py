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
