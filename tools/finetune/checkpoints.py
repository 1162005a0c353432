"""Checkpoints of a training job: trainable weights, optimiser, schedule, loop state and RNG.

Layout inside the job folder::

    checkpoints/step-0000040/   weights.pt optimizer.pt scheduler.pt state.json
    best/                       weights.pt state.json   (lowest eval loss so far)

A checkpoint is written to a temporary folder and renamed, so a kill mid-write never leaves a
half checkpoint that resume would trust. The last `keep` checkpoints are kept.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

__all__ = ["save_checkpoint", "latest_checkpoint", "load_checkpoint", "save_best", "load_best"]


def _write(folder: Path, tensors: dict[str, Any], state: dict[str, Any]) -> None:
    import torch

    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for name, obj in tensors.items():
        torch.save(obj, tmp / f"{name}.pt")
    (tmp / "state.json").write_text(json.dumps(state, indent=1), encoding="utf-8")
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)


def save_checkpoint(job_dir: Path, step: int, weights: dict, optimizer: Any, scheduler: Any, state: dict,
                    keep: int = 2) -> Path:
    import torch

    root = job_dir / "checkpoints"
    folder = root / f"step-{step:07d}"
    _write(folder, {"weights": weights, "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                    "rng": {"torch": torch.get_rng_state(),
                            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}}, state)
    for old in sorted(p for p in root.iterdir() if p.is_dir() and p.name.startswith("step-")
                      and not p.name.endswith(".tmp"))[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return folder


def latest_checkpoint(job_dir: Path) -> Path | None:
    root = job_dir / "checkpoints"
    if not root.exists():
        return None
    done = sorted(p for p in root.iterdir() if p.is_dir() and p.name.startswith("step-") and not p.name.endswith(".tmp")
                  and (p / "state.json").exists())
    return done[-1] if done else None


def load_checkpoint(folder: Path) -> tuple[dict, dict, dict, dict, dict]:
    """(weights, optimizer state, scheduler state, rng, loop state)."""
    import torch

    def load(name: str) -> Any:
        return torch.load(folder / f"{name}.pt", map_location="cpu", weights_only=False)

    state = json.loads((folder / "state.json").read_text(encoding="utf-8"))
    return load("weights"), load("optimizer"), load("scheduler"), load("rng"), state


def save_best(job_dir: Path, weights: dict, state: dict) -> None:
    _write(job_dir / "best", {"weights": weights}, state)


def load_best(job_dir: Path) -> dict | None:
    import torch

    path = job_dir / "best" / "weights.pt"
    return torch.load(path, map_location="cpu", weights_only=True) if path.exists() else None
