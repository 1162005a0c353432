"""The advisor: should this problem be solved with prompts, retrieval, LoRA, QLoRA or full fine-tuning?

Usage::

    advice = advise(AdviceRequest(examples=800, task_change="stable", gap="behaviour",
                                  model_params_b=7, gpu_memory_gb=24))
    advice.approach        # "lora" / "qlora" / "full" / "prompting_retrieval" / "few_shot"

Rules of thumb behind it: a task that changes weekly should not live in weights; missing
knowledge is a retrieval problem; under ~100 examples a model over-fits, so prompt with a few
good examples; 100–1,000 examples suit LoRA; 1,000–10,000 suit LoRA or full fine-tuning with a
small learning rate; beyond that full fine-tuning can pay; tight GPU memory means QLoRA; and
without an evaluation set no training run can be judged, so build that first.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["AdviceRequest", "Advice", "advise", "memory_needs_gb"]

Approach = Literal["prompting_retrieval", "few_shot", "lora", "qlora", "full", "build_eval_first"]


class AdviceRequest(BaseModel):
    """The facts the advice depends on."""

    model_config = ConfigDict(extra="forbid")

    examples: int = Field(ge=0, le=10**12, description="Number of good labelled examples (input and desired "
                                                        "output) you have.")
    task_change: Literal["stable", "monthly", "weekly", "daily"] = Field(
        "stable", description="How often the task's rules, facts or format change.")
    gap: Literal["behaviour", "knowledge", "both", "unknown"] = Field(
        "unknown", description="What the base model lacks: behaviour (format, style, a skill done consistently) "
                               "or knowledge (facts, documents, fresh data).")
    model_params_b: float = Field(7.0, gt=0, le=1000, description="Base model size in billions of parameters.")
    gpu_memory_gb: float | None = Field(None, ge=0, le=100_000, allow_inf_nan=False,
                                        description="Memory of the GPU you train on in GB "
                                        "(0 for none; omit if unknown).")
    can_evaluate: bool = Field(True, description="Whether you have (or will build) a held-out set to measure "
                                                 "the tuned model against the base.")


@dataclass
class Advice:
    """What to do, why, and where to start."""

    approach: Approach
    summary: str
    reasons: list[str]
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    cautions: list[str] = field(default_factory=list)
    next_steps: list[str] = field(default_factory=list)
    memory_gb: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def memory_needs_gb(params_b: float) -> dict[str, float]:
    """Rough training memory per method, in GB, for a model of `params_b` billion parameters.

    Full fine-tuning with AdamW in mixed precision keeps about 16 bytes per parameter
    (bf16 weights and gradients, fp32 master weights and two moments); LoRA keeps the frozen
    base in bf16 (2 bytes) plus small adapters; QLoRA stores the base in 4 bits (~0.55 bytes
    with quantisation constants). Activations at moderate sequence lengths add ~20% and 2 GB.
    """
    def with_activations(base: float) -> float:
        return round(base * 1.2 + 2.0, 1)

    return {"full": with_activations(16 * params_b), "lora": with_activations(2 * params_b),
            "qlora": with_activations(0.55 * params_b)}


LORA_START = {"method": "lora", "r": 16, "lora_alpha": 32, "lora_dropout": 0.05, "target_modules": "all-linear",
              "learning_rate": 2e-4, "lr_scheduler": "cosine", "warmup_ratio": 0.03, "max_seq_len": 2048,
              "precision": "bf16 on GPU"}


def _epochs(examples: int) -> int:
    # Small sets need more passes; large sets over-fit with more than one or two.
    return 3 if examples < 2000 else 2 if examples < 20000 else 1


def _no_weights(req: AdviceRequest) -> Advice | None:
    if req.task_change in ("weekly", "daily"):
        return Advice("prompting_retrieval", "Do not fine-tune: the task changes too often for weights to keep up.",
                      [f"The task changes {req.task_change}; every change would need a new dataset, run and "
                       "evaluation, and a stale adapter is technical debt.",
                       "Put the changing rules in the prompt and the changing facts in a retrieval index."],
                      next_steps=["Write the current rules as a system prompt with 3-5 worked examples.",
                                  "Index the documents that change and retrieve them per request."])
    if req.gap == "knowledge":
        return Advice("prompting_retrieval", "Use retrieval, not fine-tuning: the gap is missing knowledge.",
                      ["Fine-tuning teaches behaviour (format, style, consistency) far more reliably than facts; "
                       "facts trained into weights are hard to update and easy to hallucinate around.",
                       "Retrieval keeps knowledge fresh: change the index, not the model."],
                      next_steps=["Index the source documents; retrieve the top passages into the prompt.",
                                  "Add a few examples showing how to answer from the retrieved passages.",
                                  "Revisit fine-tuning only if the answer style stays wrong with good context."])
    if not req.can_evaluate:
        return Advice("build_eval_first", "Build an evaluation set before training anything.",
                      ["Without a held-out set you cannot tell whether a tuned model is better than the base, "
                       "or whether it forgot general abilities."],
                      next_steps=["Collect 50-200 representative inputs with reference outputs; keep them out of "
                                  "any training data.", "Measure the base model with prompting first."])
    if req.examples < 100:
        return Advice("few_shot", f"Prompt with a few examples: {req.examples} examples are too few to fine-tune.",
                      ["Under about 100 examples a fine-tune over-fits or learns noise.",
                       "3-5 well-chosen examples in the prompt usually recover most of the benefit."],
                      next_steps=["Pick 3-5 diverse, correct examples and put them in the prompt.",
                                  "Keep collecting examples; at a few hundred, LoRA becomes worth a try."])
    return None


def _choose_weights(req: AdviceRequest, need: dict[str, float]) -> tuple[Approach, list[str]]:
    n, mem = req.examples, req.gpu_memory_gb
    fits = (lambda m: mem is None or need[m] <= mem)
    reasons = []
    if n > 10000 and fits("full") and mem is not None:
        reasons.append(f"{n} examples can support updating all weights, and full fine-tuning fits "
                       f"({need['full']} GB needed, {mem:g} GB available).")
        return "full", reasons
    if n <= 1000:
        reasons.append(f"{n} examples suit LoRA: few trainable parameters, little over-fitting, cheap to retry.")
    elif n <= 10000:
        reasons.append(f"{n} examples suit LoRA (full fine-tuning with a small learning rate is the alternative "
                       "when LoRA plateaus).")
    else:
        reasons.append(f"{n} examples could pay for full fine-tuning, but it does not fit the GPU memory given "
                       f"(needs ~{need['full']} GB); LoRA with a higher rank is the practical choice.")
    if fits("lora"):
        return "lora", reasons
    if fits("qlora"):
        reasons.append(f"The bf16 base needs ~{need['lora']} GB but only {mem:g} GB is available; a 4-bit base "
                       f"(QLoRA, ~{need['qlora']} GB) fits.")
        return "qlora", reasons
    reasons.append(f"Even QLoRA needs ~{need['qlora']} GB, more than the {mem:g} GB available: use a smaller base "
                   "model or a larger GPU.")
    return "qlora", reasons


def advise(req: AdviceRequest) -> Advice:
    """Recommend an approach, with reasons, starting hyper-parameters and next steps."""
    need = memory_needs_gb(req.model_params_b)
    early = _no_weights(req)
    if early is not None:
        early.memory_gb = need
        return early
    approach, reasons = _choose_weights(req, need)
    params: dict[str, Any] = {**LORA_START, "num_epochs": _epochs(req.examples)}
    if approach == "qlora":
        params.update(method="qlora", quantization="4-bit NF4, double quantisation, bf16 compute")
    if approach == "full":
        params = {"method": "full", "learning_rate": 1e-5, "lr_scheduler": "cosine", "warmup_ratio": 0.03,
                  "weight_decay": 0.01, "num_epochs": _epochs(req.examples), "precision": "bf16 on GPU"}
    if approach == "lora" and req.examples > 10000:
        params.update(r=64, lora_alpha=128)
    cautions = ["Validate the data first (duplicates, leakage between splits, conflicting outputs, vague "
                "instructions); data problems cost more than hyper-parameters.",
                "Compare against the base model with a good prompt on the same held-out set; keep the tuned "
                "model only if it wins.",
                "Check general abilities did not regress (catastrophic forgetting), especially with full "
                "fine-tuning."]
    if req.gap in ("both", "unknown"):
        cautions.insert(0, "Fine-tuning fixes behaviour; if facts are also missing, pair it with retrieval.")
    summary = {"lora": "Fine-tune with LoRA.", "qlora": "Fine-tune with QLoRA (LoRA on a 4-bit base).",
               "full": "Full fine-tuning can pay here."}[approach]
    if req.gpu_memory_gb is not None and need["qlora"] > req.gpu_memory_gb:
        summary = (f"Nothing fits this GPU: even QLoRA needs ~{need['qlora']} GB of the {req.gpu_memory_gb:g} GB; "
                   "use a smaller base model or a larger GPU, then QLoRA.")
    return Advice(approach, summary, reasons, params, cautions,
                  ["validate_dataset on train/val/test (or let it write clean splits).",
                   "start_training with the hyper-parameters above; watch eval loss.",
                   "evaluate_model: tuned versus base on the test split."], need)
