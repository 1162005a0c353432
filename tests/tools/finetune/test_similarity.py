import random

from skilldeck.tools.finetune.similarity import NearDuplicateFinder, jaccard, normalize, shingles, signature


def _text(rng: random.Random, n: int = 60) -> str:
    return " ".join("".join(rng.choice("abcdefghijklmnop") for _ in range(rng.randint(3, 8))) for _ in range(n))


def test_jaccard_is_exact_on_small_sets():
    assert jaccard({"a", "b", "c"}, {"b", "c", "d"}) == 0.5
    assert jaccard(set(), set()) == 1.0


def test_normalize_hides_case_and_spacing_differences():
    assert normalize("  Hello\n\tWorld  ") == normalize("hello world")


def test_signature_agreement_tracks_jaccard():
    rng = random.Random(3)
    base = _text(rng, 200)
    words = base.split()
    for k in range(40, 140, 20):
        words[k] = "zzzzzz"
    a, b = shingles(base), shingles(" ".join(words))
    sa, sb = signature(a, 256), signature(b, 256)
    estimate = sum(x == y for x, y in zip(sa, sb)) / 256
    assert abs(estimate - jaccard(a, b)) < 0.12


def test_finder_reports_planted_pairs_and_every_pair_clears_the_threshold():
    rng = random.Random(7)
    texts = [normalize(_text(rng)) for _ in range(300)]
    planted = set()
    for dst in range(250, 290):
        src = dst - 200
        words = texts[src].split()
        words[rng.randrange(len(words))] = "qqqq"
        texts[dst] = " ".join(words)
        planted.add((src, dst))
    finder = NearDuplicateFinder(threshold=0.8)
    pairs = finder.find(texts)
    found = {(p.a, p.b) for p in pairs}
    assert planted <= found
    assert all(jaccard(shingles(texts[p.a]), shingles(texts[p.b])) >= 0.8 for p in pairs)
    assert found - planted == set()  # random texts are not near-duplicates of each other


def test_finder_skips_indices_it_is_told_to():
    texts = ["the same text about cats and dogs"] * 3
    assert [(p.a, p.b) for p in NearDuplicateFinder().find(texts, skip={1})] == [(0, 2)]


def test_rows_that_differ_only_in_their_numbers_are_not_near_duplicates():
    rows = [normalize(f"Classify the flower: sepal length {a} cm, sepal width {b} cm, petal length 1.4 cm")
            for a, b in [("4.9", "3.0"), ("5.1", "3.0"), ("4.9", "3.1"), ("5.0", "3.6")]]
    assert NearDuplicateFinder(threshold=0.7).find(rows) == []
    # The same numbers with other formatting around them still are.
    again = rows + [normalize("Classify the flower:  sepal length 4.9 cm, sepal width 3.0 cm, petal length 1.4cm")]
    assert [(p.a, p.b) for p in NearDuplicateFinder(threshold=0.7).find(again)] == [(0, 4)]


def test_the_near_duplicate_search_stops_at_the_deadline_of_the_call_it_runs_in():
    import pytest

    from skilldeck.tools.deadline import TimeLimitError, deadline

    with deadline(-1), pytest.raises(TimeLimitError, match="near-duplicate records passed the call's time limit"):
        NearDuplicateFinder().find(["a first record", "a second record"])
