"""The evaluation job: tuned model versus base on held-out data.

``JobManager.start("finetune-eval", "skilldeck.tools.finetune.evaluation:run", EvalConfig(...).model_dump())``

For each model: loss and perplexity on the reference answers (teacher forcing, answer tokens
only), then greedy generation scored with exact match, ROUGE-L, and the JSON pass rate and JSON
match where the references are JSON. The base is scored first and then wrapped with the
adapter, so only one copy of the base weights is ever in memory.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from skilldeck.tools.finetune.config import EvalConfig
from skilldeck.tools.jobs import JobContext

__all__ = ["run", "generate", "score_model"]


def generate(model: Any, tokenizer: Any, prompts: list[list[int]], max_new_tokens: int, batch_size: int,
             device: str) -> list[str]:
    """Greedy completions for encoded prompts (left-padded batches).

    Prompts arrive as ids, encoded as in training, so a prompt that quotes a special token's
    text ("what does </s> mean?") reaches the model as that text, not as the token.
    """
    import torch

    tokenizer.padding_side = "left"
    outputs: list[str] = []
    model.eval()
    for start in range(0, len(prompts), batch_size):
        chunk = prompts[start:start + batch_size]
        enc = tokenizer.pad({"input_ids": chunk}, return_tensors="pt", padding=True).to(device)
        with torch.no_grad():
            out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False,
                                 eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
        new = out[:, enc["input_ids"].shape[1]:]
        outputs += tokenizer.batch_decode(new, skip_special_tokens=True)
    return outputs


def score_model(model: Any, tokenizer: Any, formatter: Any, records: list, cfg: EvalConfig, device: str,
                dtype: Any) -> tuple[dict[str, Any], list[str]]:
    from skilldeck.tools.finetune.encoding import encode_records, pad_batch
    from skilldeck.tools.finetune.loop import mean_loss
    from skilldeck.tools.finetune.scoring import score_predictions

    encoded, _ = encode_records(formatter, records, cfg.max_seq_len)
    batches = [pad_batch(encoded[i:i + cfg.batch_size], tokenizer.pad_token_id)
               for i in range(0, len(encoded), cfg.batch_size)]
    loss = mean_loss(model, batches, device, dtype)
    prompts = [formatter.prompt_ids(r) for r in records]
    predictions = generate(model, tokenizer, prompts, cfg.max_new_tokens, cfg.batch_size, device)
    scores = score_predictions(predictions, [r.completion for r in records])
    return {"loss": loss["loss"], "perplexity": loss["perplexity"], **scores}, predictions


def _delta(base: dict[str, Any], tuned: dict[str, Any]) -> dict[str, float]:
    keys = ("loss", "perplexity", "exact_match", "rouge_l", "json_pass_rate", "json_match")
    return {k: round(tuned[k] - base[k], 4) for k in keys if k in base and k in tuned}


def _load_tuned(base_model: Any, cfg: EvalConfig, dtype: Any, device: str) -> Any:
    path = Path(cfg.tuned_path)
    if (path / "adapter_config.json").exists():
        from peft import PeftModel

        return PeftModel.from_pretrained(base_model, str(path)).to(device)
    from skilldeck.tools.finetune.models import load_base_model

    return load_base_model(str(path), dtype, device, trust_remote_code=cfg.trust_remote_code)


def run(ctx: JobContext) -> dict[str, Any]:
    """Job entry point: score base and tuned models; the result holds both and their difference."""
    from skilldeck.tools.finetune.encoding import ChatFormatter
    from skilldeck.tools.finetune.errors import DatasetError
    from skilldeck.tools.finetune.models import device_and_dtype, load_base_model, load_tokenizer, \
        quiet_progress_bars, require_stack
    from skilldeck.tools.finetune.records import load_records

    require_stack()
    quiet_progress_bars()
    cfg = EvalConfig(**ctx.spec)
    if not Path(cfg.tuned_path).exists():
        raise DatasetError(f"No tuned model at {cfg.tuned_path!r}; pass the adapter folder a training job wrote "
                           "(its result's 'weights').")
    device, dtype = device_and_dtype("auto", cfg.cpu_threads)
    tok_source = cfg.tuned_path if (Path(cfg.tuned_path) / "tokenizer_config.json").exists() else cfg.base_model
    tokenizer = load_tokenizer(tok_source, cfg.trust_remote_code)
    formatter = ChatFormatter(tokenizer)  # the tuned model's saved template: prompts match training
    within = [Path(p) for p in cfg.data_within] if cfg.data_within is not None else None
    records = load_records(cfg.test_path, within)[:cfg.max_examples]
    total = 2 if cfg.include_base else 1
    base_model = load_base_model(cfg.base_model, dtype, device, trust_remote_code=cfg.trust_remote_code)
    result: dict[str, Any] = {"examples": len(records), "test_path": cfg.test_path}
    samples = [{"prompt": r.prompt_text[:200], "reference": r.completion[:200]} for r in records[:3]]
    if cfg.include_base:
        ctx.progress(0, total, "scoring the base model")
        result["base"], preds = score_model(base_model, tokenizer, formatter, records, cfg, device, dtype)
        for s, p in zip(samples, preds):
            s["base"] = p[:200]
        ctx.check_cancelled()
    ctx.progress(total - 1, total, "scoring the tuned model")
    tuned = _load_tuned(base_model, cfg, dtype, device)
    result["tuned"], preds = score_model(tuned, tokenizer, formatter, records, cfg, device, dtype)
    for s, p in zip(samples, preds):
        s["tuned"] = p[:200]
    if cfg.include_base:
        result["delta"] = _delta(result["base"], result["tuned"])
    result["samples"] = samples
    (ctx.dir / "eval.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    ctx.progress(total, total, "done", **{f"tuned_{k}": v for k, v in result["tuned"].items() if k != "examples"})
    return result
