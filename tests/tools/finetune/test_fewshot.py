"""build_few_shot: coverage, identical format, no conflicts or duplicates, order, budget, parroting."""

import json

import pytest

from skilldeck.tools.finetune.errors import DatasetError
from skilldeck.tools.finetune.fewshot import build_few_shot
from skilldeck.tools.tokens import count_tokens

INSTRUCTION = "Classify the support ticket as JSON with keys label and product."
TICKETS = [
    ("My invoice for March shows the wrong amount", "billing", "invoices"),
    ("I was charged twice for the same order last week", "billing", "payments"),
    ("The refund I was promised never arrived on my card", "billing", "refunds"),
    ("Please update the VAT number printed on my receipts", "billing", "invoices"),
    ("The app crashes when I open the settings page on Android", "bug", "mobile app"),
    ("Export to CSV produces an empty file since the update", "bug", "exports"),
    ("How do I add a second user to my workspace?", "question", "accounts"),
    ("Is there a dark mode in the desktop version, and where do I switch it on after installing it?",
     "question", "desktop app"),
    ("Cancel my subscription", "cancellation", None),
]


def _rows(tickets=TICKETS):
    return [{"task": "tickets", "instruction": INSTRUCTION, "input": text,
             "output": json.dumps({"label": label, "product": product})} for text, label, product in tickets]


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_few_shot_covers_the_main_case_other_labels_and_an_edge_case(tmp_path):
    shots = build_few_shot(_write(tmp_path / "t.jsonl", _rows()), count=5)
    assert len(shots.shots) == 5 and shots.task == "tickets"
    labels = {json.loads(s.output)["label"] for s in shots.shots}
    assert labels == {"billing", "bug", "question", "cancellation"}
    roles = [s.role for s in shots.shots]
    assert roles.count("main") == 1 and "edge" in roles
    assert any('"product": null' in s.output for s in shots.shots)  # the missing-information case
    assert not shots.warnings, shots.warnings


def test_few_shot_with_three_slots_still_shows_the_rare_answer(tmp_path):
    shots = build_few_shot(_write(tmp_path / "t.jsonl", _rows()), count=3)
    roles = {json.loads(s.output)["label"]: s.role for s in shots.shots}
    assert roles["billing"] == "main" and roles["cancellation"] == "edge" and len(roles) == 3


def test_few_shot_orders_examples_simple_to_complex_and_counts_the_block(tmp_path):
    shots = build_few_shot(_write(tmp_path / "t.jsonl", _rows()), count=4)
    sizes = [s.tokens for s in shots.shots]
    assert sizes == sorted(sizes)
    assert shots.prompt.count(INSTRUCTION) == 1 and shots.prompt.count("Output: ") == 4
    assert shots.tokens == count_tokens(shots.prompt) and shots.counter == "cl100k estimate"
    assert shots.messages[0] == {"role": "system", "content": INSTRUCTION} and len(shots.messages) == 9


def test_few_shot_never_uses_conflicting_records_and_uses_a_duplicate_once(tmp_path):
    rows = _rows()
    conflict = dict(rows[4], output=json.dumps({"label": "question", "product": "mobile app"}))
    rows = rows + [conflict, rows[0], rows[0]]
    shots = build_few_shot(_write(tmp_path / "t.jsonl", rows), count=5)
    where = [s.where for s in shots.shots]
    assert "t.jsonl:5" not in where and "t.jsonl:10" not in where
    assert sum(s.input == TICKETS[0][0] for s in shots.shots) <= 1
    assert shots.excluded == {"conflicting_outputs": 2, "exact_duplicate": 2}


def test_few_shot_keeps_one_answer_format(tmp_path):
    rows = _rows() + [{"task": "tickets", "instruction": INSTRUCTION, "input": f"Odd ticket {i} about logins",
                       "output": "label: bug"} for i in range(3)]
    shots = build_few_shot(_write(tmp_path / "t.jsonl", rows), count=5)
    assert all(s.output.startswith("{") for s in shots.shots)
    assert all(set(json.loads(s.output)) == {"label", "product"} for s in shots.shots)
    assert shots.excluded["other_format"] == 3


def test_few_shot_warns_when_examples_are_near_identical(tmp_path):
    rows = [{"task": "t", "instruction": INSTRUCTION, "input": f"The export to CSV produces an empty file {i}",
             "output": json.dumps({"label": "bug", "product": "exports"})} for i in range(6)]
    shots = build_few_shot(_write(tmp_path / "t.jsonl", rows), count=3)
    kinds = {w.kind for w in shots.warnings}
    assert {"parroting", "same_answer"} <= kinds


def test_few_shot_warns_over_the_token_budget_naming_the_largest_example(tmp_path):
    shots = build_few_shot(_write(tmp_path / "t.jsonl", _rows()), count=5, token_budget=60)
    over = next(w for w in shots.warnings if w.kind == "over_budget")
    biggest = max(shots.shots, key=lambda s: s.tokens)
    assert over.locations == [biggest.where] and str(shots.tokens) in over.message


def test_few_shot_warns_when_too_few_usable_examples(tmp_path):
    shots = build_few_shot(_write(tmp_path / "t.jsonl", _rows()[:2]), count=3)
    assert len(shots.shots) == 2 and any(w.kind == "too_few" for w in shots.warnings)


def test_few_shot_asks_for_the_task_when_the_dataset_has_several(tmp_path):
    rows = _rows() + [{"task": "summaries", "instruction": "Summarise the text in one line.", "input": "a b c",
                       "output": "abc"}]
    path = _write(tmp_path / "t.jsonl", rows)
    with pytest.raises(DatasetError, match="2 tasks .*summaries, tickets"):
        build_few_shot(path)
    with pytest.raises(DatasetError, match="No record has task 'nope'"):
        build_few_shot(path, task="nope")
    with pytest.raises(DatasetError, match="between 3 and 5"):
        build_few_shot(path, task="tickets", count=8)
