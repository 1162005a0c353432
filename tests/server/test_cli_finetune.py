"""`skilldeck finetune ...` from the shell side: exit codes and what is printed."""

import json

from skilldeck.server.cli import main


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


ROWS = [{"instruction": "Give the capital of the country as one word.", "input": country, "output": capital}
        for country, capital in [("France", "Paris"), ("Japan", "Tokyo"), ("Kenya", "Nairobi"), ("Peru", "Lima")]]


def test_advise_prints_the_approach_and_starting_point(capsys):
    assert main(["finetune", "advise", "--examples", "600", "--gpu-memory-gb", "24", "--model-params-b", "3"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("lora:") and "r=16" in out and "lora_alpha=32" in out
    assert "GPU memory needed (GB): full " in out and "caution: Validate the data first" in out


def test_advise_says_plainly_when_not_even_qlora_fits(capsys):
    assert main(["finetune", "advise", "--examples", "800", "--gpu-memory-gb", "24", "--model-params-b", "70"]) == 0
    assert capsys.readouterr().out.startswith("qlora: Nothing fits this GPU: even QLoRA needs ~48.2 GB of the 24 GB")


def test_validate_exits_one_on_errors_and_writes_clean_splits(tmp_path, capsys):
    train = _write(tmp_path / "train.jsonl", ROWS + [dict(ROWS[0], output="Lyon")])
    assert main(["finetune", "validate", str(train), "--write-splits", str(tmp_path / "clean")]) == 1
    out = capsys.readouterr().out
    assert "conflicting_outputs" in out and "train.jsonl:1 vs train.jsonl:5" in out
    assert main(["finetune", "validate", str(tmp_path / "clean" / "train.jsonl")]) == 0


def test_status_without_jobs_and_train_without_arguments(capsys):
    assert main(["finetune", "status"]) == 0
    assert "no fine-tuning jobs yet" in capsys.readouterr().out
    assert main(["finetune", "train"]) == 2
    assert "--base-model and --train" in capsys.readouterr().err


def test_few_shot_prints_the_chosen_examples_and_the_block(tmp_path, capsys):
    rows = [{"instruction": "Give the capital of the country as one word.", "input": country, "output": capital}
            for country, capital in [("France", "Paris"), ("Japan", "Tokyo"), ("Kenya", "Nairobi"),
                                     ("Peru", "Lima"), ("Canada", "Ottawa"), ("Chile", "Santiago")]]
    data = _write(tmp_path / "capitals.jsonl", rows)
    assert main(["finetune", "few-shot", str(data), "--examples", "3"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("3 examples for task 'default'") and out.count("Output: ") == 3
    assert main(["finetune", "few-shot", str(data), "--examples", "9"]) == 2
    assert "between 3 and 5" in capsys.readouterr().err
