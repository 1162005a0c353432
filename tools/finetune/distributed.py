"""Training on several processes through accelerate's launcher: the same job, progress, checkpoints,
cancel and resume as a single-process run.

A training job with ``num_processes > 1`` (or an ``accelerate_config``) does not train in its
worker. The worker runs::

    python -m accelerate.commands.launch --multi_gpu --num_processes N --main_process_port 0 \\
        -m skilldeck.tools.finetune.distributed JOB_DIR [--resume]

(with ``--config_file FILE`` instead of ``--multi_gpu`` when a config is given) and waits. Every
rank builds an `Accelerator` (NCCL on GPUs, gloo on CPU), wraps the model in DDP and trains on
its share of each step's micro-batches. Rank 0 alone writes progress, events, checkpoints and the
outputs; every rank reads the job's cancel file and they agree on stopping with one all-reduce
per step, so all stop at the same step and rank 0 saves the checkpoint. Rank 0 leaves the outcome
in ``distributed.json``, which the worker turns into the job's result, cancellation or failure.

Multi-node: run ``accelerate config`` on each machine (num_machines, machine_rank, main process
ip and port) and pass that file as ``accelerate_config``; start the same job spec on every node.
DDP is supported; FSDP and DeepSpeed configs are refused (their optimiser wrapping is not done here).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from skilldeck.tools.finetune.config import TrainConfig
from skilldeck.tools.finetune.errors import FinetuneError, TrainingUnavailableError
from skilldeck.tools.jobs import JobCancelled, JobContext

__all__ = ["Ranks", "launch", "launch_command", "OUTCOME", "main"]

OUTCOME = "distributed.json"


@dataclass
class Ranks:
    """This process's place among the training processes, and the few collectives training needs."""

    accelerator: Any
    rank: int
    world: int

    @property
    def main(self) -> bool:
        return self.rank == 0

    def _reduce(self, values: list[float], op: str = "sum") -> list[float]:
        import torch
        import torch.distributed as dist

        t = torch.tensor(values, dtype=torch.float64, device=self.accelerator.device)
        dist.all_reduce(t, op=dist.ReduceOp.SUM if op == "sum" else dist.ReduceOp.MAX)
        return t.tolist()

    def sum_ints(self, *values: int) -> list[int]:
        return [int(v) for v in self._reduce([float(v) for v in values])]

    def sum_float(self, value: Any) -> float:
        return self._reduce([float(value)])[0]

    def any(self, flag: bool) -> bool:
        """True on every rank when `flag` is true on any rank."""
        return self._reduce([1.0 if flag else 0.0], "max")[0] > 0


class _RankContext(JobContext):
    """A non-main rank's view of the job: it sees cancellation but writes nothing."""

    def log(self, event: str, **data: Any) -> None:
        pass

    def progress(self, done: float, total: float | None, message: str = "", **metrics: Any) -> None:
        pass


def launch_command(cfg: TrainConfig, job_dir: Path, resume: bool) -> list[str]:
    """The accelerate launch command line for a job."""
    cmd = [sys.executable, "-m", "accelerate.commands.launch"]
    if cfg.accelerate_config:
        cmd += ["--config_file", cfg.accelerate_config]
        if cfg.num_processes > 1:
            cmd += ["--num_processes", str(cfg.num_processes)]
    else:
        # --multi_gpu selects torch's elastic launcher; on a machine without GPUs each rank's
        # Accelerator(cpu=True) then sets up gloo. Port 0: a free port is picked.
        cmd += ["--multi_gpu", "--num_processes", str(cfg.num_processes), "--num_machines", "1",
                "--main_process_port", "0"]
    if cfg.cpu_threads:
        cmd += ["--num_cpu_threads_per_process", str(cfg.cpu_threads)]
    return cmd + ["-m", "skilldeck.tools.finetune.distributed", str(job_dir)] + (["--resume"] if resume else [])


def launch(ctx: JobContext, cfg: TrainConfig) -> dict[str, Any]:
    """Run the training ranks under accelerate's launcher and wait; returns rank 0's result."""
    import importlib.util

    if importlib.util.find_spec("accelerate") is None:
        raise TrainingUnavailableError("Training on several processes needs accelerate: `pip install accelerate` "
                                       "(part of `pip install 'skilldeck[train]'`).")
    (ctx.dir / OUTCOME).unlink(missing_ok=True)
    cmd = launch_command(cfg, ctx.dir, ctx.resume)
    ctx.log("launch", command=cmd[1:], num_processes=cfg.num_processes)
    # The ranks write to this worker's output.log (inherited stdout/stderr).
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    while proc.poll() is None:
        if ctx.cancelled() and not (ctx.dir / "cancel").exists():
            (ctx.dir / "cancel").touch()  # SIGTERM reached this worker only: tell the ranks through the file
        time.sleep(0.2)
    outcome = json.loads((ctx.dir / OUTCOME).read_text(encoding="utf-8")) if (ctx.dir / OUTCOME).exists() else {}
    status = outcome.get("status")
    if status == "succeeded":
        return outcome["result"]
    if status == "cancelled":
        raise JobCancelled(outcome.get("message", "training cancelled"))
    error = outcome.get("error") or f"accelerate launch exited with code {proc.returncode} before rank 0 finished"
    raise FinetuneError(f"{error} (see the job's output.log for every rank's output)")


def _check_engine(accelerator: Any) -> None:
    kind = str(accelerator.distributed_type).rsplit(".", 1)[-1]
    if kind in ("FSDP", "DEEPSPEED", "MEGATRON_LM", "XLA"):
        raise TrainingUnavailableError(f"The accelerate config selects {kind}; skilldeck's loop runs DDP "
                                       "(multi-GPU, multi-node or multi-CPU). Use a config with distributed_type "
                                       "MULTI_GPU, or one process per GPU without FSDP/DeepSpeed.")


def main(argv: list[str] | None = None) -> int:
    """One rank: ``python -m skilldeck.tools.finetune.distributed JOB_DIR [--resume]`` (run by accelerate)."""
    args = list(sys.argv[1:] if argv is None else argv)
    job_dir, resume = Path(args[0]), "--resume" in args
    job = json.loads((job_dir / "job.json").read_text(encoding="utf-8"))
    import torch
    from accelerate import Accelerator

    accelerator = Accelerator(cpu=not torch.cuda.is_available())
    ranks = Ranks(accelerator, accelerator.process_index, accelerator.num_processes)
    context = JobContext if ranks.main else _RankContext
    ctx = context(dir=job_dir, job_id=job["id"], spec=job.get("spec", {}), resume=resume)

    def outcome(**data: Any) -> None:
        if ranks.main:
            tmp = job_dir / f"{OUTCOME}.tmp"
            tmp.write_text(json.dumps(data, default=str), encoding="utf-8")
            os.replace(tmp, job_dir / OUTCOME)

    from skilldeck.tools.finetune.training import run_rank

    try:
        _check_engine(accelerator)
        result = run_rank(ctx, ranks)
    except JobCancelled as exc:
        outcome(status="cancelled", message=str(exc))
        return 0
    except BaseException as exc:  # noqa: BLE001 - the worker must learn why rank 0 stopped
        outcome(status="failed", error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc())
        raise
    outcome(status="succeeded", result=result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
