import json
import random

import pytest

from skilldeck.tools.finetune import DatasetError, validate, write_splits
from skilldeck.tools.finetune.records import load_records, read_records

PARAGRAPHS = [
    "Mount Rainier is an active stratovolcano in the Cascade Range of the Pacific Northwest.",
    "The printing press spread quickly across Europe in the second half of the fifteenth century.",
    "Photosynthesis converts light energy into chemical energy stored in glucose molecules.",
    "The Danube flows through ten countries before emptying into the Black Sea.",
    "Honeybees communicate the direction of food sources with a waggle dance.",
    "Copper oxidises to a green patina when exposed to air and moisture for years.",
    "The Great Barrier Reef is the largest coral reef system on the planet.",
    "Glaciers carve U-shaped valleys as they advance and retreat over millennia.",
]


def _row(i: int, **kw) -> dict:
    row = {"task": "summarise", "instruction": "Summarise the passage in one short sentence of plain English.",
           "input": PARAGRAPHS[i % len(PARAGRAPHS)] + f" Fact number {i} in a long list of unrelated facts.",
           "output": f"A short summary of fact {i}: " + PARAGRAPHS[i % len(PARAGRAPHS)][:40]}
    row.update(kw)
    return row


def _write(path, rows) -> str:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return str(path)


def _kinds(report) -> set[str]:
    return {f.kind for f in report.findings}


def test_clean_data_has_no_findings(tmp_path):
    report = validate({"train": _write(tmp_path / "t.jsonl", [_row(i) for i in range(8)])})
    assert report.ok and _kinds(report) == set()
    assert report.records == {"train": 8} and report.token_stats["count"] == 8


def test_schema_errors_are_reported_with_line_numbers(tmp_path):
    rows = [_row(0), "{not json", {"instruction": "Summarise it.", "output": ""}, {"foo": 1},
            {"messages": [{"role": "user", "content": "hi"}]}, _row(1)]
    report = validate({"train": _write(tmp_path / "t.jsonl", rows)})
    schema = report.by_kind("schema")
    assert not report.ok and schema.count == 4
    assert [loc.split(":")[1] for loc in schema.locations] == ["2", "3", "4", "5"]
    assert "assistant" in schema.locations[3]


def test_chat_messages_format_is_accepted(tmp_path):
    rows = [{"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": p},
                          {"role": "assistant", "content": p[:30]}]} for p in PARAGRAPHS]
    records, problems = read_records(_write(tmp_path / "t.jsonl", rows))
    assert not problems and len(records) == 8 and records[0].prompt[0]["role"] == "system"


def test_exact_and_near_duplicates_are_found(tmp_path):
    near = dict(_row(3), input=_row(3)["input"].replace("Black Sea", "black sea."))
    rows = [_row(i) for i in range(6)] + [_row(1), near]
    report = validate({"train": _write(tmp_path / "t.jsonl", rows)})
    assert report.by_kind("exact_duplicate").locations == ["t.jsonl:2 = t.jsonl:7"]
    near_f = report.by_kind("near_duplicate")
    assert near_f.count == 1 and near_f.locations[0].startswith("t.jsonl:4 ~ t.jsonl:8")


def test_conflicting_outputs_for_the_same_prompt(tmp_path):
    rows = [_row(i) for i in range(5)] + [dict(_row(2), output="Something else entirely.")]
    report = validate({"train": _write(tmp_path / "t.jsonl", rows)})
    conflict = report.by_kind("conflicting_outputs")
    assert conflict.severity == "error" and conflict.locations == ["t.jsonl:3 vs t.jsonl:6"]


def test_leakage_between_splits_exact_near_and_same_prompt(tmp_path):
    train = _write(tmp_path / "train.jsonl", [_row(i) for i in range(6)])
    val = _write(tmp_path / "val.jsonl", [_row(0), dict(_row(1), output=_row(1)["output"] + "!"),
                                          dict(_row(2), output="A different answer for the same prompt.")])
    test = _write(tmp_path / "test.jsonl", [_row(7)])
    leak = validate({"train": train, "val": val, "test": test}).by_kind("leakage")
    assert leak.count == 3
    joined = " | ".join(leak.locations)
    assert "train.jsonl:1 = val.jsonl:1" in joined and "val.jsonl:2" in joined and "same prompt" in joined
    assert "test.jsonl" not in joined


def test_task_and_label_imbalance(tmp_path):
    rows = [{"task": "sentiment", "instruction": "Label the review as positive or negative.",
             "input": f"review number {i} " + PARAGRAPHS[i % 8], "output": "positive" if i < 40 else "negative"}
            for i in range(42)]
    rows += [_row(i, task="rare") for i in range(2)]
    report = validate({"train": _write(tmp_path / "t.jsonl", rows)})
    assert "'sentiment' has 42" in report.by_kind("task_imbalance").message
    assert "'positive' has 40" in report.by_kind("label_imbalance").message


def test_vague_instructions_are_flagged(tmp_path):
    rows = [_row(0), _row(1, instruction="Handle this."), _row(2, instruction="do the thing"),
            _row(3, instruction="Fix it", input=""), _row(4, instruction="Translate.", input="Bonjour")]
    vague = validate({"train": _write(tmp_path / "t.jsonl", rows)}).by_kind("vague_instruction")
    assert vague.locations == ["t.jsonl:2", "t.jsonl:3", "t.jsonl:4"]


def test_output_format_drift_within_a_task(tmp_path):
    rows = [{"task": "extract", "instruction": "Extract the city as JSON.", "input": p,
             "output": json.dumps({"city": f"c{i}"})} for i, p in enumerate(PARAGRAPHS)]
    rows.append({"task": "extract", "instruction": "Extract the city as JSON.", "input": "Paris is lovely.",
                 "output": "The city is Paris."})
    rows.append({"task": "extract", "instruction": "Extract the city as JSON.", "input": "Rome is old.",
                 "output": "{'city': 'Rome'"})
    drift = validate({"train": _write(tmp_path / "t.jsonl", rows)}).by_kind("format_drift")
    assert drift.locations == ["t.jsonl:9", "t.jsonl:10"]
    assert "prose 1" in drift.message and "json-invalid 1" in drift.message


def test_examples_over_the_sequence_length_are_counted(tmp_path):
    rows = [_row(i) for i in range(4)] + [_row(5, input=" ".join(["word"] * 400))]
    report = validate({"train": _write(tmp_path / "t.jsonl", rows)}, max_seq_len=100)
    assert report.by_kind("too_long").locations == ["t.jsonl:5"]
    assert report.token_stats["over_limit"] == 1 and report.token_stats["max"] > 100


def test_missing_file_and_unknown_split_name_say_what_to_do(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        validate({"train": tmp_path / "nope.jsonl"})
    with pytest.raises(DatasetError, match="train, val, test"):
        validate({"dev": _write(tmp_path / "t.jsonl", [_row(0)])})


def test_written_splits_are_clean_and_keep_groups_together(tmp_path):
    rng = random.Random(5)
    words = " ".join(PARAGRAPHS).split()
    rows = [_row(i, group=f"doc{i % 10}", input=" ".join(rng.sample(words, 25))) for i in range(60)]
    rows += [rows[0], dict(rows[5], output="Conflicting answer."), "{broken"]
    src = _write(tmp_path / "all.jsonl", rows)
    result = write_splits({"train": src}, tmp_path / "out", seed=1)
    assert result.dropped == {"exact_duplicate": 1, "conflicting_outputs": 2, "schema": 1}
    assert sum(result.counts.values()) == 59
    report = validate({s: p for s, p in result.paths.items() if result.counts[s]})
    assert not ({"leakage", "exact_duplicate", "conflicting_outputs", "schema"} & _kinds(report))
    groups = {}
    for split, path in result.paths.items():
        for r in load_records(path) if result.counts[split] else []:
            groups.setdefault(r.group, set()).add(split)
    assert all(len(s) == 1 for s in groups.values()) and len(groups) == 10
    again = write_splits({"train": src}, tmp_path / "again", seed=1)
    assert again.counts == result.counts


def test_token_counts_can_use_the_model_tokenizer_file(tmp_path):
    tokenizers = pytest.importorskip("tokenizers")
    tok = tokenizers.Tokenizer(tokenizers.models.WordLevel({"[UNK]": 0}, unk_token="[UNK]"))
    tok.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    tok.save(str(tmp_path / "tokenizer.json"))
    report = validate({"train": _write(tmp_path / "t.jsonl", [_row(0)])}, tokenizer=str(tmp_path))
    row = _row(0)
    text = row["instruction"] + "\n\n" + row["input"] + row["output"]
    expected = len(text.replace(".", " . ").replace(":", " : ").split())
    assert report.token_stats["counter"] == f"tokenizer {tmp_path.name}"
    assert report.token_stats["max"] == expected


def test_engine_imports_stay_free_of_torch():
    import subprocess
    import sys

    code = ("import sys, skilldeck.tools.finetune, skilldeck.tools.finetune.service, skilldeck.tools.finetune.training,"
            " skilldeck.tools.finetune.evaluation; print(sorted(m for m in ('torch', 'transformers', 'peft', 'numpy')"
            " if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_a_shared_instruction_does_not_make_short_examples_near_duplicates(tmp_path):
    template = ("You are a careful assistant. Read the customer message below and label its sentiment as "
                "positive, negative or neutral, answering with the label only.")
    rows = [{"instruction": template, "input": text, "output": label} for text, label in [
        ("Loved it.", "positive"), ("Broke in a day.", "negative"), ("It is blue.", "neutral"),
        ("Great support!", "positive"), ("Never again.", "negative")]]
    report = validate({"train": _write(tmp_path / "t.jsonl", rows)})
    assert report.by_kind("near_duplicate") is None


def test_one_dataset_is_analysed_at_a_time_and_a_waiting_call_keeps_its_deadline(tmp_path):
    """Concurrent validations each took several times their file in memory; now they queue."""
    import threading

    from skilldeck.tools.deadline import TimeLimitError, deadline
    from skilldeck.tools.finetune import validator

    path = tmp_path / "train.jsonl"
    path.write_text('{"instruction": "a", "output": "b"}\n')
    with validator._ONE_AT_A_TIME:  # another analysis holds the turn
        with pytest.raises(TimeLimitError, match="another dataset validation"), deadline(0.3):
            validator.analyse({"train": str(path)})
        waited = threading.Thread(target=validator.analyse, args=({"train": str(path)},))
        waited.start()
        waited.join(0.5)
        assert waited.is_alive()  # queued behind the holder
    waited.join(10)
    assert not waited.is_alive() and validator.analyse({"train": str(path)}).records
