"""Training on two CPU processes through accelerate's launcher (gloo): progress, cancel, resume."""

import time

import pytest

pytest.importorskip("peft")
pytest.importorskip("accelerate")

from skilldeck.tools.finetune.config import TrainConfig  # noqa: E402
from skilldeck.tools.finetune.distributed import launch_command  # noqa: E402
from skilldeck.tools.finetune.service import FinetuneService  # noqa: E402
from skilldeck.tools.jobs import JobManager  # noqa: E402
from tests.tools.finetune.tiny import build_tiny, sentiment_rows, write_jsonl  # noqa: E402

pytestmark = pytest.mark.slow


def _events(svc, job_id, kind):
    return [e for _, e in svc.jobs.events(job_id) if e["event"] == kind]


def test_launch_command_uses_accelerate_with_the_job_folder(tmp_path):
    cfg = TrainConfig(base_model="m", train_path="t.jsonl", num_processes=2, cpu_threads=1)
    cmd = launch_command(cfg, tmp_path, resume=True)
    assert cmd[1:3] == ["-m", "accelerate.commands.launch"] and "--num_processes" in cmd
    assert cmd[-4:] == ["-m", "skilldeck.tools.finetune.distributed", str(tmp_path), "--resume"]
    with_config = launch_command(cfg.model_copy(update={"accelerate_config": "multi.yaml"}), tmp_path, False)
    assert "--config_file" in with_config and "--multi_gpu" not in with_config


def test_two_gloo_processes_train_cancel_and_resume(tmp_path):
    model = build_tiny(tmp_path / "model")
    train = write_jsonl(tmp_path / "train.jsonl", sentiment_rows(32))
    svc = FinetuneService(JobManager(tmp_path / "jobs"))
    info = svc.start_training({"base_model": str(model), "train_path": str(train), "num_processes": 2,
                               "cpu_threads": 1, "batch_size": 4, "max_steps": 120, "log_every": 1,
                               "save_every": 1000, "learning_rate": 1e-3, "warmup_ratio": 0.0})
    deadline = time.monotonic() + 150
    while (svc.jobs.get(info.id).progress or {}).get("done", 0) < 3:
        assert svc.jobs.get(info.id).status.value in ("queued", "running"), (info.dir / "output.log").read_text()[-3000:]
        assert time.monotonic() < deadline, "no progress from the two ranks"
        time.sleep(0.2)
    ready = _events(svc, info.id, "model_ready")[0]
    assert ready["processes"] == 2 and ready["total_steps"] == 120
    cancelled = svc.cancel(info.id)
    assert cancelled["status"] == "cancelled", (info.dir / "output.log").read_text()[-3000:]
    saved = _events(svc, info.id, "checkpoint")[-1]["step"]
    assert 3 <= saved < 120
    svc.resume(info.id)
    done = svc.jobs.wait(info.id, timeout_s=150)
    assert done.status.value == "succeeded", done.error
    assert _events(svc, info.id, "resumed")[0]["step"] == saved
    metrics = done.result["metrics"]
    assert metrics["steps"] == 120 and metrics["final_train_loss"] < metrics["first_train_loss"]
    progress = [e["step"] for e in _events(svc, info.id, "progress")]
    assert progress == sorted(progress) and len(progress) == len(set(progress))  # one writer, rank 0
