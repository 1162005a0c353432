"""A tiny Qwen2-shaped model and a tokenizer trained on the fly: CPU-only, no downloads."""

from __future__ import annotations

import json
from pathlib import Path

WORDS = ("red green blue cyan black white small large fast slow cat dog bird fish tree stone river hill "
         "summarise classify answer label positive negative neutral json yes no the a of to and is").split()


def corpus() -> list[str]:
    lines = [" ".join(WORDS[(i * 7 + j * 3) % len(WORDS)] for j in range(12)) for i in range(200)]
    return lines + ['{"label": "positive"}', '{"label": "negative"}', "### User:", "### Assistant:"]


def build_tokenizer(path: Path):
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers, decoders
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<unk>", "<s>", "</s>", "<pad>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(corpus(), trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", bos_token="<s>", eos_token="</s>",
                                   pad_token="<pad>")
    fast.save_pretrained(path)
    return fast


def build_model(path: Path, vocab_size: int, seed: int = 0) -> None:
    import torch
    from transformers import AutoModelForCausalLM, Qwen2Config

    torch.manual_seed(seed)
    config = Qwen2Config(vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                         bos_token_id=1, eos_token_id=2, pad_token_id=3, tie_word_embeddings=True)
    AutoModelForCausalLM.from_config(config).save_pretrained(path)


def build_tiny(path: Path) -> Path:
    """Write a tokenizer and a random-init model into `path`; return it."""
    path.mkdir(parents=True, exist_ok=True)
    tok = build_tokenizer(path)
    build_model(path, len(tok))
    return path


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def sentiment_rows(n: int, offset: int = 0) -> list[dict]:
    """A toy classification task with JSON answers (learnable by the tiny model in a few steps)."""
    rows = []
    for i in range(offset, offset + n):
        colour = WORDS[i % 6]
        animal = WORDS[10 + (i // 6) % 6]
        label = "positive" if i % 2 else "negative"
        rows.append({"task": "classify", "instruction": "Label the sentiment as JSON.",
                     "input": f"the {colour} {animal} is {'fast' if i % 2 else 'slow'} {i}",
                     "output": json.dumps({"label": label})})
    return rows
