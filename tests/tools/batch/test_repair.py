import json

import pytest

from skilldeck.tools.batch.repair import RepairError, extract_json, validate_items

SCHEMA = {"type": "object", "properties": {"answer": {"type": "string"}}}
GOOD = {"results": [{"id": "a", "status": "ok", "output": {"answer": "x"}, "reason": ""},
                    {"id": "b", "status": "ok", "output": {"answer": "y"}, "reason": ""}]}


@pytest.mark.parametrize("text, repair", [
    ("```json\n" + json.dumps(GOOD) + "\n```", "code fence"),
    ("Sure! Here you go:\n" + json.dumps(GOOD) + "\nAnything else?", "prose before"),
    (json.dumps(GOOD).replace("}", ",}").replace("]", ",]"), "trailing commas"),
])
def test_repairs_recover_the_whole_answer(text, repair):
    value, repairs = extract_json(text)
    assert value == GOOD and repair in repairs


def test_truncated_answer_keeps_complete_items_only():
    text = json.dumps(GOOD)
    value, repairs = extract_json(text[: text.index('"y"') + 2])
    assert "truncation" in repairs
    assert value == {"results": [GOOD["results"][0]]}


def test_escaped_quotes_inside_strings_survive_comma_repair():
    text = '{"results": [{"id": "a", "status": "ok", "output": {"answer": "say \\"hi\\", ok"}, "reason": "",},]}'
    value, repairs = extract_json(text)
    assert value["results"][0]["output"]["answer"] == 'say "hi", ok' and "trailing commas" in repairs


def test_answer_without_json_cannot_be_repaired():
    with pytest.raises(RepairError):
        extract_json("I cannot do that.")
    with pytest.raises(RepairError):
        extract_json("{not json at all}")
    with pytest.raises(RepairError):
        extract_json('{"results": [{"id": "a", "sta')


def test_validation_accepts_good_items_and_reports_missing_and_invalid():
    items = {"results": [
        {"id": "a", "status": "ok", "output": {"answer": "x"}, "reason": ""},
        {"id": "b", "status": "ok", "output": {"answer": 3}, "reason": ""},
        {"id": "c", "status": "INSUFFICIENT_DATA", "output": None, "reason": "no text"},
        {"id": "zz", "status": "ok", "output": {"answer": "stray"}, "reason": ""},
        {"id": "e", "status": "maybe", "output": None, "reason": ""},
    ]}
    check = validate_items(items, ["a", "b", "c", "d", "e"], SCHEMA)
    assert set(check.accepted) == {"a", "c"} and check.accepted["c"]["status"] == "INSUFFICIENT_DATA"
    assert "expected string" in check.invalid["b"] and "not one of" in check.invalid["e"]
    assert check.missing == ["d"] and check.foreign == 1


def test_an_id_answered_twice_differently_is_not_trusted():
    items = [{"id": "a", "status": "ok", "output": {"answer": "x"}, "reason": ""},
             {"id": "a", "status": "ok", "output": {"answer": "other"}, "reason": ""}]
    check = validate_items(items, ["a"], SCHEMA)
    assert check.accepted == {} and "more than once" in check.invalid["a"]


def test_integer_ids_in_the_answer_match_string_task_ids():
    check = validate_items({"results": [{"id": 7, "status": "ok", "output": {"answer": "x"}, "reason": ""}]},
                           ["7"], SCHEMA)
    assert set(check.accepted) == {"7"}
