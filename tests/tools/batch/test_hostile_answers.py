"""Answers a model (or a provider) can shape to make repair slow or crash: each is refused, quickly and
as a RepairError (a re-queue), never an internal error."""

import json
import time
import tracemalloc

import pytest

from skilldeck.tools.batch.repair import MAX_REPAIR_CHARS, RepairError, extract_json


def test_deeply_nested_brackets_are_unrepairable_without_a_copy_of_the_stack_per_closer():
    depth = 10_000  # the old scan copied the open stack at every closer: ~400 MB here, 6 GB at 40,000
    text = "Here: " + "[" * depth + "]" * depth
    tracemalloc.start()
    try:
        with pytest.raises(RepairError, match="nested too deeply"):  # was RecursionError
            extract_json(text)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 30 * 1024 * 1024


def test_a_truncated_answer_with_many_cut_points_none_valid_fails_fast():
    text = "[x" + "[]" * 14_000  # every cut point keeps the invalid "[x"; trying all took 29 s
    started = time.monotonic()
    with pytest.raises(RepairError, match="truncated JSON"):
        extract_json(text)
    assert time.monotonic() - started < 5


def test_a_truncated_answer_still_keeps_its_complete_items_after_much_noise():
    items = [{"id": str(i), "status": "ok", "output": {"answer": "x" * 50}} for i in range(2000)]
    text = json.dumps({"results": items})
    value, repairs = extract_json(text[:-30])
    assert repairs == ["truncation"] and value == {"results": items[:-1]}


def test_an_answer_over_the_repair_cap_is_refused_saying_so_unless_it_parses_as_it_is():
    broken = "[" + "1," * (MAX_REPAIR_CHARS // 2 + 10)
    with pytest.raises(RepairError, match="1,000,000 that repair reads"):
        extract_json(broken)
    whole = json.dumps({"results": [{"id": "a", "output": {"answer": "y" * (MAX_REPAIR_CHARS + 10)}}]})
    assert extract_json(whole)[1] == []
