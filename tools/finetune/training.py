"""The training job: ``JobManager.start("finetune", "skilldeck.tools.finetune.training:run", spec)``.

Runs in its own worker process. Order of work: validate the spec, load and encode the data,
check the loss mask on real batches (before any weights change), load the model, then train
with periodic evaluation, early stopping and checkpoints. Cancelling saves a checkpoint first;
resuming restores weights, optimiser, schedule, RNG and the position in the data.
Output (``output_dir``): the adapter (or full model) with its tokenizer, the exact config,
the metrics and a short model card.
"""

from __future__ import annotations

import json
import math
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from skilldeck.tools.finetune.config import TrainConfig
from skilldeck.tools.finetune.errors import DatasetError
from skilldeck.tools.jobs import JobCancelled, JobContext

__all__ = ["run", "LoopState", "Batches"]


@dataclass
class LoopState:
    """Where training stands; saved in every checkpoint."""

    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    tokens: int = 0
    train_seconds: float = 0.0
    best_eval: float | None = None
    best_step: int | None = None
    bad_evals: int = 0
    stopped_early: bool = False
    history: list[dict[str, Any]] = field(default_factory=list)


class Batches:
    """Deterministic micro-batches per epoch (padded, or packed rows), reproducible on resume."""

    def __init__(self, examples: list, batch_size: int, pad_id: int, packing: bool, max_seq_len: int, seed: int):
        from skilldeck.tools.finetune.encoding import pack_examples

        self.units = pack_examples(examples, max_seq_len) if packing else [[e] for e in examples]
        self.batch_size, self.pad_id, self.packing, self.seed = batch_size, pad_id, packing, seed

    def __len__(self) -> int:
        return math.ceil(len(self.units) / self.batch_size)

    def epoch(self, epoch: int, start: int = 0):
        from skilldeck.tools.finetune.encoding import packed_batch, pad_batch

        order = list(range(len(self.units)))
        random.Random(self.seed * 1000 + epoch).shuffle(order)
        for b in range(start, len(self)):
            chunk = [self.units[i] for i in order[b * self.batch_size:(b + 1) * self.batch_size]]
            if self.packing:
                yield packed_batch(chunk, self.pad_id)
            else:
                yield pad_batch([u[0] for u in chunk], self.pad_id)


def _load_split(formatter: Any, path: str | None, max_seq_len: int, ctx: JobContext, name: str,
                within: list[str] | None = None) -> list:
    from skilldeck.tools.finetune.encoding import encode_records
    from skilldeck.tools.finetune.records import load_records

    if not path:
        return []
    folders = [Path(p) for p in within] if within is not None else None
    kept, dropped = encode_records(formatter, load_records(path, folders), max_seq_len)
    if dropped:
        ctx.log("dropped_long_examples", split=name, count=len(dropped), first=dropped[:5], max_seq_len=max_seq_len)
    if not kept:
        raise DatasetError(f"Every example in {path!r} is longer than max_seq_len={max_seq_len} tokens; raise it.")
    return kept


class _Run:
    """One training run inside a job worker."""

    def __init__(self, ctx: JobContext, ranks: Any = None) -> None:
        self.ctx = ctx
        self.ranks = ranks  # distributed.Ranks under accelerate's launcher, else None
        self.main = ranks is None or ranks.main  # only the main process writes files and reports
        self.world = ranks.world if ranks else 1
        self.cfg = TrainConfig(**ctx.spec)
        self.out_dir = Path(self.cfg.output_dir) if self.cfg.output_dir else ctx.dir / "output"
        self.state = LoopState()

    # -- set-up ---------------------------------------------------------------------------
    def prepare_data(self) -> None:
        from skilldeck.tools.finetune.encoding import ChatFormatter, check_loss_mask
        from skilldeck.tools.finetune.models import device_and_dtype, load_tokenizer, packing_supported

        cfg = self.cfg
        self.device, self.dtype = device_and_dtype(cfg.precision, cfg.cpu_threads)
        self.packing = cfg.packing if cfg.packing is not None else self.device == "cuda"
        if self.packing and not packing_supported(self.device):
            # Without either, packed examples would attend to each other: train unpacked instead.
            self.ctx.log("packing_disabled", reason="needs FlashAttention-2 or transformers >= 4.53")
            self.packing = False
        self.tokenizer = load_tokenizer(cfg.base_model, cfg.trust_remote_code)
        self.formatter = ChatFormatter(self.tokenizer)
        train = _load_split(self.formatter, cfg.train_path, cfg.max_seq_len, self.ctx, "train", cfg.data_within)
        self.val = _load_split(self.formatter, cfg.val_path, cfg.max_seq_len, self.ctx, "val", cfg.data_within)
        self.batches = Batches(train, cfg.batch_size, self.tokenizer.pad_token_id, self.packing, cfg.max_seq_len,
                               cfg.seed)
        self.val_batches = Batches(self.val, cfg.batch_size, self.tokenizer.pad_token_id, False, cfg.max_seq_len, 0)
        # Decode what carries loss before any weight changes: a masked EOS fails here, not after hours.
        report = check_loss_mask(self.batches.epoch(0), self.tokenizer)
        self.ctx.log("loss_mask_check", ok=True, template=self.formatter.template_source, **report)
        steps_per_epoch = math.ceil(len(self.batches) / (cfg.grad_accum * self.world))
        self.total_steps = cfg.max_steps or max(1, math.ceil(steps_per_epoch * cfg.num_epochs))
        self.n_train = len(train)

    def prepare_model(self) -> None:
        import torch

        from skilldeck.tools.finetune.loop import TrainingLoop, make_optimizer, make_scheduler
        from skilldeck.tools.finetune.models import prepare_model

        torch.manual_seed(self.cfg.seed)
        self.model = prepare_model(self.cfg, self.device, self.dtype)
        trained = self.model
        if self.ranks:
            # DDP through accelerate; self.model stays the plain module for checkpoints and export.
            trained = self.ranks.accelerator.prepare_model(self.model)
            torch.manual_seed(self.cfg.seed + self.ranks.rank)  # each rank its own dropout masks
        optimizer = make_optimizer(self.model, self.cfg.resolved_learning_rate(), self.cfg.weight_decay)
        warmup = int(self.cfg.warmup_ratio * self.total_steps)
        scheduler = make_scheduler(optimizer, self.cfg.lr_scheduler, warmup, self.total_steps)
        self.loop = TrainingLoop(trained, optimizer, scheduler, self.device, self.dtype, self.cfg.max_grad_norm,
                                 ranks=self.ranks)
        trainable = sum(p.numel() for p in self.model.parameters() if p.requires_grad)
        total = sum(p.numel() for p in self.model.parameters())
        self.params = {"trainable": trainable, "total": total}
        self.ctx.log("model_ready", device=self.device, dtype=str(self.dtype).replace("torch.", ""), processes=self.world,
                     packing=self.packing, trainable_params=trainable, total_params=total,
                     total_steps=self.total_steps, train_examples=self.n_train, val_examples=len(self.val))

    def restore(self) -> None:
        import torch

        from skilldeck.tools.finetune.checkpoints import latest_checkpoint, load_checkpoint
        from skilldeck.tools.finetune.models import load_trainable_state

        folder = latest_checkpoint(self.ctx.dir)
        if not self.ctx.resume or folder is None:
            return
        weights, opt, sched, rng, state = load_checkpoint(folder)
        load_trainable_state(self.model, self.cfg.method, weights)
        self.loop.optimizer.load_state_dict(opt)
        self.loop.scheduler.load_state_dict(sched)
        torch.set_rng_state(rng["torch"])
        if rng.get("cuda"):
            torch.cuda.set_rng_state_all(rng["cuda"])
        self.state = LoopState(**state)
        self.ctx.log("resumed", checkpoint=folder.name, step=self.state.step)

    # -- the loop -------------------------------------------------------------------------
    def checkpoint(self) -> Path | None:
        from skilldeck.tools.finetune.checkpoints import save_checkpoint
        from skilldeck.tools.finetune.models import trainable_state

        if not self.main:
            return None  # the weights are the same on every rank: rank 0 keeps them
        folder = save_checkpoint(self.ctx.dir, self.state.step, trainable_state(self.model, self.cfg.method),
                                 self.loop.optimizer, self.loop.scheduler, asdict(self.state))
        self.ctx.log("checkpoint", step=self.state.step, path=str(folder))
        return folder

    def micro_batches(self):
        """Micro-batches from the saved position on, across epochs; tracks the position."""
        while True:
            for batch in self.batches.epoch(self.state.epoch, self.state.batch_in_epoch):
                self.state.batch_in_epoch += 1
                yield batch
            self.state.epoch += 1
            self.state.batch_in_epoch = 0

    def train(self) -> None:
        cfg, st = self.cfg, self.state
        stream = self.micro_batches()
        while st.step < self.total_steps and not st.stopped_early:
            cancelled = self.ctx.cancelled()
            if self.ranks:
                cancelled = self.ranks.any(cancelled)  # every rank stops at the same step
            if cancelled:
                self.checkpoint()
                raise JobCancelled(f"training cancelled at step {st.step}; a checkpoint was saved, resume to continue")
            # Each step takes grad_accum micro-batches per process from one stream, so the position
            # in the data (and resume) is the same whatever the number of processes.
            share = [next(stream) for _ in range(cfg.grad_accum * self.world)]
            result = self.loop.step(share[self.ranks.rank::self.world] if self.ranks else share)
            st.step += 1
            st.tokens += result.tokens
            st.train_seconds += result.seconds
            record = {"step": st.step, "loss": round(result.loss, 5), "lr": self.loop.scheduler.get_last_lr()[0],
                      "tokens_per_s": round(result.tokens / max(result.seconds, 1e-9), 1), "epoch": st.epoch}
            if self.val and (st.step % cfg.eval_every == 0 or st.step == self.total_steps):
                record.update(self.evaluate())
            self.report(record)
            if st.step % cfg.save_every == 0:
                self.checkpoint()

    def evaluate(self) -> dict[str, Any]:
        from skilldeck.tools.finetune.checkpoints import save_best
        from skilldeck.tools.finetune.models import trainable_state

        from skilldeck.tools.finetune.loop import mean_loss

        cfg, st = self.cfg, self.state
        # Every rank scores the whole validation set on the plain module (no collectives), so all
        # reach the same early-stopping decision.
        ev = mean_loss(self.model, list(self.val_batches.epoch(0)), self.device, self.dtype)
        if st.best_eval is None or ev["loss"] < st.best_eval - cfg.early_stopping_min_delta:
            st.best_eval, st.best_step, st.bad_evals = ev["loss"], st.step, 0
            if self.main:
                save_best(self.ctx.dir, trainable_state(self.model, cfg.method),
                          {"step": st.step, "eval_loss": ev["loss"]})
        else:
            st.bad_evals += 1
            if cfg.early_stopping_patience and st.bad_evals >= cfg.early_stopping_patience:
                st.stopped_early = True
                self.ctx.log("early_stop", step=st.step, best_step=st.best_step, best_eval_loss=st.best_eval)
        self.ctx.log("eval", step=st.step, eval_loss=ev["loss"], perplexity=ev["perplexity"])
        return {"eval_loss": ev["loss"], "eval_perplexity": ev["perplexity"]}

    def report(self, record: dict[str, Any]) -> None:
        from skilldeck.tools.finetune.loop import gpu_memory_gb

        self.state.history.append(record)
        if record["step"] % self.cfg.log_every and "eval_loss" not in record and record["step"] != self.total_steps:
            return
        mem = gpu_memory_gb()
        extra = {"gpu_mem_gb": mem} if mem is not None else {}
        msg = f"step {record['step']}/{self.total_steps} loss {record['loss']:.4f}"
        if "eval_loss" in record:
            msg += f" eval {record['eval_loss']:.4f}"
        self.ctx.progress(record["step"], self.total_steps, msg, **record, **extra)

    # -- output ---------------------------------------------------------------------------
    def export(self) -> dict[str, Any]:
        from skilldeck.tools.finetune.card import write_outputs
        from skilldeck.tools.finetune.checkpoints import load_best
        from skilldeck.tools.finetune.models import load_trainable_state, stack_versions

        best = load_best(self.ctx.dir) if self.state.best_step is not None else None
        if best is not None and self.state.best_step != self.state.step:
            load_trainable_state(self.model, self.cfg.method, best)  # ship the best weights, not the last
        return write_outputs(self, stack_versions())


def run(ctx: JobContext) -> dict[str, Any]:
    """Job entry point: train, export, and return where the outputs went and the final metrics.
    With num_processes > 1 or an accelerate_config, the training runs under accelerate's launcher."""
    cfg = TrainConfig(**ctx.spec)
    if cfg.num_processes > 1 or cfg.accelerate_config:
        from skilldeck.tools.finetune.distributed import launch

        return launch(ctx, cfg)
    return run_rank(ctx)


def run_rank(ctx: JobContext, ranks: Any = None) -> dict[str, Any]:
    """Train in this process (alone, or as one of `ranks`); the main process exports and returns the result."""
    from skilldeck.tools.finetune.models import quiet_progress_bars, require_stack

    require_stack()
    quiet_progress_bars()
    started = time.time()
    job = _Run(ctx, ranks)
    job.prepare_data()
    job.prepare_model()
    job.restore()
    job.train()
    if not job.main:
        return {}
    result = job.export()
    result["wall_seconds"] = round(time.time() - started, 1)
    (job.out_dir / "metrics.json").write_text(json.dumps(result["metrics"], indent=1), encoding="utf-8")
    return result
