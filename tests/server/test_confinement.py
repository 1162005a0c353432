"""Paths and endpoints a model chooses, through the real `skilldeck serve`: files stay in the allowed
folders (symlinks, hard links and FIFOs included), API keys go only where the user configured, and
a batch whose tasks failed does not report success."""

import json
import os

import anyio
import pytest

from skilldeck.tools.batch import RateLimits
from skilldeck.tools.batch.mock_provider import MockConfig, serve_in_thread
from tests.server.mcp_client import connect, text_of

pytestmark = pytest.mark.anyio
SERVE = ("--toolsets", "all", "--no-user-skills", "--no-bundled-skills", "--no-watch")
SECRET = "The vault combination is 8675309."
CANARY_OPENAI = "sk-canary-openai-5f3a9c"
CANARY_ANTHROPIC = "sk-ant-canary-77d1e0"


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture
def project(tmp_path):
    """A project folder next to an outside folder holding a secret, with links from one to the other."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.md").write_text(SECRET + "\n")
    (outside / "tasks.jsonl").write_text(json.dumps({"id": "s", "text": SECRET}) + "\n")
    (outside / "train.jsonl").write_text(json.dumps({"instruction": "Say it.", "output": SECRET}) + "\n")
    proj = tmp_path / "proj"
    (proj / "docs").mkdir(parents=True)
    (proj / "docs" / "paris.md").write_text("Paris is the capital of France.\n")
    (proj / "docs" / "leak.md").symlink_to(outside / "secret.md")
    (proj / "docs" / "outside").symlink_to(outside, target_is_directory=True)
    (proj / "tasks.jsonl").symlink_to(outside / "tasks.jsonl")
    os.link(outside / "secret.md", proj / "hard.md")
    os.mkfifo(proj / "pipe.md")
    os.mkfifo(proj / "pipe.jsonl")
    return proj


async def call(session, tool, args):
    with anyio.fail_after(30):  # a FIFO opened blocking would hang here
        result = await session.call_tool(tool, args)
    return result.is_error, text_of(result)


async def test_verify_globs_drop_matches_that_lead_outside_and_literal_paths_are_refused(project):
    answer = "The vault combination is 8675309."
    async with connect(*SERVE, cwd=project) as (session, _):
        for pattern in ("docs/*.md", "**/*.md", "docs/**"):
            error, text = await call(session, "verify_answer", {"answer": answer, "paths": [pattern]})
            assert not error, text
            report = json.loads(text)
            assert report["claims"][0]["verdict"] != "supported" and "8675309" not in json.dumps(report["claims"][0]
                                                                                                 ["citations"])
            assert any(p.endswith("leak.md") for p in report["evidence_skipped"]["paths"]), (pattern, report)
        refusals = {"docs/leak.md": "through a symlink", "docs/outside/secret.md": "through a symlink",
                    "hard.md": "hard link", "pipe.md": "not a regular file", "/etc/passwd": "outside",
                    "../outside/secret.md": "outside", "~/.bashrc": "outside"}
        for raw, why in refusals.items():
            error, text = await call(session, "verify_answer", {"answer": answer, "paths": ["docs/paris.md", raw]})
            assert error and why in text and "8675309" not in text, (raw, text)
            if why != "not a regular file":
                assert "paths[1]" in text or "evidence file" in text, text


async def test_batch_task_files_outside_the_project_or_not_regular_are_refused(project):
    async with connect(*SERVE, cwd=project) as (session, _):
        for raw, why in {"/etc/passwd": "outside", "tasks.jsonl": "through a symlink",
                         "pipe.jsonl": "FIFO", "a\x00b": "NUL", "x" * 100_000: "characters"}.items():
            error, text = await call(session, "plan_batches", {"instructions": "x", "tasks_path": raw,
                                                               "provider": "vllm"})
            assert error and why in text and "task" in text, (raw[:20], text)
            assert SECRET not in text and text.strip() != "Error executing tool plan_batches"


async def test_finetune_paths_are_confined_and_hub_ids_stay_hub_ids(project, tmp_path):
    (project / "train.jsonl").write_text(json.dumps({"instruction": "Name the capital of France.",
                                                     "output": "Paris"}) + "\n")
    models = tmp_path / "models"
    (models / "tiny").mkdir(parents=True)
    async with connect(*SERVE, "--model-dir", str(models), cwd=project) as (session, _):
        cases = [
            ("validate_dataset", {"train_path": "/etc/passwd"}, "train_path"),
            ("validate_dataset", {"train_path": "train.jsonl", "val_path": "../outside/train.jsonl"}, "val_path"),
            ("validate_dataset", {"train_path": "pipe.jsonl"}, "FIFO"),
            ("validate_dataset", {"train_path": "train.jsonl", "write_splits_to": str(tmp_path / "out")},
             "write_splits_to"),
            ("validate_dataset", {"train_path": "train.jsonl", "tokenizer": "/etc"}, "tokenizer"),
            ("start_training", {"base_model": "/etc", "train_path": "train.jsonl"}, "base_model"),
            ("start_training", {"base_model": "gpt2", "train_path": "/etc/passwd"}, "train_path"),
            ("start_training", {"base_model": "gpt2", "train_path": "train.jsonl",
                                "options": {"output_dir": str(tmp_path / "elsewhere")}}, "options.output_dir"),
            ("start_training", {"base_model": "gpt2", "train_path": "train.jsonl",
                                "options": {"trust_remote_code": True}}, "trust_remote_code"),
            ("start_training", {"base_model": str(models / "tiny"), "train_path": "train.jsonl",
                                "options": {"data_within": ["/"]}}, "data_within"),
            ("evaluate_model", {"test_path": "train.jsonl", "base_model": "gpt2", "tuned_path": "/etc"},
             "tuned_path"),
            ("evaluate_model", {"test_path": "/etc/passwd", "base_model": "gpt2", "tuned_path": "."}, "test_path"),
            ("validate_dataset", {"train_path": "t\x00"}, "train_path"),
        ]
        for tool, args, field in cases:
            error, text = await call(session, tool, args)
            assert error and field in text and SECRET not in text, (tool, args, text)
        assert not (tmp_path / "out").exists() and not (tmp_path / "elsewhere").exists()
        error, text = await call(session, "validate_dataset", {"train_path": "train.jsonl",
                                                               "write_splits_to": "splits"})
        assert not error and (project / "splits" / "train.jsonl").exists(), text


async def test_a_tool_chosen_base_url_gets_no_key_and_a_refusal_naming_the_setting(project, tmp_path):
    (project / "tasks.jsonl").unlink()
    (project / "tasks.jsonl").write_text("".join(json.dumps({"id": f"t{i}", "text": f"item {i}"}) + "\n"
                                                 for i in range(6)))
    env = {"OPENAI_API_KEY": CANARY_OPENAI, "ANTHROPIC_API_KEY": CANARY_ANTHROPIC}
    with serve_in_thread(MockConfig(limits=RateLimits(6000))) as mock:
        async with connect(*SERVE, cwd=project, env=env) as (session, _):
            for provider in ("openai", "anthropic", "vllm"):
                args = {"instructions": "Label it.", "tasks_path": "tasks.jsonl", "provider": provider,
                        "options": {"base_url": mock.base_url}}
                for tool in ("plan_batches", "run_batches"):
                    error, text = await call(session, tool, args)
                    assert error and "options.base_url" in text and "provider_urls" in text, text
            error, text = await call(session, "run_batches", {
                "instructions": "Label it.", "tasks_path": "tasks.jsonl", "provider": "anthropic",
                "options": {"api_key_env": "OPENAI_API_KEY"}})
            assert error and "options.api_key_env" in text, text
        assert mock.credentials == [] and not mock.stats
        # Configured by the user: the key goes there, and nowhere in answers or the job folder.
        async with connect(*SERVE, "--provider-url", mock.base_url, cwd=project, env=env) as (session, _):
            error, text = await call(session, "run_batches", {
                "instructions": "Label it.", "tasks_path": "tasks.jsonl", "provider": "openai",
                "options": {"base_url": mock.base_url, "output_tokens_per_task": 20}, "wait_s": 20})
            assert not error and json.loads(text)["status"] == "succeeded", text
            job = json.loads(text)["job_id"]
            for tool, extra in (("batch_status", {}), ("batch_results", {})):
                _, more = await call(session, tool, {"job_id": job, **extra})
                text += more
    assert mock.credentials and set(mock.credentials) == {f"Bearer {CANARY_OPENAI}"}
    home = tmp_path / "skilldeck-home"
    written = "".join(p.read_text(errors="replace") for p in home.rglob("*") if p.is_file())
    assert written and CANARY_OPENAI not in written and CANARY_ANTHROPIC not in written
    assert CANARY_OPENAI not in text and CANARY_ANTHROPIC not in text


async def test_a_batch_whose_tasks_all_failed_is_failed_and_a_partial_one_says_so(tmp_path):
    (tmp_path / "tasks.jsonl").write_text("".join(json.dumps({"id": f"t{i}", "text": f"item {i}"}) + "\n"
                                                  for i in range(8)))
    options = {"output_tokens_per_task": 20, "max_attempts": 1, "batch_size": 1, "backoff_base_s": 0}
    outcomes = {}
    for rate, seed in ((1.0, 0), (0.5, 3)):
        with serve_in_thread(MockConfig(limits=RateLimits(6000), faults={"error_500": rate}, seed=seed)) as mock:
            async with connect(*SERVE, "--provider-url", mock.base_url, cwd=tmp_path) as (session, _):
                error, text = await call(session, "run_batches", {
                    "instructions": "Label it.", "tasks_path": "tasks.jsonl", "provider": "vllm",
                    "options": {**options, "base_url": mock.base_url}, "wait_s": 20})
                assert not error, text
                outcomes[rate] = json.loads(text)
    failed, partial = outcomes[1.0], outcomes[0.5]
    assert failed["status"] == "failed" and "all 8 tasks failed" in failed["error"], failed
    assert failed["report"]["failed"] == 8 and "start a new run" in failed["next_step"]
    assert partial["status"] == "completed_with_errors", partial
    assert 0 < partial["report"]["failed"] < 8 and "tasks failed" in partial["error"]


async def test_hidden_project_files_are_neither_read_nor_quoted(project):
    # .env and .git/config hold credentials that are not in the server's environment, so the
    # redaction of secret variables does not cover them (found by the secrets audit).
    (project / ".env").write_text("STRIPE_LIVE=sk_live_NOTINENV_999\n")
    (project / ".git").mkdir()
    (project / ".git" / "config").write_text("url = https://user:ghp_NOTINENV_gitpat@github.com/x/y\n")
    (project / "docs" / "env.md").symlink_to(project / ".env")
    (project / ".secrets").mkdir()
    (project / ".secrets" / "tasks.jsonl").write_text(json.dumps({"id": "s", "text": "sk_live_NOTINENV_999"}) + "\n")
    answer = "The live key is sk_live_NOTINENV_999 and the token is ghp_NOTINENV_gitpat."
    async with connect(*SERVE, cwd=project) as (session, _):
        for paths in ([".env"], [".git/config"], [".*"], [".git/**"], ["docs/env.md"], [str(project / ".env")]):
            error, text = await call(session, "verify_answer", {"answer": answer, "paths": paths})
            assert error and "hidden" in text and "paths[0]" in text, (paths, text)
            assert "NOTINENV" not in text.replace(answer, "")
        error, text = await call(session, "verify_answer", {"answer": answer, "paths": ["**/*.md", "*"]})
        assert not error and "NOTINENV" not in json.dumps(json.loads(text)["claims"][0].get("citations", []))
        error, text = await call(session, "plan_batches", {"instructions": "x", "tasks_path": ".secrets/tasks.jsonl"})
        assert error and "tasks_path" in text and "hidden" in text and "NOTINENV" not in text
