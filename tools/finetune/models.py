"""Loading the base model and tokenizer and wrapping the model for LoRA, QLoRA or full training.

Imported only by job worker processes: torch, transformers and peft are imported inside the
functions (never at module top) so a stray import cannot slow the server's start.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from skilldeck.tools.finetune.config import TrainConfig
from skilldeck.tools.finetune.errors import FinetuneError, TrainingUnavailableError

__all__ = ["require_stack", "device_and_dtype", "load_tokenizer", "load_base_model", "prepare_model",
           "stack_versions", "quiet_progress_bars", "packing_supported", "trainable_state", "load_trainable_state"]


def require_stack() -> None:
    """Fail early, with the install command, when the training libraries are missing."""
    missing = [m for m in ("torch", "transformers", "peft") if importlib.util.find_spec(m) is None]
    if missing:
        raise TrainingUnavailableError(f"Training needs {', '.join(missing)}; install the extra with "
                                       "`pip install 'skilldeck[train]'` (a CUDA build of torch for GPUs).")


def quiet_progress_bars() -> None:
    """Loading bars would fill a job's output.log with carriage returns; progress goes to events."""
    import warnings

    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    # peft 0.21 reads a transformers property that transformers 5 deprecated; noise in every job log.
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)


def stack_versions() -> dict[str, str]:
    import peft
    import torch
    import transformers

    return {"torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__}


def device_and_dtype(precision: str, cpu_threads: int | None = None) -> tuple[str, Any]:
    """Pick the device and the compute dtype (bf16 on a GPU that supports it, else fp32)."""
    import torch

    if cpu_threads:
        torch.set_num_threads(cpu_threads)

    cuda = torch.cuda.is_available()
    if precision == "auto":
        precision = "bf16" if cuda and torch.cuda.is_bf16_supported() else "fp32"
    if precision in ("bf16", "fp16") and not cuda:
        raise TrainingUnavailableError(f"precision {precision!r} needs a CUDA GPU; none is visible. Use 'auto' or "
                                       "'fp32' on CPU.")
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[precision]
    return ("cuda" if cuda else "cpu"), dtype


def load_tokenizer(name: str, trust_remote_code: bool = False) -> Any:
    from transformers import AutoTokenizer

    from skilldeck.tools.finetune.gguf import resolve_model

    name = resolve_model(name)  # a GGUF file: its converted folder
    try:
        tok = AutoTokenizer.from_pretrained(name, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as exc:
        raise FinetuneError(f"Cannot load the tokenizer of {name!r}: {exc}. Pass a local model folder or a hub id "
                            "that is cached (the job has no network if the machine has none).") from exc
    if tok.pad_token_id is None:
        # Padding with EOS is safe here: labels are built explicitly, never from pad positions.
        tok.pad_token = tok.eos_token
    return tok


def load_base_model(name: str, dtype: Any, device: str, quantize_4bit: bool = False,
                    trust_remote_code: bool = False) -> Any:
    from transformers import AutoModelForCausalLM

    from skilldeck.tools.finetune.gguf import resolve_model

    name = resolve_model(name)
    kwargs: dict[str, Any] = {"dtype": dtype, "trust_remote_code": trust_remote_code}
    if device == "cuda" and importlib.util.find_spec("flash_attn") is not None:
        # Variable-length kernels: packed examples stay apart without building a mask.
        kwargs["attn_implementation"] = "flash_attention_2"
    if quantize_4bit:
        import torch
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=dtype if dtype != torch.float32 else torch.bfloat16)
        kwargs["device_map"] = {"": 0}
    try:
        model = AutoModelForCausalLM.from_pretrained(name, **kwargs)
    except (OSError, ValueError) as exc:
        raise FinetuneError(f"Cannot load the model {name!r}: {exc}. Pass a local model folder or a cached hub id.") \
            from exc
    return model if quantize_4bit else model.to(device)


def packing_supported(device: str) -> bool:
    """Whether packed rows keep examples apart: FlashAttention-2 on CUDA, or a transformers
    recent enough to turn restarting position ids into a block-diagonal mask (4.53+)."""
    if device == "cuda" and importlib.util.find_spec("flash_attn") is not None:
        return True
    try:
        from transformers.masking_utils import find_packed_sequence_indices  # noqa: F401
    except ImportError:
        return False
    return True


def _check_qlora(device: str) -> None:
    if device != "cuda":
        raise TrainingUnavailableError("QLoRA needs a CUDA GPU and none is visible; use method 'lora' on CPU.")
    if importlib.util.find_spec("bitsandbytes") is None:
        raise TrainingUnavailableError("QLoRA needs bitsandbytes: `pip install bitsandbytes`, or use method 'lora'.")


def prepare_model(cfg: TrainConfig, device: str, dtype: Any) -> Any:
    """Load the base model and make the right parameters trainable."""
    if cfg.method == "qlora":
        _check_qlora(device)
    import torch

    # Full fine-tuning keeps fp32 master weights (bf16 runs under autocast): updates of lr 1e-5 are
    # below bf16's resolution and would be lost. LoRA's base is frozen, so it stays in 16 bits.
    load_dtype = torch.float32 if cfg.method == "full" else dtype
    model = load_base_model(cfg.base_model, load_dtype, device, cfg.method == "qlora", cfg.trust_remote_code)
    model.config.use_cache = False  # the KV cache is useless in training and costs memory
    if cfg.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    if cfg.method == "full":
        return model
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    if cfg.method == "qlora":
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=cfg.gradient_checkpointing)
    lora = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                      target_modules=cfg.target_modules, bias="none", task_type="CAUSAL_LM")
    return get_peft_model(model, lora)


def trainable_state(model: Any, method: str) -> dict[str, Any]:
    """The weights a checkpoint must keep: the adapters for LoRA, everything for full training."""
    if method == "full":
        return {k: v.detach().cpu() for k, v in model.state_dict().items()}
    from peft import get_peft_model_state_dict

    return {k: v.detach().cpu() for k, v in get_peft_model_state_dict(model).items()}


def load_trainable_state(model: Any, method: str, state: dict[str, Any]) -> None:
    if method == "full":
        model.load_state_dict(state)
        return
    from peft import set_peft_model_state_dict

    set_peft_model_state_dict(model, state)
