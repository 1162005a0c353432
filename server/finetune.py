"""MCP adapter for fine-tuning: advice, dataset validation, training jobs, evaluation.

Training and evaluation run as jobs (one worker process each) so the server stays responsive;
the start tools can wait a little and send progress notifications meanwhile, and
training_status reports the same figures later.
"""

from __future__ import annotations

import os
from typing import Annotated, Any, Literal

import anyio
from mcp.server.mcpserver import Context
from pydantic import Field, TypeAdapter

from skilldeck.server.errors import tool_errors
from skilldeck.server.jobs import follow_job
from skilldeck.server.paths import Confinement
from skilldeck.tools.errors import InvalidInputError

__all__ = ["register", "TOOLSET"]

TOOLSET = ("decide whether to fine-tune, build few-shot examples, validate instruction data, run LoRA training "
           "jobs, evaluate tuned vs base")

WaitS = Annotated[float, Field(ge=0, le=600, description="Seconds to wait for progress before returning "
                                                        "(progress notifications are sent meanwhile); 0 returns at once")]


def _as_int(value: Any) -> int | None:
    """`value` as the training config will read it ("4" and 4.0 are 4, as pydantic converts them),
    or None when it is absent or not a number (the config's own validation then names the error)."""
    if value is None:
        return None
    try:
        return TypeAdapter(int).validate_python(value)
    except ValueError:
        return None


class FinetuneTools:
    """The finetune tools: each public method is one (see `register`). Every path they take comes
    from the model: data in the project (or data_dirs), models also in model_dirs and the server's
    jobs folder (adapters it trained), writes in the project or data_dirs."""

    def __init__(self, services: Any) -> None:
        self.jobs = services.jobs
        self.where = Confinement.from_settings(services.settings, jobs_dir=self.jobs.root)
        self.data_within = [str(p) for p in self.where.bases("data")]

    def _path(self, p: str | None, what: str, write: bool = False) -> str | None:
        return None if p is None else str(self.where.allowed_path(p, what, write=write))

    def _new_folder(self, p: str | None, what: str, names: tuple[str, ...] = ()) -> str | None:
        """A folder to write into that holds nothing the write would replace: no file among `names`
        (none at all without `names`). A model's output_dir "." replaced the project's README.md with
        a model card, and links planted in a folder were written through to files outside."""
        real = self._path(p, what, write=True)
        if real is None or not os.path.lexists(real):
            return real
        if not os.path.isdir(real) or os.path.islink(real):
            raise InvalidInputError(f"{what} {p[:200]!r} exists and is not a folder; give a new folder")
        taken = [n for n in names if os.path.lexists(os.path.join(real, n))] if names else os.listdir(real)
        if taken:
            shown = sorted(n for n in taken if not n.startswith("."))[:5]  # hidden names are not the model's business
            held = ", ".join(shown) if shown else "hidden files"
            raise InvalidInputError(f"{what} {p[:200]!r} already holds {held}; give a new or empty folder, "
                                    "so that nothing there is overwritten")
        return real

    def _model(self, p: str | None, what: str) -> str | None:
        if p is None:
            return None
        if p.strip().lower().endswith(".gguf"):
            # A GGUF file is a model path however it is spelt ("models/x.gguf" also looks like a hub id).
            return str(self.where.allowed_path(p, what, kind="model"))
        return self.where.allowed_model(p, what)

    def _server_only(self, options: dict[str, Any] | None) -> dict[str, Any]:
        options = dict(options or {})
        for key in ("data_within", "trust_remote_code"):
            if key in options:
                # trust_remote_code runs code from the hub: a person decides that, through the CLI.
                raise InvalidInputError(f"options.{key} cannot be set from a tool call; "
                                        + ("run `skilldeck finetune train --set trust_remote_code=true` yourself for a "
                                           "model that needs it." if key == "trust_remote_code" else
                                           "the server sets it."))
        return options

    def _service(self):
        from skilldeck.tools.finetune.service import FinetuneService

        return FinetuneService(self.jobs, offline=True)  # a model-chosen hub id is never downloaded

    def finetune_advice(
        self,
        examples: Annotated[int, Field(ge=0, le=10**12, description="How many good labelled examples you have")],
        task_change: Annotated[Literal["stable", "monthly", "weekly", "daily"], Field(
            description="How often the task's rules, facts or format change")] = "stable",
        gap: Annotated[Literal["behaviour", "knowledge", "both", "unknown"], Field(
            description="What the base model lacks: behaviour (format, style, consistency) or knowledge (facts)")]
        = "unknown",
        model_params_b: Annotated[float, Field(gt=0, le=1000, allow_inf_nan=False,
                                               description="Base model size, billions of parameters")] = 7.0,
        gpu_memory_gb: Annotated[float | None, Field(ge=0, le=100_000, allow_inf_nan=False,
                                                     description="Training GPU memory in GB (0: none)")] = None,
        can_evaluate: Annotated[bool, Field(description="Whether a held-out evaluation set exists")] = True,
    ) -> dict:
        """Decide whether to fine-tune at all: prompting + retrieval, few-shot, LoRA, QLoRA or full fine-tuning.

        Call this before collecting data or starting a run. Returns the approach, the reasons,
        starting hyper-parameters, memory estimates per method, cautions and next steps.
        """
        from skilldeck.tools.finetune.advisor import AdviceRequest, advise

        with tool_errors():
            return advise(AdviceRequest(examples=examples, task_change=task_change, gap=gap,
                                        model_params_b=model_params_b, gpu_memory_gb=gpu_memory_gb,
                                        can_evaluate=can_evaluate)).to_dict()

    def validate_dataset(
        self,
        train_path: Annotated[str, Field(description="Training JSONL: {task, instruction, input, output} or "
                                                     "{messages: [...]} per line")],
        val_path: Annotated[str | None, Field(description="Validation JSONL (checked for leakage)")] = None,
        test_path: Annotated[str | None, Field(description="Test JSONL (checked for leakage)")] = None,
        max_seq_len: Annotated[int, Field(ge=16, le=10_000_000, description="Training sequence length, for "
                                                                         "truncation warnings")] = 2048,
        tokenizer: Annotated[str | None, Field(description="Model folder or tokenizer.json for exact token "
                                                           "counts (default: cl100k estimate)")] = None,
        write_splits_to: Annotated[str | None, Field(description="Folder to write clean, de-duplicated, "
                                                                 "group-aware train/val/test splits into")] = None,
    ) -> dict:
        """Check instruction data before training and report problems with file:line locations.

        Finds schema errors, exact and near duplicates, one prompt with conflicting outputs,
        leakage between train/val/test, task and label imbalance, vague instructions, output
        formats that drift within a task, and examples over max_seq_len. With write_splits_to,
        also writes clean splits (duplicates and conflicts removed, groups kept in one split).
        """
        from skilldeck.tools.finetune import validate, write_splits

        with tool_errors():
            files = {k: self._path(v, f"{k}_path") for k, v in (("train", train_path), ("val", val_path),
                                                           ("test", test_path)) if v is not None}
            out_dir = self._new_folder(write_splits_to, "write_splits_to", ("train.jsonl", "val.jsonl", "test.jsonl"))
            report = validate(files, max_seq_len=max_seq_len, tokenizer=self._model(tokenizer, "tokenizer"),
                              within=self.where.bases("data"), tokenizer_within=self.where.bases("model"))
            out = {"summary": report.render(), **report.to_dict()}
            if out_dir:
                out["splits"] = write_splits(files, out_dir, within=self.where.bases("data"),
                                             out_within=self.where.bases("data", write=True)).to_dict()
            return out

    def build_few_shot(
        self,
        dataset_path: Annotated[str, Field(description="JSONL dataset to take the examples from (same formats "
                                                       "as validate_dataset)")],
        task: Annotated[str | None, Field(description="The record 'task' the examples are for (needed when the "
                                                      "dataset holds several)")] = None,
        examples: Annotated[int, Field(ge=3, le=5, description="How many examples to choose")] = 4,
        token_budget: Annotated[int, Field(ge=1, description="Warn when the block is longer than this")] = 1000,
        tokenizer: Annotated[str | None, Field(description="Model folder, tokenizer.json or GGUF file for exact "
                                                           "token counts (default: cl100k estimate)")] = None,
    ) -> dict:
        """Choose 3-5 few-shot examples from a dataset and render them as a ready prompt block.

        Call this when finetune_advice says few-shot. The examples cover the main case and the edge
        cases (rare answers, empty fields, extreme lengths), share one format, never conflict or
        repeat, and go from simple to complex. Returns the block ('prompt', also as chat 'messages'),
        its token count, why each example was chosen, and warnings: near-identical examples (a small
        model parrots them), one answer for all, too few usable examples, over the token budget.
        """
        from skilldeck.tools.finetune.fewshot import build_few_shot as build

        with tool_errors():
            shots = build(self._path(dataset_path, "dataset_path"), task=task, count=examples,
                          token_budget=token_budget, tokenizer=self._model(tokenizer, "tokenizer"),
                          within=self.where.bases("data"), tokenizer_within=self.where.bases("model"))
            return {"summary": shots.render_text().split("\n\n", 1)[0], **shots.to_dict()}

    async def start_training(
        self,
        ctx: Context,
        base_model: Annotated[str | None, Field(description="Local model folder or cached Hugging Face hub id "
                                                            "(required unless resume_job)")] = None,
        train_path: Annotated[str | None, Field(description="Training JSONL, validated first (required unless "
                                                            "resume_job)")] = None,
        val_path: Annotated[str | None, Field(description="Validation JSONL for eval loss and early stopping")]
        = None,
        method: Annotated[Literal["lora", "qlora", "full"], Field(description="lora (default), qlora (4-bit base, "
                                                                              "CUDA + bitsandbytes) or full")] = "lora",
        max_steps: Annotated[int | None, Field(ge=1, description="Stop after N optimiser steps")] = None,
        num_epochs: Annotated[float, Field(gt=0, le=1000, allow_inf_nan=False,
                                           description="Passes over the data if max_steps is unset")] = 3.0,
        learning_rate: Annotated[float | None, Field(gt=0, description="Default 2e-4 (LoRA), 1e-5 (full)")] = None,
        options: Annotated[dict[str, Any] | None, Field(description="Other TrainConfig fields: lora_r (16), "
                           "lora_alpha (32), lora_dropout (0.05), target_modules ('all-linear'), batch_size (4), "
                           "grad_accum, max_seq_len (2048), packing, eval_every, save_every, "
                           "early_stopping_patience, warmup_ratio, lr_scheduler, precision, seed, output_dir")] = None,
        resume_job: Annotated[str | None, Field(description="Resume this cancelled or interrupted training job "
                                                            "from its last checkpoint instead of starting one")] = None,
        wait_s: WaitS = 0.0,
    ) -> dict:
        """Start a supervised fine-tuning job (LoRA by default) in the background and return its id.

        Loss is on the answer only and every answer ends with EOS, checked on real batches before
        training. Poll training_status (loss, eval loss, lr, tokens/s, GPU memory); the result
        names the adapter folder, exact config, metrics and model card. Then call evaluate_model.
        """
        def start() -> str:
            # Path checks stat and resolve files, and the first _service() imports the engine: off the event loop.
            svc = self._service()
            if resume_job:
                return svc.resume(resume_job)["id"]
            if not base_model or not train_path:
                raise InvalidInputError("start_training needs base_model and train_path (or resume_job to "
                                        "continue a cancelled run).")
            spec = {**self._server_only(options), "base_model": self._model(base_model, "base_model"),
                    "train_path": self._path(train_path, "train_path"), "val_path": self._path(val_path, "val_path"),
                    "method": method, "max_steps": max_steps, "num_epochs": num_epochs,
                    "learning_rate": learning_rate, "data_within": self.data_within}
            if spec.get("output_dir") is not None:
                spec["output_dir"] = self._new_folder(spec["output_dir"], "options.output_dir")
            processes = _as_int(spec.get("num_processes"))
            cores = os.cpu_count() or 1
            if processes is not None and processes > cores:
                raise InvalidInputError(f"options.num_processes {spec['num_processes']!r} is more than this machine's "
                                        f"{cores} CPU cores; use at most {cores} (one process per GPU or core)")
            if spec.get("accelerate_config") is not None:
                spec["accelerate_config"] = self._path(spec["accelerate_config"], "options.accelerate_config")
            return svc.start_training(spec).id

        with tool_errors():
            from skilldeck.tools.finetune.service import summary

            job_id = await anyio.to_thread.run_sync(start)
            return summary(await follow_job(ctx, self.jobs, job_id, wait_s))

    async def training_status(
        self,
        ctx: Context,
        job_id: Annotated[str, Field(description="Training or evaluation job id")],
        wait_s: WaitS = 0.0,
        events: Annotated[int, Field(ge=0, le=50, description="Recent events to include (evals, checkpoints, "
                                                              "early stop, failure)")] = 5,
    ) -> dict:
        """Status of a fine-tuning or evaluation job: progress (step, loss, eval loss, lr, tokens/s, GPU memory),
        recent events and, once finished, the result (adapter path, metrics, or the evaluation)."""
        with tool_errors():
            svc = await anyio.to_thread.run_sync(self._service)
            await anyio.to_thread.run_sync(svc.status, job_id, 0)  # unknown ids fail before waiting
            await follow_job(ctx, self.jobs, job_id, wait_s)
            return await anyio.to_thread.run_sync(svc.status, job_id, events)

    def cancel_training(self, job_id: Annotated[str, Field(description="The job to cancel")]) -> dict:
        """Cancel a training or evaluation job. Training saves a checkpoint first; resume it with
        start_training(resume_job=...)."""
        with tool_errors():
            return self._service().cancel(job_id)

    def list_trainings(self) -> dict:
        """List fine-tuning and evaluation jobs, newest first, with status, progress and adapter path."""
        with tool_errors():
            jobs = self._service().list()
            return {"count": len(jobs), "jobs": jobs}

    async def evaluate_model(
        self,
        ctx: Context,
        test_path: Annotated[str, Field(description="Held-out JSONL in the training format")],
        training_job: Annotated[str | None, Field(description="A succeeded training job: its base model and "
                                                              "adapter are compared")] = None,
        base_model: Annotated[str | None, Field(description="Base model (when not using training_job)")] = None,
        tuned_path: Annotated[str | None, Field(description="Adapter or model folder (when not using "
                                                            "training_job)")] = None,
        max_examples: Annotated[int, Field(ge=1, le=5000, description="Examples scored (the first N)")] = 200,
        max_new_tokens: Annotated[int, Field(ge=1, le=4096, description="Generation budget per answer")] = 256,
        wait_s: WaitS = 0.0,
    ) -> dict:
        """Compare the tuned model with its base on held-out data, as a background job.

        Scores loss/perplexity on the reference answers, then greedy answers for exact match,
        ROUGE-L and (for JSON references) JSON pass rate and match. Poll training_status for the result.
        """
        def start() -> str:
            spec: dict[str, Any] = {"test_path": self._path(test_path, "test_path"), "max_examples": max_examples,
                                    "max_new_tokens": max_new_tokens, "data_within": self.data_within}
            if base_model is not None:
                spec["base_model"] = self._model(base_model, "base_model")
            if tuned_path is not None:
                spec["tuned_path"] = str(self.where.allowed_path(tuned_path, "tuned_path", kind="model"))
            return self._service().start_evaluation(spec, training_job).id

        with tool_errors():
            job_id = await anyio.to_thread.run_sync(start)
            await follow_job(ctx, self.jobs, job_id, wait_s)
            return await anyio.to_thread.run_sync(self._service().status, job_id, 3)


def register(mcp: Any, services: Any) -> None:
    tools = FinetuneTools(services)
    for tool in (tools.finetune_advice, tools.validate_dataset, tools.build_few_shot, tools.start_training,
                 tools.training_status, tools.cancel_training, tools.list_trainings, tools.evaluate_model):
        mcp.tool()(tool)
