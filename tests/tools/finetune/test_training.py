"""Training and evaluation jobs end to end on CPU: a tiny Qwen2-shaped model, no downloads."""

import json
import time

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("peft")

from skilldeck.tools.errors import InvalidInputError  # noqa: E402
from skilldeck.tools.finetune.errors import TrainingUnavailableError  # noqa: E402
from skilldeck.tools.finetune.service import FinetuneService  # noqa: E402
from skilldeck.tools.jobs import JobManager  # noqa: E402
from tests.tools.finetune.tiny import build_tiny, sentiment_rows, write_jsonl  # noqa: E402

FAST = {"cpu_threads": 1, "batch_size": 8, "learning_rate": 5e-3, "warmup_ratio": 0.0}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("ft")
    model = build_tiny(root / "model")
    train = write_jsonl(root / "train.jsonl", sentiment_rows(48))
    val = write_jsonl(root / "val.jsonl", sentiment_rows(8, offset=500))
    return {"root": root, "model": str(model), "train": str(train), "val": str(val),
            "service": FinetuneService(JobManager(root / "jobs"))}


@pytest.fixture(scope="module")
def trained(world):
    svc = world["service"]
    info = svc.start_training({**FAST, "base_model": world["model"], "train_path": world["train"],
                               "val_path": world["val"], "max_steps": 12, "eval_every": 4, "log_every": 2})
    return svc.jobs.wait(info.id, timeout_s=240)


def _events(svc, job_id, kind):
    return [e for _, e in svc.jobs.events(job_id) if e["event"] == kind]


def test_training_job_exports_adapter_config_metrics_and_card(trained):
    assert trained.status.value == "succeeded", trained.error
    result = trained.result
    out = result["output_dir"]
    config = json.loads(open(f"{out}/training_config.json").read())
    tc = config["train_config"]
    assert (tc["method"], tc["lora_r"], tc["lora_alpha"], tc["lora_dropout"], tc["target_modules"]) == \
        ("lora", 16, 32, 0.05, "all-linear")
    assert config["learning_rate"] == 5e-3 and config["packing"] is False and config["versions"]["peft"]
    adapter = json.loads(open(f"{result['weights']}/adapter_config.json").read())
    assert adapter["r"] == 16 and adapter["lora_alpha"] == 32
    metrics = json.loads(open(f"{out}/metrics.json").read())
    assert metrics["steps"] == 12 and [e["step"] for e in metrics["evals"]] == [4, 8, 12]
    assert metrics["final_train_loss"] < metrics["first_train_loss"]
    card = open(f"{out}/README.md").read()
    assert "LoRA" in card and "r=16" in card and "EOS" in card


def test_progress_goes_to_the_job_log_and_the_loss_mask_is_checked_first(world, trained):
    svc = world["service"]
    events = [e["event"] for _, e in svc.jobs.events(trained.id)]
    assert events.index("loss_mask_check") < events.index("model_ready") < events.index("progress")
    check = _events(svc, trained.id, "loss_mask_check")[0]
    assert check["loss_text_sample"].endswith("</s>") and check["examples_checked"] > 0
    progress = _events(svc, trained.id, "progress")
    assert {"step", "loss", "lr", "tokens_per_s"} <= progress[0].keys()
    assert [p["step"] for p in progress] == [2, 4, 6, 8, 10, 12]
    assert "eval_loss" in progress[1] and len(_events(svc, trained.id, "eval")) == 3
    status = svc.status(trained.id)
    assert status["progress"]["done"] == 12 and status["weights"] == trained.result["weights"]


def test_cancel_saves_a_checkpoint_and_resume_finishes_from_it(world):
    svc = world["service"]
    info = svc.start_training({**FAST, "base_model": world["model"], "train_path": world["train"],
                               "max_steps": 120, "log_every": 1, "save_every": 1000, "learning_rate": 1e-3})
    deadline = time.monotonic() + 120
    while (svc.jobs.get(info.id).progress or {}).get("done", 0) < 3:
        assert time.monotonic() < deadline and not svc.jobs.get(info.id).status.finished
        time.sleep(0.05)
    cancelled = svc.cancel(info.id)
    assert cancelled["status"] == "cancelled"
    saved = _events(svc, info.id, "checkpoint")
    assert len(saved) == 1 and 3 <= saved[0]["step"] < 120
    svc.resume(info.id)
    done = svc.jobs.wait(info.id, timeout_s=240)
    assert done.status.value == "succeeded", done.error
    assert _events(svc, info.id, "resumed")[0]["step"] == saved[0]["step"]
    steps = [p["step"] for p in _events(svc, info.id, "progress")]
    assert steps[-1] == 120 and done.result["metrics"]["steps"] == 120
    # The resumed run continued where the checkpoint left off instead of starting again.
    assert steps.count(1) == 1 and steps.count(saved[0]["step"] + 1) == 1


def test_evaluation_compares_tuned_with_base(world, trained):
    svc = world["service"]
    info = svc.start_evaluation({"test_path": world["val"], "max_new_tokens": 8, "cpu_threads": 1},
                                training_job=trained.id)
    done = svc.jobs.wait(info.id, timeout_s=240)
    assert done.status.value == "succeeded", done.error
    base, tuned = done.result["base"], done.result["tuned"]
    assert tuned["loss"] < base["loss"] and done.result["delta"]["loss"] < 0
    assert {"exact_match", "rouge_l", "json_pass_rate", "json_match", "perplexity"} <= tuned.keys()
    assert tuned["json_examples"] == 8 and len(done.result["samples"]) == 3


def test_full_fine_tuning_writes_a_whole_model(world):
    svc = world["service"]
    info = svc.start_training({**FAST, "base_model": world["model"], "train_path": world["train"],
                               "method": "full", "max_steps": 2})
    done = svc.jobs.wait(info.id, timeout_s=240)
    assert done.status.value == "succeeded", done.error
    assert done.result["weights"].endswith("/model")
    assert done.result["metrics"]["params"]["trainable"] == done.result["metrics"]["params"]["total"]
    ev = svc.start_evaluation({"base_model": world["model"], "tuned_path": done.result["weights"],
                               "test_path": world["val"], "max_new_tokens": 4, "include_base": False,
                               "cpu_threads": 1})
    scored = svc.jobs.wait(ev.id, timeout_s=240)
    assert scored.status.value == "succeeded", scored.error
    assert "base" not in scored.result and scored.result["tuned"]["examples"] == 8


def test_examples_longer_than_the_limit_fail_the_job_before_training(world):
    svc = world["service"]
    info = svc.start_training({**FAST, "base_model": world["model"], "train_path": world["train"],
                               "max_seq_len": 16, "max_steps": 2})
    done = svc.jobs.wait(info.id, timeout_s=240)
    assert done.status.value == "failed" and "max_seq_len=16" in done.error
    assert not _events(svc, info.id, "model_ready")


def test_bad_specs_are_rejected_without_starting_a_job(world):
    svc = world["service"]
    with pytest.raises(InvalidInputError, match="lora_r"):
        svc.start_training({"base_model": world["model"], "train_path": world["train"], "lora_r": 0})
    with pytest.raises(InvalidInputError, match="not a file"):
        svc.start_training({"base_model": world["model"], "train_path": str(world["root"] / "missing.jsonl")})
    with pytest.raises(InvalidInputError, match="Extra inputs|extra"):
        svc.start_training({"base_model": world["model"], "train_path": world["train"], "epochz": 2})
    # A real model's own layer names are offered in place of a misspelt one.
    with pytest.raises(InvalidInputError, match=r"'q_projx' names no module .*q_proj"):
        svc.start_training({"base_model": world["model"], "train_path": world["train"],
                            "target_modules": ["q_projx"]})


def test_packed_checkpointed_training_stops_early_and_ships_the_best_weights(world):
    svc = world["service"]
    info = svc.start_training({**FAST, "base_model": world["model"], "train_path": world["train"],
                               "val_path": world["val"], "packing": True, "max_seq_len": 256, "max_steps": 40,
                               "eval_every": 1, "early_stopping_patience": 2, "learning_rate": 0.3,
                               "gradient_checkpointing": True})
    done = svc.jobs.wait(info.id, timeout_s=240)
    assert done.status.value == "succeeded", done.error
    metrics = done.result["metrics"]
    assert metrics["stopped_early"] and metrics["steps"] < 40
    evals = {e["step"]: e["eval_loss"] for e in metrics["evals"]}
    assert metrics["best_eval_loss"] == min(evals.values()) == evals[metrics["best_step"]]
    assert metrics["best_step"] < metrics["steps"] and _events(svc, info.id, "early_stop")
    config = json.loads(open(f"{done.result['output_dir']}/training_config.json").read())
    assert config["packing"] is True
    assert "stopped early" in open(done.result["model_card"]).read()


def test_qlora_without_bitsandbytes_is_refused_with_the_alternative(world):
    import importlib.util

    if importlib.util.find_spec("bitsandbytes") is not None:
        pytest.skip("bitsandbytes is installed here")
    with pytest.raises(TrainingUnavailableError, match="QLoRA needs bitsandbytes.*'lora'"):
        world["service"].start_training({"base_model": world["model"], "train_path": world["train"],
                                         "method": "qlora"})
    assert all(j.get("method") != "qlora" for j in world["service"].list())


def test_a_killed_worker_resumes_from_its_last_periodic_checkpoint(world):
    import os
    import signal

    svc = world["service"]
    info = svc.start_training({**FAST, "base_model": world["model"], "train_path": world["train"],
                               "max_steps": 80, "save_every": 5, "log_every": 1, "learning_rate": 1e-3})
    deadline = time.monotonic() + 120
    while not _events(svc, info.id, "checkpoint"):
        assert time.monotonic() < deadline and not svc.jobs.get(info.id).status.finished
        time.sleep(0.05)
    pid = json.loads((info.dir / "state.json").read_text())["pid"]
    os.kill(pid, signal.SIGKILL)  # no chance to save anything
    deadline = time.monotonic() + 30
    while svc.jobs.get(info.id).status.value != "interrupted":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    saved = max(e["step"] for e in _events(svc, info.id, "checkpoint"))
    svc.resume(info.id)
    done = svc.jobs.wait(info.id, timeout_s=240)
    assert done.status.value == "succeeded", done.error
    assert _events(svc, info.id, "resumed")[0]["step"] == saved and done.result["metrics"]["steps"] == 80
