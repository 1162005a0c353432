"""What a finished training job leaves behind: weights, exact config, metrics, model card."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from skilldeck.tools.finetune.gguf import find_gguf

__all__ = ["write_outputs", "model_card"]


def _metrics(run: Any) -> dict[str, Any]:
    st = run.state
    evals = [h for h in st.history if "eval_loss" in h]
    last = st.history[-1] if st.history else {}
    return {"steps": st.step, "total_steps": run.total_steps, "epochs_started": st.epoch + 1,
            "final_train_loss": last.get("loss"), "first_train_loss": st.history[0]["loss"] if st.history else None,
            "best_eval_loss": st.best_eval, "best_step": st.best_step, "stopped_early": st.stopped_early,
            "train_tokens": st.tokens, "train_seconds": round(st.train_seconds, 2),
            "tokens_per_s": round(st.tokens / st.train_seconds, 1) if st.train_seconds else None,
            "evals": [{"step": e["step"], "eval_loss": e["eval_loss"]} for e in evals], "params": run.params}


def model_card(config: dict[str, Any], metrics: dict[str, Any]) -> str:
    """A short README.md for the adapter: what it is, how it was trained, how it scored, how to load it."""
    c = config["train_config"]
    method = {"lora": "LoRA", "qlora": "QLoRA", "full": "full fine-tuning"}[c["method"]]
    lines = [f"# Fine-tuned {c['base_model']} ({method})", "",
             f"Supervised fine-tuning on `{Path(c['train_path']).name}` ({config['train_examples']} examples"
             + (f", validated on `{Path(c['val_path']).name}`" if c.get("val_path") else "") + ").", "",
             "## Training", "",
             f"- method: {method}" + (f", r={c['lora_r']}, alpha={c['lora_alpha']}, dropout={c['lora_dropout']}, "
                                      f"targets={c['target_modules']}" if c["method"] != "full" else ""),
             f"- learning rate {config['learning_rate']:g}, {c['lr_scheduler']} schedule, warm-up {c['warmup_ratio']:g}",
             f"- {metrics['steps']} of {metrics['total_steps']} steps, batch {c['batch_size']} x {c['grad_accum']}, "
             f"max length {c['max_seq_len']}, packing {config['packing']}, {config['dtype']} on {config['device']}",
             "- loss on the answer only; every answer ends with EOS (checked before training)",
             f"- chat template: {config['template']}", "", "## Results", "",
             f"- train loss {metrics['first_train_loss']} -> {metrics['final_train_loss']}",
             f"- best eval loss {metrics['best_eval_loss']} at step {metrics['best_step']}"
             + (" (stopped early)" if metrics["stopped_early"] else ""),
             f"- {metrics['tokens_per_s']} tokens/s", "", "## Use", ""]
    if c["method"] == "full":
        lines += ["```python", "from transformers import AutoModelForCausalLM",
                  f"model = AutoModelForCausalLM.from_pretrained('{config['weights_path']}')", "```"]
    elif c["base_model"].lower().endswith(".gguf") or config.get("gguf"):
        gguf = Path(config.get("gguf") or c["base_model"])
        lines += ["```python", "from peft import PeftModel", "from transformers import AutoModelForCausalLM",
                  f"base = AutoModelForCausalLM.from_pretrained('{gguf.parent}', gguf_file='{gguf.name}')",
                  f"model = PeftModel.from_pretrained(base, '{config['weights_path']}')", "```", "",
                  "The base is a GGUF file (needs `pip install gguf`); skilldeck trained on its de-quantised "
                  "weights, which transformers produces the same way on every load."]
    else:
        lines += ["```python", "from peft import AutoPeftModelForCausalLM",
                  f"model = AutoPeftModelForCausalLM.from_pretrained('{config['weights_path']}')", "```"]
    lines += ["", "Prompt it with the same chat template (saved with the tokenizer). Compare it with the base model "
              "on held-out data (evaluate_model) before using it."]
    return "\n".join(lines) + "\n"


def write_outputs(run: Any, versions: dict[str, str]) -> dict[str, Any]:
    """Save weights, tokenizer, exact config, metrics and the card into the run's output folder."""
    out: Path = run.out_dir
    out.mkdir(parents=True, exist_ok=True)
    weights = out / ("model" if run.cfg.method == "full" else "adapter")
    run.model.save_pretrained(weights)
    run.tokenizer.save_pretrained(weights)  # carries the chat template used in training
    config = {"train_config": run.cfg.model_dump(), "learning_rate": run.cfg.resolved_learning_rate(),
              "packing": run.packing, "device": run.device, "dtype": str(run.dtype).replace("torch.", ""),
              "template": run.formatter.template_source, "total_steps": run.total_steps,
              "train_examples": run.n_train, "val_examples": len(run.val), "versions": versions,
              "weights_path": str(weights), "job_id": run.ctx.job_id}
    gguf = find_gguf(run.cfg.base_model)
    if gguf is not None:
        config["gguf"] = str(gguf)
    metrics = _metrics(run)
    (out / "training_config.json").write_text(json.dumps(config, indent=1), encoding="utf-8")
    (out / "README.md").write_text(model_card(config, metrics), encoding="utf-8")
    return {"output_dir": str(out), "weights": str(weights), "metrics": metrics,
            "config": str(out / "training_config.json"), "model_card": str(out / "README.md")}
