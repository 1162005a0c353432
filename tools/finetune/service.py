"""Training and evaluation jobs as the server and CLI see them: start, watch, cancel, list.

Usage::

    service = FinetuneService(JobManager(home_dir() / "jobs"))
    info = service.start_training({"base_model": "./tiny", "train_path": "train.jsonl"})
    service.status(info.id)["progress"]

Nothing here imports torch: specs are validated with pydantic and the heavy work runs in the
job's worker process.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from skilldeck.tools.errors import InvalidInputError, NotFoundError, StateError
from skilldeck.tools.finetune.config import EvalConfig, TrainConfig
from skilldeck.tools.finetune.errors import FinetuneError, TrainingUnavailableError
from skilldeck.tools.finetune.targets import check_targets
from skilldeck.tools.jobs import JobInfo, JobManager

__all__ = ["FinetuneService", "TRAIN_KIND", "EVAL_KIND", "TRAIN_ENTRY", "EVAL_ENTRY"]

TRAIN_KIND, EVAL_KIND = "finetune", "finetune-eval"
TRAIN_ENTRY = "skilldeck.tools.finetune.training:run"
EVAL_ENTRY = "skilldeck.tools.finetune.evaluation:run"
EVENT_KINDS = ("loss_mask_check", "packing_disabled", "model_ready", "eval", "checkpoint", "early_stop", "resumed",
               "dropped_long_examples", "failed", "cancelled", "succeeded")


def _parse(model: type[BaseModel], spec: dict[str, Any]) -> BaseModel:
    try:
        return model(**spec)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'spec'}: {e['msg']}" for e in exc.errors()[:5])
        raise InvalidInputError(f"Invalid {model.__name__}: {problems}.") from None


def _require_file(path: str | None, what: str) -> None:
    if path and not Path(path).is_file():
        raise InvalidInputError(f"{what} {path!r} is not a file; pass the path of a JSONL dataset.")


def _hub_cache() -> Path:
    """Where huggingface_hub keeps downloaded models (HF_HUB_CACHE, else HF_HOME/hub, else ~/.cache)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    home = os.environ.get("HF_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "huggingface")
    return Path(home) / "hub"


def _require_model(name: str, offline: bool = False) -> None:
    """The base model must be there before a worker starts (it imports torch and fails seconds later
    otherwise): a local path must exist, a GGUF base needs the gguf package, and `offline`, a hub id
    must be in the Hugging Face cache."""
    from skilldeck.tools.finetune.gguf import find_gguf

    if os.path.isabs(name) and not os.path.exists(name):
        raise InvalidInputError(f"base_model {name!r}: no such file or folder; give a local model folder, a .gguf "
                                "file or a hub id.")
    if offline and not os.path.isabs(name) and not os.path.exists(name) \
            and not (_hub_cache() / f"models--{name.replace('/', '--')}" / "snapshots").is_dir():
        raise InvalidInputError(f"base_model {name!r} is not in the Hugging Face cache ({_hub_cache()}), and "
                                "training jobs run offline here: download it first (`hf download NAME`) or give "
                                "a local model folder.")

    try:
        gguf = find_gguf(name)
    except FinetuneError as exc:
        raise InvalidInputError(str(exc)) from None
    if gguf is None and name.lower().endswith(".gguf"):
        raise InvalidInputError(f"base_model {name!r} is not a file; pass the path of a .gguf file, a folder "
                                "holding one, a model folder or a hub id.")
    if gguf is not None and importlib.util.find_spec("gguf") is None:
        raise TrainingUnavailableError("A GGUF base model needs the gguf package: `pip install gguf` (part of "
                                       "`pip install 'skilldeck[train]'`).")


def _stack_missing() -> list[str]:
    return [m for m in ("torch", "transformers", "peft") if importlib.util.find_spec(m) is None]


# What a worker's environment gets to keep transformers and huggingface_hub from downloading.
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


class FinetuneService:
    """Starts and inspects fine-tuning jobs on the shared job mechanism."""

    def __init__(self, jobs: JobManager, offline: bool = False) -> None:
        """`offline`: jobs never download from the Hugging Face hub (a hub id must be cached), as for
        jobs a model starts through the MCP tools: it could name a repository of any size."""
        self.jobs = jobs
        self.env = OFFLINE_ENV if offline else None

    def _check_stack(self) -> None:
        missing = _stack_missing()
        if missing:
            raise TrainingUnavailableError(f"Training needs {', '.join(missing)} in the server's environment; "
                                           "install them with `pip install 'skilldeck[train]'`.")

    def start_training(self, spec: dict[str, Any]) -> JobInfo:
        """Validate a TrainConfig spec and start a training job; returns at once."""
        cfg = _parse(TrainConfig, spec)
        _require_model(cfg.base_model, offline=self.env is not None)
        _require_file(cfg.train_path, "train_path")
        _require_file(cfg.val_path, "val_path")
        _require_file(cfg.accelerate_config, "accelerate_config")
        if cfg.method != "full":
            check_targets(cfg.base_model, cfg.target_modules)
        self._check_stack()
        if cfg.method == "qlora" and importlib.util.find_spec("bitsandbytes") is None:
            raise TrainingUnavailableError("QLoRA needs bitsandbytes and a CUDA GPU; install bitsandbytes on the GPU "
                                           "machine, or use method 'lora' (same adapters, 16-bit base).")
        return self.jobs.start(TRAIN_KIND, TRAIN_ENTRY, cfg.model_dump(exclude_none=True), env=self.env)

    def start_evaluation(self, spec: dict[str, Any], training_job: str | None = None) -> JobInfo:
        """Start an evaluation job; `training_job` fills in the base model and adapter of a finished run."""
        spec = dict(spec)
        if training_job:
            info = self._training(training_job)
            if info.status.value != "succeeded" or not info.result:
                raise StateError(f"training job {training_job} is {info.status.value}; evaluate it once it has "
                                 "succeeded (resume it if it was cancelled).")
            spec.setdefault("base_model", info.spec["base_model"])
            spec.setdefault("tuned_path", info.result["weights"])
        cfg = _parse(EvalConfig, spec)
        _require_model(cfg.base_model, offline=self.env is not None)
        _require_file(cfg.test_path, "test_path")
        self._check_stack()
        return self.jobs.start(EVAL_KIND, EVAL_ENTRY, cfg.model_dump(), env=self.env)

    def _training(self, job_id: str) -> JobInfo:
        info = self.jobs.get(job_id)
        if info.kind not in (TRAIN_KIND, EVAL_KIND):
            raise NotFoundError(f"Job {job_id!r} is a {info.kind} job, not a fine-tuning job; list_trainings "
                                "shows those.")
        return info

    def status(self, job_id: str, events: int = 5) -> dict[str, Any]:
        """Status, latest progress (loss, eval loss, lr, tokens/s, GPU memory), recent events, result."""
        info = self._training(job_id)
        out = summary(info)
        recent = [e for e in self.jobs.recent_events(job_id) if e.get("event") in EVENT_KINDS]
        out["events"] = [{k: v for k, v in e.items() if k != "traceback"} for e in recent[-events:]] if events else []
        out["result"] = info.result
        return out

    def cancel(self, job_id: str) -> dict[str, Any]:
        """Cancel a running job; training saves a checkpoint first so resume can continue."""
        self._training(job_id)
        return summary(self.jobs.cancel(job_id))

    def resume(self, job_id: str) -> dict[str, Any]:
        self._training(job_id)
        return summary(self.jobs.resume(job_id))

    def list(self) -> list[dict[str, Any]]:
        infos = self.jobs.list(TRAIN_KIND) + self.jobs.list(EVAL_KIND)
        return [summary(i) for i in sorted(infos, key=lambda i: i.created, reverse=True)]


def summary(info: JobInfo) -> dict[str, Any]:
    """A compact view of a job for tool results."""
    spec = info.spec
    out: dict[str, Any] = {"id": info.id, "kind": info.kind, "status": info.status.value,
                           "progress": info.progress, "error": info.error,
                           "base_model": spec.get("base_model")}
    if info.kind == TRAIN_KIND:
        out["method"] = spec.get("method", "lora")
        out["train_path"] = spec.get("train_path")
    if info.result and isinstance(info.result, dict):
        if "weights" in info.result:
            out["weights"] = info.result["weights"]
        if "delta" in info.result:
            out["delta"] = info.result["delta"]
    return out
