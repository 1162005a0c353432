"""Fine-tuning tools over MCP: `skilldeck serve` in a subprocess, driven by the client SDK."""

import json

import anyio
import pytest

from tests.server.mcp_client import connect, text_of

pytestmark = pytest.mark.anyio

LEAKY_TRAIN = [{"instruction": "Summarise the text in one sentence.", "input": f"Report {i}: the river rose "
                f"{i} centimetres overnight near bridge number {i * 7}.", "output": f"The river rose {i} cm."}
               for i in range(6)]


@pytest.fixture
def anyio_backend():
    return "asyncio"


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _data(result):
    assert not result.is_error, text_of(result)
    return result.structured_content if result.structured_content is not None else json.loads(text_of(result))


def serve_args(*extra):
    return ("--no-user-skills", "--no-bundled-skills", "--no-watch", "--toolsets", "all", *extra)


async def test_advice_validation_and_errors_over_mcp(tmp_path):
    _write(tmp_path / "train.jsonl", LEAKY_TRAIN)
    _write(tmp_path / "val.jsonl", LEAKY_TRAIN[:2])
    async with connect(*serve_args(), cwd=tmp_path) as (session, _):
        names = {t.name for t in (await session.list_tools()).tools}
        assert {"finetune_advice", "validate_dataset", "start_training", "training_status", "cancel_training",
                "list_trainings", "evaluate_model"} <= names
        advice = _data(await session.call_tool("finetune_advice", {"examples": 40}))
        assert advice["approach"] == "few_shot"
        # Relative paths resolve against the project folder (the server's working directory here).
        report = _data(await session.call_tool("validate_dataset", {"train_path": "train.jsonl",
                                                                    "val_path": "val.jsonl"}))
        assert not report["ok"] and report["findings"][0]["kind"] == "leakage"
        assert "train.jsonl:1 = val.jsonl:1" in report["findings"][0]["locations"]
        missing = await session.call_tool("validate_dataset", {"train_path": "nope.jsonl"})
        assert missing.is_error and "does not exist" in text_of(missing)
        unknown = await session.call_tool("training_status", {"job_id": "finetune-nope"})
        assert unknown.is_error and "No job 'finetune-nope'" in text_of(unknown)
        empty = await session.call_tool("start_training", {})
        assert empty.is_error and "base_model and train_path" in text_of(empty)
        assert _data(await session.call_tool("list_trainings", {}))["count"] == 0


async def test_train_and_evaluate_through_the_mcp_tools(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("peft")
    from tests.tools.finetune.tiny import build_tiny, sentiment_rows

    build_tiny(tmp_path / "model")
    _write(tmp_path / "train.jsonl", sentiment_rows(32))
    _write(tmp_path / "val.jsonl", sentiment_rows(6, offset=300))
    progress: list[float] = []

    async def on_progress(done, total, message):
        progress.append(done)

    async with connect(*serve_args(), cwd=tmp_path) as (session, _):
        started = _data(await session.call_tool(
            "start_training", {"base_model": "model", "train_path": "train.jsonl", "val_path": "val.jsonl",
                               "max_steps": 6, "learning_rate": 5e-3,
                               "options": {"batch_size": 8, "eval_every": 3, "log_every": 1, "cpu_threads": 1},
                               "wait_s": 40}, progress_callback=on_progress))
        job_id = started["id"]
        from skilldeck.tools.home import home_dir

        recorded = json.loads((home_dir() / "jobs" / job_id / "job.json").read_text())
        assert recorded["env"]["HF_HUB_OFFLINE"] == "1"  # a model-chosen hub id is never downloaded
        with anyio.fail_after(200):
            status = _data(await session.call_tool("training_status", {"job_id": job_id, "wait_s": 40}))
            while status["status"] in ("queued", "running"):
                status = _data(await session.call_tool("training_status", {"job_id": job_id, "wait_s": 40}))
        assert status["status"] == "succeeded", status["error"]
        assert progress and max(progress) >= 1
        assert status["result"]["metrics"]["steps"] == 6
        assert any(e["event"] == "eval" for e in status["events"])
        listed = _data(await session.call_tool("list_trainings", {}))
        assert listed["jobs"][0]["id"] == job_id and listed["jobs"][0]["weights"].endswith("adapter")
        ev = _data(await session.call_tool("evaluate_model", {"test_path": "val.jsonl", "training_job": job_id,
                                                              "max_new_tokens": 6, "wait_s": 40}))
        with anyio.fail_after(200):
            while ev["status"] in ("queued", "running"):
                ev = _data(await session.call_tool("training_status", {"job_id": ev["id"], "wait_s": 40}))
        assert ev["status"] == "succeeded", ev["error"]
        assert ev["result"]["tuned"]["loss"] < ev["result"]["base"]["loss"]
        done = _data(await session.call_tool("cancel_training", {"job_id": job_id}))
        assert done["status"] == "succeeded"  # cancelling a finished job changes nothing


async def test_build_few_shot_over_mcp_and_gguf_paths_are_confined(tmp_path):
    rows = [{"task": "capitals", "instruction": "Give the capital of the country as one word.", "input": country,
             "output": capital} for country, capital in [("France", "Paris"), ("Japan", "Tokyo"),
                                                          ("Kenya", "Nairobi"), ("Peru", "Lima"), ("Chile", "Santiago")]]
    _write(tmp_path / "capitals.jsonl", rows)
    async with connect(*serve_args(), cwd=tmp_path) as (session, _):
        shots = _data(await session.call_tool("build_few_shot", {"dataset_path": "capitals.jsonl", "examples": 3,
                                                                 "token_budget": 10}))
        assert len(shots["shots"]) == 3 and shots["prompt"].count("Output: ") == 3
        assert shots["tokens"] > 10 and shots["warnings"][-1]["kind"] == "over_budget"
        outside = await session.call_tool("build_few_shot", {"dataset_path": "/etc/passwd"})
        assert outside.is_error and "leads outside" in text_of(outside)
        # "models/x.gguf" looks like a hub id; a GGUF file is always a path, confined like a model folder.
        for gguf in ("/tmp/x.gguf", "../x.gguf"):
            refused = await session.call_tool("start_training", {"base_model": gguf, "train_path": "capitals.jsonl"})
            assert refused.is_error and "leads outside" in text_of(refused), text_of(refused)


async def test_writes_never_replace_what_a_folder_holds_and_worker_sizes_are_bounded(tmp_path):
    # Found by the fine-tuning audit: output_dir "." replaced the project's README.md with a model
    # card, links planted in an output folder were written through to files outside, splits
    # written into the input's own folder replaced it, and num_processes 8 on 2 cores spawned 10
    # processes.
    import os

    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.md").write_text("mine\n")
    proj = tmp_path / "proj"
    (proj / "data").mkdir(parents=True)
    (proj / "README.md").write_text("# My project\n")
    _write(proj / "data" / "train.jsonl", LEAKY_TRAIN)
    (proj / "planted").mkdir()
    (proj / "planted" / "README.md").symlink_to(outside / "keep.md")
    base = {"base_model": "Qwen/Qwen2-0.5B", "train_path": "data/train.jsonl"}
    async with connect(*serve_args(), cwd=proj) as (session, _):
        for out_dir, expect in ((".", "already holds"), ("planted", "already holds"), ("README.md", "not a folder")):
            result = await session.call_tool("start_training", {**base, "options": {"output_dir": out_dir}})
            assert result.is_error and "options.output_dir" in text_of(result) and expect in text_of(result)
        result = await session.call_tool("validate_dataset", {"train_path": "data/train.jsonl", "write_splits_to": "data"})
        assert result.is_error and "write_splits_to" in text_of(result) and "train.jsonl" in text_of(result)
        too_many = (os.cpu_count() or 1) + 1
        # The security audit: "4" and 4.0 passed a check that looked only at ints, and the config turned them into 4.
        for value in (too_many, str(too_many), float(too_many)):
            result = await session.call_tool("start_training", {**base, "options": {"num_processes": value}})
            assert result.is_error and "options.num_processes" in text_of(result) and "CPU cores" in text_of(result)
        result = await session.call_tool("start_training", {**base, "options": {"grad_accum": 10 ** 9}})
        assert result.is_error and "grad_accum" in text_of(result)
        result = await session.call_tool("start_training", {**base, "num_epochs": 1e300})  # a job that never ends
        assert result.is_error and "num_epochs" in text_of(result)
        (proj / "secrets").mkdir()
        (proj / "secrets" / ".env").write_text("KEY=1\n")
        result = await session.call_tool("start_training", {**base, "options": {"output_dir": "secrets"}})
        assert result.is_error and "hidden files" in text_of(result) and ".env" not in text_of(result)
        assert _data(await session.call_tool("list_trainings", {}))["count"] == 0
    assert (proj / "README.md").read_text() == "# My project\n" and (outside / "keep.md").read_text() == "mine\n"
    assert len((proj / "data" / "train.jsonl").read_text().splitlines()) == len(LEAKY_TRAIN)


async def test_numbers_past_any_real_run_are_refused_naming_the_field_not_echoed(tmp_path):
    """`finetune_advice(examples=10**4000)` echoed the 4,001-digit number back; `max_seq_len` the same."""
    _write(tmp_path / "train.jsonl", LEAKY_TRAIN)
    huge = 10 ** 400
    with anyio.fail_after(120):
        async with connect(*serve_args(), cwd=tmp_path) as (session, _):
            for tool, args, field in (("finetune_advice", {"examples": huge}, "examples"),
                                      ("finetune_advice", {"examples": 40, "model_params_b": 1e300}, "model_params_b"),
                                      ("validate_dataset", {"train_path": "train.jsonl", "max_seq_len": huge},
                                       "max_seq_len")):
                result = await session.call_tool(tool, args)
                text = text_of(result)
                assert result.is_error and field in text and str(huge)[:50] not in text and len(text) < 600, text
            assert _data(await session.call_tool("finetune_advice", {"examples": 40}))["approach"] == "few_shot"
