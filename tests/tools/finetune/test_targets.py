"""LoRA target_modules are checked against the base model's own layers before a job starts."""

import json
import os
import struct

import pytest

from skilldeck.tools.errors import InvalidInputError
from skilldeck.tools.finetune.service import FinetuneService
from skilldeck.tools.finetune.targets import check_targets, module_names
from skilldeck.tools.jobs import JobManager

LAYERS = ["q_proj", "k_proj", "v_proj", "o_proj"]


def fake_model(folder, header_size=None):
    """A model folder whose safetensors file has a real header and zero-filled data (no torch)."""
    folder.mkdir()
    header, offset = {"__metadata__": {"format": "pt"}}, 0
    for layer in range(2):
        for name in LAYERS:
            header[f"model.layers.{layer}.self_attn.{name}.weight"] = {"dtype": "F32", "shape": [4, 4],
                                                                       "data_offsets": [offset, offset + 64]}
            offset += 64
    header["model.norm.weight"] = {"dtype": "F32", "shape": [4], "data_offsets": [offset, offset + 16]}
    raw = json.dumps(header).encode()
    size = len(raw) if header_size is None else header_size
    (folder / "model.safetensors").write_bytes(struct.pack("<Q", size) + raw + bytes(offset + 16))
    (folder / "config.json").write_text("{}")
    return folder


def test_the_modules_of_a_safetensors_model_are_read_from_its_header(tmp_path):
    modules, linear = module_names(fake_model(tmp_path / "m"))
    assert "model.layers.1.self_attn.v_proj" in modules and "model.norm" in modules
    assert linear == set(LAYERS)  # the 1-D norm weight is no linear layer


def test_targets_naming_no_module_are_refused_with_the_models_layers(tmp_path):
    model = str(fake_model(tmp_path / "m"))
    check_targets(model, ["q_proj", "v_proj"])
    check_targets(model, ["self_attn.q_proj", "model.layers.0.self_attn.k_proj"])  # peft's suffix rule
    check_targets(model, "all-linear")
    with pytest.raises(InvalidInputError, match=r"target_modules 'q_projx' names no module .* k_proj, o_proj, "
                                                r"q_proj, v_proj"):
        check_targets(model, ["q_proj", "q_projx"])
    with pytest.raises(InvalidInputError, match="'attn.q_proj'"):  # a part of a name is not a suffix
        check_targets(model, ["attn.q_proj"])


def test_what_cannot_be_read_is_left_to_the_job(tmp_path):
    check_targets("Qwen/Qwen2.5-0.5B", ["nothing"])  # a hub id
    check_targets(str(tmp_path), ["nothing"])  # a folder without weights
    bad = fake_model(tmp_path / "bad", header_size=10**12)  # a header length past any real one
    assert module_names(bad) is None
    check_targets(str(bad), ["nothing"])
    deep = tmp_path / "deep"
    deep.mkdir()
    raw = b"[" * 100_000 + b"]" * 100_000  # nesting that json.loads cannot follow
    (deep / "model.safetensors").write_bytes(struct.pack("<Q", len(raw)) + raw)
    assert module_names(deep) is None
    fifo = tmp_path / "fifo"
    fifo.mkdir()
    os.mkfifo(fifo / "model.safetensors")  # never opened blocking
    assert module_names(fifo) is None


def test_start_training_refuses_unknown_targets_before_a_job_exists(tmp_path):
    model = fake_model(tmp_path / "m")
    train = tmp_path / "train.jsonl"
    train.write_text(json.dumps({"instruction": "a", "output": "b"}) + "\n")
    service = FinetuneService(JobManager(tmp_path / "jobs"))
    with pytest.raises(InvalidInputError, match="target_modules 'qkv'"):
        service.start_training({"base_model": str(model), "train_path": str(train), "target_modules": ["qkv"]})
    assert service.list() == []


def test_start_training_refuses_a_base_model_that_is_not_there_before_a_job_exists(tmp_path, monkeypatch):
    """A missing folder or an uncached hub id started a worker that imported torch and failed seconds later."""
    train = tmp_path / "train.jsonl"
    train.write_text(json.dumps({"instruction": "a", "output": "b"}) + "\n")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    service = FinetuneService(JobManager(tmp_path / "jobs"), offline=True)
    with pytest.raises(InvalidInputError, match="no such file or folder"):
        service.start_training({"base_model": str(tmp_path / "no" / "model"), "train_path": str(train)})
    with pytest.raises(InvalidInputError, match="not in the Hugging Face cache"):
        service.start_training({"base_model": "org/uncached-model", "train_path": str(train)})
    assert service.list() == []
    (tmp_path / "hub" / "models--org--cached-model" / "snapshots").mkdir(parents=True)
    from skilldeck.tools.finetune.service import _require_model

    _require_model("org/cached-model", offline=True)  # a cached hub id passes this check
