"""A BERT sentence encoder in NumPy: all-MiniLM-L6-v2's forward pass without importing torch.

Importing torch and sentence-transformers and building the model takes about 8 s on this
project's 2-core CI machine; reading the same safetensors file into NumPy and the tokenizer
with `tokenizers` takes about 0.2 s. A skill search needs only inference, so the semantic index
runs the model here: embeddings, six encoder layers, mean pooling, L2 normalisation, the steps
sentence-transformers takes, with GELU in its tanh form (vectors agree to a cosine above 0.99999,
see the tests).

    encoder = Encoder.load(model_dir, max_tokens=128)
    vectors = encoder.encode(["make a looping gif", ...])   # float32, shape (n, 384), unit length
"""

from __future__ import annotations

import json
import math
import os
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Encoder", "lower_priority"]

_ROOT_2_OVER_PI = math.sqrt(2.0 / math.pi)
# Tokens per forward pass (texts sorted by length first, so a batch pads little): 16 texts at the
# model's 128, more of shorter ones, whose small products would otherwise cost more than they compute.
_BATCH_TOKENS = 2048


_POOLED = threading.Lock()  # BLAS thread limits are process-wide: one pooled encode at a time


def lower_priority(nice: int = 10) -> None:
    """Give the calling thread a nice value of at least `nice` (Linux threads have their own;
    elsewhere this would renice the whole process, so it does nothing)."""
    if sys.platform.startswith("linux"):
        try:
            me = threading.get_native_id()
            os.setpriority(os.PRIO_PROCESS, me, max(nice, os.getpriority(os.PRIO_PROCESS, me)))
        except OSError:
            pass


@contextmanager
def _blas_threads(count: int) -> Iterator[None]:
    """BLAS limited to `count` threads while encoding, where threadpoolctl is installed."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(count, user_api="blas"):
        yield


def _gelu(x: np.ndarray) -> np.ndarray:
    """GELU in its tanh form, in place. NumPy has no erf, and scipy's is about eight times slower than
    this; the sentence vectors agree with the exact (erf) form to a cosine above 0.99999 (see the tests)."""
    inner = x * x
    inner *= np.float32(0.044715 * _ROOT_2_OVER_PI)
    inner += np.float32(_ROOT_2_OVER_PI)
    inner *= x
    np.tanh(inner, out=inner)
    inner += 1.0
    inner *= 0.5
    x *= inner
    return x


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    """Layer normalisation over the last axis of a 2-D array, in place (x is a scratch value here)."""
    x -= x.mean(-1, keepdims=True)
    scale = np.einsum("ij,ij->i", x, x)
    scale /= x.shape[-1]
    scale += eps
    np.sqrt(scale, out=scale)
    np.reciprocal(scale, out=scale)
    x *= scale[:, None]
    x *= weight
    x += bias
    return x


class Encoder:
    """One loaded model: `Encoder.load(folder)` reads config.json, model.safetensors and tokenizer.json."""

    def __init__(self, weights: dict[str, np.ndarray], config: dict[str, Any], tokenizer: Any, max_tokens: int,
                 workers: int = 2) -> None:
        self.heads = int(config["num_attention_heads"])
        self.layers = int(config["num_hidden_layers"])
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        self.dimension = int(config["hidden_size"])
        self.max_tokens = max_tokens
        self.tokenizer = tokenizer
        self.workers = max(1, workers)
        prefix = "bert." if "bert.embeddings.word_embeddings.weight" in weights else ""
        w = {k[len(prefix):]: v.astype(np.float32, copy=False) for k, v in weights.items() if k.startswith(prefix)}
        self._w = w
        for name in ("word_embeddings", "position_embeddings", "token_type_embeddings", "LayerNorm"):
            if f"embeddings.{name}.weight" not in w:
                raise ValueError(f"model weights lack embeddings.{name}.weight")
        # Linear layers as (in, out) matrices, so a forward step is x @ W + b (moved out of `w`: one
        # copy of the weights in memory); query, key and value as one matrix, one product instead of three.
        linear = [k for k, v in w.items() if k.endswith(".weight") and v.ndim == 2 and "embeddings" not in k]
        self._t = {k: np.ascontiguousarray(w.pop(k).T) for k in linear}
        # The attention scale goes into the query's weights.
        scale = 1.0 / math.sqrt(self.dimension // self.heads)
        for i in range(self.layers):
            p = f"encoder.layer.{i}."
            parts = [p + f"attention.self.{part}" for part in ("query", "key", "value")]
            self._t[p + "attention.self.qkv.weight"] = np.ascontiguousarray(np.concatenate(
                [self._t.pop(parts[0] + ".weight") * np.float32(scale)] + [self._t.pop(n + ".weight") for n in parts[1:]],
                axis=1))
            w[p + "attention.self.qkv.bias"] = np.concatenate(
                [w[parts[0] + ".bias"] * np.float32(scale)] + [w[n + ".bias"] for n in parts[1:]])

    @classmethod
    def load(cls, folder: Path, max_tokens: int = 128, workers: int = 2) -> Encoder:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        if config.get("model_type") != "bert" or config.get("hidden_act") != "gelu":
            raise ValueError(f"{folder}: not a BERT model with GELU (model_type={config.get('model_type')!r})")
        tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        tokenizer.enable_truncation(max_length=max_tokens)
        tokenizer.no_padding()
        return cls(load_file(str(folder / "model.safetensors")), config, tokenizer, max_tokens, workers)

    def encode(self, texts: list[str], background: bool = False) -> np.ndarray:
        """Unit-length sentence vectors, one row per text, in the order given.

        `background`: the pool's threads run at a lower scheduling priority (`lower_priority`), as
        the caller's own background thread should, so a server encoding its skills still answers
        requests at once."""
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if not texts:
            return out
        ids = [e.ids for e in self.tokenizer.encode_batch(list(texts))]
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        batches: list[list[int]] = []
        for i in order:  # ascending length: a batch grows until it holds about _BATCH_TOKENS tokens
            if not batches or len(ids[i]) * (len(batches[-1]) + 1) > _BATCH_TOKENS:
                batches.append([])
            batches[-1].append(i)

        def run(chosen: list[int]) -> None:
            out[chosen] = self._forward([ids[i] for i in chosen])

        if len(batches) == 1 or self.workers == 1:
            for chosen in batches:
                run(chosen)
            return out
        # NumPy's element-wise steps use one core; two batches at a time, each with a one-thread
        # BLAS, keep both cores busy (about 1.5x faster than one batch with a two-thread BLAS).
        with _POOLED, _blas_threads(1), ThreadPoolExecutor(
                self.workers, thread_name_prefix="skilldeck-encode", initializer=lower_priority if background else None
        ) as pool:
            list(pool.map(run, batches))
        return out

    def _forward(self, batch: list[list[int]]) -> np.ndarray:
        w, t = self._w, self._t
        b, n, h = len(batch), max(len(ids) for ids in batch), self.heads
        d = self.dimension // h
        tokens = np.zeros((b, n), dtype=np.int64)
        mask = np.zeros((b, n), dtype=np.float32)
        for row, ids in enumerate(batch):
            tokens[row, :len(ids)] = ids
            mask[row, :len(ids)] = 1.0
        x = (w["embeddings.word_embeddings.weight"][tokens] + w["embeddings.position_embeddings.weight"][:n]
             + w["embeddings.token_type_embeddings.weight"][0]).reshape(b * n, self.dimension)
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], self.eps)
        # Padding gets the most negative float32 as its attention score, as transformers does.
        pad = ((1.0 - mask) * np.finfo(np.float32).min)[:, None, None, :]
        padded = any(len(ids) < n for ids in batch)  # batches are sorted by length: often none

        def heads(v: np.ndarray) -> np.ndarray:  # (b*n, h*d) -> (b, h, n, d), contiguous for BLAS
            return np.ascontiguousarray(v.reshape(b, n, h, d).transpose(0, 2, 1, 3))

        for i in range(self.layers):
            p = f"encoder.layer.{i}."

            def dense(v: np.ndarray, name: str) -> np.ndarray:
                out = v @ t[p + name + ".weight"]  # noqa: B023 - called within this iteration
                out += w[p + name + ".bias"]  # noqa: B023
                return out

            qkv = dense(x, "attention.self.qkv")
            q, k, v = (heads(qkv[:, j * h * d:(j + 1) * h * d]) for j in range(3))
            scores = q @ k.transpose(0, 1, 3, 2)
            if padded:
                scores += pad
            scores -= scores.max(-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(-1, keepdims=True)
            context = (scores @ v).transpose(0, 2, 1, 3).reshape(b * n, h * d)
            attended = dense(context, "attention.output.dense")
            attended += x
            x = _layer_norm(attended, w[p + "attention.output.LayerNorm.weight"],
                            w[p + "attention.output.LayerNorm.bias"], self.eps)
            out = dense(_gelu(dense(x, "intermediate.dense")), "output.dense")
            out += x
            x = _layer_norm(out, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], self.eps)
        x = x.reshape(b, n, self.dimension)
        pooled = (x * mask[:, :, None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1e-9)
        return (pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)).astype(np.float32)
