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


@pytest.mark.timeout(60)
def test_verifying_stops_at_the_deadline_of_the_call_it_runs_in():
    # 3,000 claims against 3,000 evidence sentences takes about 45 s; the work must end with its call.
    import time

    from skilldeck.tools.deadline import TimeLimitError, deadline

    bullets = "".join(f"- item {i} is fine\n" for i in range(3000))
    started = time.monotonic()
    with deadline(0.5), pytest.raises(TimeLimitError, match="Verifying the answer passed the call's time limit"):
        verify_answer(bullets, evidence=[bullets])
    assert time.monotonic() - started < 5


def deep_docs(tmp_path, depth: int):
    """docs/d0/d1/.../deep.md, `depth` folders down: a tree a walk must bound."""
    folder = tmp_path / "docs"
    for i in range(depth):
        folder = folder / f"d{i}"
    folder.mkdir(parents=True)
    (folder / "deep.md").write_text("The deepest file.")


@pytest.mark.timeout(60)
def test_an_evidence_glob_with_many_double_stars_is_walked_once_and_bounded(tmp_path, monkeypatch):
    import time

    from skilldeck.tools.errors import InvalidInputError, NotFoundError
    from skilldeck.tools.verify import evidence

    deep_docs(tmp_path, 40)
    started = time.monotonic()
    pattern = "docs/" + "**/" * 12 + "*.zzz"
    with pytest.raises(NotFoundError):
        verify_answer("x.", paths=[pattern], base_dir=tmp_path)
    assert time.monotonic() - started < 5  # twelve "**" walk the tree once, as one "**" does
    report = verify_answer("The deepest file.", paths=["docs/**/**/deep.md"], base_dir=tmp_path)
    assert report.status == "supported"
    monkeypatch.setattr(evidence, "MAX_GLOB_FOLDERS", 10)
    with pytest.raises(InvalidInputError, match="walked 10 folders without finishing; narrow it"):
        verify_answer("x.", paths=["docs/**/*.md"], base_dir=tmp_path)


def test_an_evidence_folder_is_walked_under_the_bounds_of_a_glob(tmp_path, monkeypatch):
    # The security audit: paths=["tree"] walked 300,000 folders with rglob past the call's time
    # limit, holding a call slot, where "tree/**/*.md" stopped at the folder cap.
    from skilldeck.tools.errors import InvalidInputError
    from skilldeck.tools.verify import evidence

    deep_docs(tmp_path, 20)
    (tmp_path / "docs" / ".private").mkdir()
    (tmp_path / "docs" / ".private" / "notes.md").write_text("A hidden note.")
    assert verify_answer("The deepest file.", paths=["docs"], base_dir=tmp_path).status == "supported"
    assert [i.text for i in evidence.load_evidence(paths=["docs"], base_dir=tmp_path).items] == ["The deepest file."]
    monkeypatch.setattr(evidence, "MAX_GLOB_FOLDERS", 10)
    with pytest.raises(InvalidInputError, match="walked 10 folders without finishing; narrow it"):
        verify_answer("x.", paths=["docs"], base_dir=tmp_path)


def test_one_huge_claim_is_checked_in_bounded_pieces():
    """One 50,000-character claim of thousands of words against 4 MB took 3.7 GB and ran 21 s past its limit."""
    from skilldeck.tools.verify.claims import MAX_CLAIM_CHARS, split_claims

    text = " ".join(f"Berlin Paris Kujala Museum{i}" for i in range(2000))
    claims = split_claims(text)
    assert len(claims) > 1 and max(len(c.text) for c in claims) <= MAX_CLAIM_CHARS
    assert all(text[c.start:c.end] == c.text and not c.text.startswith(" ") for c in claims)
    assert " ".join(c.text for c in claims) == text  # cut between words, nothing lost
    assert split_claims("The museum opened in 1902.")[0].text == "The museum opened in 1902."


def test_the_claim_scoring_loop_keeps_the_call_s_deadline():
    """The deadline was checked once per claim; one claim against 50,000 sentences ran on past it."""
    from skilldeck.tools.deadline import TimeLimitError, deadline
    from skilldeck.tools.verify.evidence import load_evidence
    from skilldeck.tools.verify.support import _hits

    sentences = load_evidence([f"The museum {i} opened in 1902." for i in range(2000)]).sentences
    assert _hits({"museum": frozenset({"museum"})}, sentences).by_position
    with pytest.raises(TimeLimitError), deadline(-1):
        _hits({"museum": frozenset({"museum"})}, sentences)


def test_long_texts_are_analysed_without_being_kept_in_the_caches():
    """Eight calls of 100 inline strings of 49,000 characters each held 1.2 GB after they ended."""
    from skilldeck.tools.verify import text

    text.terms.cache_clear()
    long = "word " * 2_000
    assert text.terms(long).stems and text.terms(long) == text.terms(long)
    assert text.terms.__wrapped__ is not None
    short = "The museum opened in 1902."
    assert text.terms(short) is text.terms(short)  # short texts are still cached
    assert text.terms(long) is not text.terms(long)
