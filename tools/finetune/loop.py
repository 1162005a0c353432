"""The training step and evaluation pass, shared by training jobs and the GPU benchmark.

One optimiser step runs `grad_accum` micro-batches; the loss is normalised by the number of
target tokens across all of them (`num_items_in_batch`), so accumulation matches one large
batch however the tokens fall. bf16/fp16 run under autocast; fp32 runs as is.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["StepResult", "TrainingLoop", "make_optimizer", "make_scheduler", "gpu_memory_gb", "mean_loss"]


@dataclass
class StepResult:
    loss: float
    tokens: int          # input tokens processed (padding excluded)
    target_tokens: int   # tokens that carried loss
    seconds: float


def gpu_memory_gb() -> float | None:
    import torch

    if not torch.cuda.is_available():
        return None
    return round(torch.cuda.max_memory_allocated() / 1e9, 2)


def make_optimizer(model: Any, lr: float, weight_decay: float) -> Any:
    import torch

    params = [p for p in model.parameters() if p.requires_grad]
    fused = torch.cuda.is_available() and all(p.is_cuda for p in params)
    # The fused CUDA kernel updates all parameters in one launch: measurably faster on GPU.
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, betas=(0.9, 0.999), fused=fused or None)


def make_scheduler(optimizer: Any, kind: str, warmup: int, total: int) -> Any:
    from transformers import get_constant_schedule_with_warmup, get_cosine_schedule_with_warmup, \
        get_linear_schedule_with_warmup

    if kind == "cosine":
        return get_cosine_schedule_with_warmup(optimizer, warmup, total)
    if kind == "linear":
        return get_linear_schedule_with_warmup(optimizer, warmup, total)
    return get_constant_schedule_with_warmup(optimizer, warmup)


class TrainingLoop:
    """Runs optimiser steps and evaluation passes on one device."""

    def __init__(self, model: Any, optimizer: Any, scheduler: Any, device: str, dtype: Any,
                 max_grad_norm: float = 1.0, ranks: Any = None) -> None:
        import torch

        self.model, self.optimizer, self.scheduler = model, optimizer, scheduler
        self.ranks = ranks  # a distributed.Ranks when several processes train together, else None
        self.device = device
        self.autocast = dtype in (torch.bfloat16, torch.float16)
        self.dtype = dtype
        self.max_grad_norm = max_grad_norm
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.items_kwarg = True

    def _context(self) -> Any:
        import torch

        if not self.autocast:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device, dtype=self.dtype)

    def _to_device(self, batch: dict[str, Any]) -> dict[str, Any]:
        return {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}

    def _loss(self, batch: dict[str, Any], targets: int) -> Any:
        """Sum of token losses in `batch` divided by the targets of the whole step."""
        import torch

        if self.items_kwarg:
            try:
                return self.model(**batch, num_items_in_batch=torch.tensor(targets, device=self.device)).loss
            except TypeError as exc:
                if "num_items_in_batch" not in str(exc):
                    raise
                self.items_kwarg = False  # transformers < 4.46: scale the per-batch mean instead
        mine = int((batch["labels"][:, 1:] != -100).sum())
        return self.model(**batch).loss * (mine / targets)

    def step(self, micro_batches: Sequence[dict[str, Any]]) -> StepResult:
        """One optimiser step over `micro_batches`; returns the mean loss per target token."""
        import torch

        start = time.perf_counter()
        self.model.train()
        targets = sum(int((b["labels"][:, 1:] != -100).sum()) for b in micro_batches)
        tokens = sum(_real_tokens(b) for b in micro_batches)
        world = self.ranks.world if self.ranks else 1
        if self.ranks:
            # Normalise by the targets of every process: DDP averages gradients over `world` ranks,
            # so each rank's sum / global targets, times world, averages to the one-batch loss.
            targets, tokens = self.ranks.sum_ints(targets, tokens)
        total = torch.zeros((), device=self.device)
        for i, batch in enumerate(micro_batches):
            batch = self._to_device({k: v for k, v in batch.items() if k != "num_tokens"})
            last = i == len(micro_batches) - 1
            # Gradients are exchanged once per step, after the last micro-batch.
            sync = contextlib.nullcontext() if last or not hasattr(self.model, "no_sync") else self.model.no_sync()
            with sync:
                with self._context():
                    loss = self._loss(batch, max(targets, 1))
                (loss * world).backward()
            total += loss.detach()
        torch.nn.utils.clip_grad_norm_(self.params, self.max_grad_norm)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.ranks.sum_float(total) if self.ranks else float(total)  # one sync per step
        return StepResult(loss, tokens, targets, time.perf_counter() - start)

    def evaluate(self, batches: Sequence[dict[str, Any]]) -> dict[str, float]:
        """Mean loss per target token over `batches`, and its perplexity."""
        return mean_loss(self.model, batches, self.device, self.dtype)


def mean_loss(model: Any, batches: Sequence[dict[str, Any]], device: str, dtype: Any) -> dict[str, float]:
    """Token-weighted mean loss on the labelled tokens of `batches`, with perplexity."""
    import torch

    model.eval()
    autocast = dtype in (torch.bfloat16, torch.float16)
    loss_sum, count = 0.0, 0
    with torch.no_grad():
        for batch in batches:
            n = int((batch["labels"][:, 1:] != -100).sum())
            if not n:
                continue
            ctx = torch.autocast(device_type=device, dtype=dtype) if autocast else contextlib.nullcontext()
            with ctx:
                out = model(**{k: v.to(device) for k, v in batch.items() if k != "num_tokens"},
                            num_items_in_batch=torch.tensor(n, device=device))
            loss_sum += float(out.loss) * n
            count += n
    mean = loss_sum / max(count, 1)
    return {"loss": round(mean, 5), "perplexity": round(math.exp(min(mean, 50.0)), 4), "tokens": count}


def _real_tokens(batch: dict[str, Any]) -> int:
    if "num_tokens" in batch:
        return int(batch["num_tokens"])
    if "attention_mask" in batch:
        return int(batch["attention_mask"].sum())
    return int(batch["input_ids"].numel())
