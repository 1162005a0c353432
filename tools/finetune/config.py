"""Training and evaluation job specs: every option with its default and what it does.

Usage::

    cfg = TrainConfig(base_model="Qwen/Qwen2-0.5B", train_path="train.jsonl", val_path="val.jsonl")
    cfg.resolved_learning_rate()   # 2e-4 for LoRA/QLoRA, 1e-5 for full fine-tuning
"""

from __future__ import annotations

import os
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

CORES = os.cpu_count() or 1  # the most cpu_threads may ask for
MAX_SEQ_LEN = 10_000_000  # past any model's context; a 4,000-digit int is refused, not echoed

__all__ = ["TrainConfig", "EvalConfig"]


class TrainConfig(BaseModel):
    """A supervised fine-tuning run (the job spec of kind ``finetune``)."""

    model_config = ConfigDict(extra="forbid")

    base_model: str = Field(description="Local model folder, GGUF file (or a folder holding one) or Hugging Face hub "
                            "id (hub ids need network or cache).")
    train_path: str = Field(description="Training data, JSONL ({instruction, input, output} or {messages}).")
    val_path: str | None = Field(None, description="Validation data for periodic evaluation and early stopping.")
    method: Literal["lora", "qlora", "full"] = Field("lora", description="lora: low-rank adapters on a frozen "
                                                     "base; qlora: the same on a 4-bit base (needs CUDA and "
                                                     "bitsandbytes); full: update every weight.")
    lora_r: int = Field(16, ge=1, le=1024, description="LoRA rank: capacity of the adapters.")
    lora_alpha: int = Field(32, ge=1, description="LoRA scaling numerator (update scaled by alpha/r).")
    lora_dropout: float = Field(0.05, ge=0, lt=1, description="Dropout on the LoRA input.")
    target_modules: str | list[str] = Field("all-linear", description="Layers that get adapters: 'all-linear' "
                                            "or module names such as ['q_proj', 'v_proj'].")
    learning_rate: float | None = Field(None, gt=0, description="Peak learning rate (default 2e-4 for LoRA and "
                                        "QLoRA, 1e-5 for full fine-tuning).")
    lr_scheduler: Literal["cosine", "linear", "constant"] = Field("cosine", description="Decay after warm-up.")
    warmup_ratio: float = Field(0.03, ge=0, lt=1, description="Share of steps spent warming up the learning rate.")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay.")
    max_grad_norm: float = Field(1.0, gt=0, description="Gradient clipping norm.")
    num_epochs: float = Field(3.0, gt=0, le=1000, allow_inf_nan=False,
                              description="Passes over the training data (ignored when max_steps is set).")
    max_steps: int | None = Field(None, ge=1, description="Stop after this many optimiser steps.")
    batch_size: int = Field(4, ge=1, description="Sequences per micro-batch (packed rows when packing).")
    grad_accum: int = Field(1, ge=1, le=4096, description="Micro-batches per optimiser step.")
    max_seq_len: int = Field(2048, ge=16, le=MAX_SEQ_LEN, description="Longest sequence; longer examples are "
                                                                       "dropped and counted.")
    packing: bool | None = Field(None, description="Pack several examples per row (no padding, attention kept "
                                 "within each example). Default: on with CUDA, off on CPU.")
    precision: Literal["auto", "bf16", "fp16", "fp32"] = Field("auto", description="auto: bf16 on a GPU that "
                                                               "supports it, else fp32.")
    gradient_checkpointing: bool = Field(False, description="Trade compute for memory on long sequences.")
    eval_every: int = Field(50, ge=1, description="Evaluate on the validation set every N optimiser steps.")
    save_every: int = Field(100, ge=1, description="Checkpoint every N optimiser steps (and on cancel).")
    log_every: int = Field(10, ge=1, description="Write a progress record every N optimiser steps.")
    early_stopping_patience: int = Field(3, ge=0, description="Stop after this many evaluations without "
                                         "improvement (0 disables early stopping).")
    early_stopping_min_delta: float = Field(0.0, ge=0, description="Smallest eval-loss drop that counts.")
    seed: int = Field(0, description="Seed for shuffling, dropout and adapter initialisation.")
    output_dir: str | None = Field(None, description="Where the adapter, config, metrics and model card go "
                                   "(default: the job folder's output/).")
    trust_remote_code: bool = Field(False, description="Allow model code from the hub (only for models you trust).")
    # At most the machine's cores: 300 gave a worker 603 threads on two cores.
    cpu_threads: int | None = Field(None, ge=1, le=CORES, description="Threads for CPU work (default: torch's "
                                    "choice; at most this machine's cores); 1 avoids stalls when other processes "
                                    "share the cores.")
    num_processes: int = Field(1, ge=1, le=1024, description="Training processes, launched with accelerate "
                               "(DDP: one per GPU, gloo on CPU); 1 trains in the job's worker itself. The batch "
                               "per step is batch_size x grad_accum x num_processes.")
    accelerate_config: str | None = Field(None, description="An `accelerate config` file for multi-GPU or "
                                          "multi-node DDP (num_machines, machine_rank, main_process_ip, ...); "
                                          "its num_processes applies unless num_processes is above 1.")
    data_within: list[str] | None = Field(None, description="Folders the data files must really lie in when "
                                          "the worker reads them (set by the MCP server; None: anywhere).")

    def resolved_learning_rate(self) -> float:
        if self.learning_rate is not None:
            return self.learning_rate
        return 1e-5 if self.method == "full" else 2e-4


class EvalConfig(BaseModel):
    """Compare a tuned model with its base on held-out data (the job spec of kind ``finetune-eval``)."""

    model_config = ConfigDict(extra="forbid")

    base_model: str = Field(description="The base model folder, GGUF file or hub id.")
    tuned_path: str = Field(description="The adapter folder (or full model folder) a training job wrote.")
    test_path: str = Field(description="Held-out JSONL in the training format.")
    max_examples: int = Field(200, ge=1, description="Examples used (the first N).")
    max_new_tokens: int = Field(256, ge=1, description="Generation budget per example.")
    max_seq_len: int = Field(2048, ge=16, le=MAX_SEQ_LEN, description="Longest prompt + reference for the loss.")
    batch_size: int = Field(8, ge=1, description="Examples per forward pass.")
    include_base: bool = Field(True, description="Also score the base model for comparison.")
    trust_remote_code: bool = Field(False, description="Allow model code from the hub.")
    cpu_threads: int | None = Field(None, ge=1, le=CORES, description="Threads for CPU work (default: torch's "
                                    "choice; at most this machine's cores).")
    data_within: list[str] | None = Field(None, description="Folders test_path must really lie in when the "
                                          "worker reads it (set by the MCP server; None: anywhere).")
