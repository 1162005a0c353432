"""Answers a model writes can be hostile: no check may take time that grows faster than its input."""

import pytest

from skilldeck.tools.verify import verify_answer
from skilldeck.tools.verify.checks import attribution_sources, check_roles, check_swapped_word


@pytest.mark.timeout(60)  # before the bound, one 16,000-word run of capitals took about 80 s of CPU
def test_a_long_run_of_capitalised_words_is_checked_in_linear_time():
    run = " ".join(["Alpha"] * 16_000)
    assert attribution_sources(run + " researchers said so") == ["Alpha Alpha Alpha Alpha Alpha Alpha"]
    assert check_roles(run + " directed it.", ["Directed by " + run], run) == []
    report = verify_answer(run + " directed it.", evidence=["It was directed by " + run])
    assert report.claims


@pytest.mark.timeout(60)
def test_the_swap_check_reads_a_sentence_not_a_document():
    words = " ".join(f"w{i}" for i in range(200_000))
    assert check_swapped_word(words, [words]) == []  # a claim past 60 content words is not aligned
    [swap] = check_swapped_word("w1 w2 w3 w4 zebra", [words])  # the sentence's start is still read
    assert "'zebra' where it has 'w5'" in swap.detail


@pytest.mark.timeout(60)
@pytest.mark.parametrize("answer", [
    " " * 90_000 + "x is true.",                      # a table-rule test on a long line of spaces
    "It rose" + " " * 90_000 + "while it fell.",       # a clause split on a long run of spaces
    "x-" * 45_000 + " researchers said so.",          # the attribution pattern on one long token
    "In the 5" + " -" * 40_000 + " century it grew.",  # the century pattern after a number
])
def test_long_runs_in_an_answer_do_not_stall_the_checks(answer):
    from skilldeck.tools.verify import extract_claims

    extract_claims(answer)
    verify_answer(answer, evidence=["It rose while it fell in the 5th century."])
