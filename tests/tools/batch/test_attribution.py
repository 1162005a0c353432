"""No answer on the wrong task: echo codes, and near-miss shapes tolerated without misattribution."""

from skilldeck.tools.batch.prompt import DEFAULT_OUTPUT_SCHEMA, PromptSpec, build_prompt
from skilldeck.tools.batch.repair import validate_items
from skilldeck.tools.batch.tasks import Task

ECHOES = {"a": "k3f9q", "b": "p2mzx", "c": "r8tty"}


def item(task_id, echo, answer="x", **extra):
    return {"id": task_id, "echo": echo, "status": "ok", "output": {"answer": answer}, "reason": "", **extra}


def test_swapped_ids_are_caught_by_their_echo_codes_and_neither_is_accepted():
    answer = {"results": [item("b", ECHOES["a"]), item("a", ECHOES["b"]), item("c", ECHOES["c"])]}
    check = validate_items(answer, list(ECHOES), DEFAULT_OUTPUT_SCHEMA, ECHOES)
    assert list(check.accepted) == ["c"] and check.misattributed == 2
    assert "belongs to task 'a'" in check.invalid["b"]


def test_an_item_without_its_echo_code_is_not_trusted():
    check = validate_items({"results": [item("a", None), item("b", "zzzzz")]}, ["a", "b"], DEFAULT_OUTPUT_SCHEMA,
                           ECHOES)
    assert not check.accepted and check.invalid == {"a": "no echo code", "b": "echo 'zzzzz' does not match the "
                                                                             "task's code"}


def test_near_miss_shapes_are_accepted_with_a_diagnostic():
    answer = {"results": [{"task_id": "a", "echo": ECHOES["a"], "status": "OK", "answer": "one"},
                          {"taskId": "b", "echo": ECHOES["b"], "status": "ok", "output": {"answer": "two"}},
                          {"id": "c", "echo": ECHOES["c"], "status": "OK", "answer": 3}]}
    check = validate_items(answer, list(ECHOES), DEFAULT_OUTPUT_SCHEMA, ECHOES)
    assert check.accepted["a"]["output"] == {"answer": "one"} and check.accepted["b"]["output"] == {"answer": "two"}
    assert "expected string" in check.invalid["c"]  # the output is still validated: only c is re-queued
    assert check.near_misses["id as 'task_id'"] == 1 and check.near_misses["status 'OK'"] == 2
    assert check.near_misses["output fields at the top level"] == 2


def test_every_send_draws_fresh_echo_codes():
    tasks = [Task("a", {"text": "x"}), Task("b", {"text": "y"})]
    one, two = (build_prompt(PromptSpec(), tasks, salt=s) for s in ("s1", "s2"))
    assert one.echoes != two.echoes and f"### TASK a (echo: {one.echoes['a']})" in one.user
    assert "echo" not in build_prompt(PromptSpec(echo=False), tasks, salt="s").user
