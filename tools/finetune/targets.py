"""The modules a local model folder holds, read from its safetensors headers (no torch).

A LoRA ``target_modules`` list that names no module of the base model fails inside peft, minutes
into a job, after the model has loaded. `check_targets` refuses it before a job starts, naming
the layers the model does have::

    check_targets("./tiny", ["q_projx"])
    # InvalidInputError: target_modules 'q_projx' names no module of ./tiny; its linear layers are ...

Only local folders with safetensors weights are checked; a hub id, a GGUF file or a folder
without safetensors is left to the job, as before.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from skilldeck.tools.errors import InvalidInputError, SkilldeckError
from skilldeck.tools.fs import open_file

__all__ = ["module_names", "check_targets"]

MAX_HEADER = 16 * 2**20  # a safetensors header is JSON: tens of KB for a 7B model, under 1 MB for the largest
MAX_INDEX = 16 * 2**20
MAX_FILES = 64
_SHOWN = 16


def _header(path: Path) -> dict:
    with open_file(path, what="weights file") as f:
        size = int.from_bytes(f.read(8), "little")
        if not 2 <= size <= MAX_HEADER:
            return {}
        data = f.read(size)
    header = json.loads(data) if len(data) == size else {}
    return header if isinstance(header, dict) else {}


def _weight_files(folder: Path) -> list[Path]:
    """The folder's first `MAX_FILES` .safetensors files, without listing a huge folder in full."""
    found = []
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.endswith(".safetensors"):
                found.append(Path(entry.path))
                if len(found) == MAX_FILES:
                    break
    return sorted(found)


def _tensors(folder: Path) -> dict[str, list]:
    """Tensor name -> shape (an empty list where only the index names it)."""
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        with open_file(index, what="weights index") as f:
            weight_map = json.loads(f.read_all(MAX_INDEX, "model.safetensors.index.json")).get("weight_map")
        if isinstance(weight_map, dict):
            return {name: [] for name in weight_map}
    tensors: dict[str, list] = {}
    for path in _weight_files(folder):
        for name, info in _header(path).items():
            if name != "__metadata__" and isinstance(info, dict):
                shape = info.get("shape")
                tensors[name] = shape if isinstance(shape, list) else []
    return tensors


def module_names(folder: Path) -> tuple[set[str], set[str]] | None:
    """(every module that holds a weight, the last name part of each 2-D weight's module), or None
    when `folder` holds no readable safetensors weights."""
    if not folder.is_dir():
        return None
    try:
        tensors = _tensors(folder)
    except (SkilldeckError, OSError, ValueError, AttributeError, RecursionError):
        return None  # unreadable weights: the job reports them with the loader's own words
    modules = {name.rsplit(".", 1)[0] for name in tensors if "." in name}
    linear = {name.rsplit(".", 2)[-2] for name, shape in tensors.items()
              if name.endswith(".weight") and len(shape) == 2 and "." in name}
    return (modules, linear) if modules else None


def _matches(module: str, target: str) -> bool:
    # peft's rule for a list of names: the whole module name, or its last dotted parts.
    return module == target or module.endswith("." + target)


def check_targets(base_model: str, targets: str | list[str]) -> None:
    """Refuse a list of LoRA targets that names no module of a local safetensors model."""
    if not isinstance(targets, list):
        return  # "all-linear" or a regular expression: peft decides
    found = module_names(Path(base_model))
    if found is None:
        return
    modules, linear = found
    missing = [t for t in targets if not any(_matches(m, t) for m in modules)]
    if missing:
        names = ", ".join(repr(t) for t in missing[:_SHOWN])
        layers = ", ".join(sorted(linear)[:_SHOWN]) or "none found"
        raise InvalidInputError(f"target_modules {names} names no module of {base_model}; its linear layers are "
                                f"{layers}. Use those names, or 'all-linear'.")
