"""Task files: regular files only (never opened blocking), bounded, and confined when asked."""

import json
import os

import pytest

from skilldeck.tools.batch import TaskFileError
from skilldeck.tools.batch.providers import ProviderConfig, check_endpoint
from skilldeck.tools.batch.errors import ProviderConfigError
from skilldeck.tools.batch.tasks import load_tasks


def test_a_fifo_or_a_link_outside_is_refused_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "pipe.jsonl")
    with pytest.raises(TaskFileError, match="FIFO"):
        load_tasks(tmp_path / "pipe.jsonl")
    (tmp_path / "out.jsonl").write_text(json.dumps({"id": 1, "x": 1}) + "\n")
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "t.jsonl").symlink_to(tmp_path / "out.jsonl")
    with pytest.raises(TaskFileError, match="outside"):
        load_tasks(tmp_path / "proj" / "t.jsonl", within=[tmp_path / "proj"])
    assert load_tasks(tmp_path / "proj" / "t.jsonl")[0].id == "1"  # unrestricted (the CLI)


@pytest.mark.parametrize("config", [
    ProviderConfig("openai", "m", base_url="http://evil.example/v1"),
    ProviderConfig("anthropic", "m", base_url="https://api.anthropic.com.evil.example/v1"),
    ProviderConfig("openai", "m", base_url="http://user@127.0.0.1:9/v1"),
    ProviderConfig("anthropic", "m", api_key_env="OPENAI_API_KEY"),
    ProviderConfig("vllm", "m", api_key_env="OPENAI_API_KEY"),
    # Below the configured path as text, elsewhere as a request (found by the secrets audit).
    ProviderConfig("openai", "m", base_url="http://127.0.0.1:9/v1/../../team-b/v1", api_key_env="LOCAL_API_KEY"),
    ProviderConfig("openai", "m", base_url="http://127.0.0.1:9/v1/%2e%2e/%2E%2E/team-b", api_key_env="LOCAL_API_KEY"),
])
def test_unconfigured_endpoints_and_key_swaps_are_refused(config):
    with pytest.raises(ProviderConfigError, match="options.(base_url|api_key_env)"):
        check_endpoint(config, ["http://127.0.0.1:9/v1"])


@pytest.mark.parametrize("config", [
    ProviderConfig("openai", "m"), ProviderConfig("anthropic", "m", base_url="https://api.anthropic.com/v1/"),
    ProviderConfig("vllm", "m", base_url="http://127.0.0.1:9/v1"),
    ProviderConfig("openai", "m", base_url="http://127.0.0.1:9/v1/sub", api_key_env="LOCAL_API_KEY"),
])
def test_default_and_configured_endpoints_pass(config):
    check_endpoint(config, ["http://127.0.0.1:9/v1"])


def test_one_call_at_a_time_holds_a_task_files_tasks_and_a_waiting_call_keeps_its_deadline(tmp_path):
    """A file near the task cap takes about 680 MB as tasks: concurrent plans of it now queue."""
    import threading

    from skilldeck.tools.batch import service
    from skilldeck.tools.batch.spec import RunSpec
    from skilldeck.tools.batch.tasks import Task
    from skilldeck.tools.deadline import TimeLimitError, deadline

    path = tmp_path / "t.jsonl"
    path.write_text(json.dumps({"id": 1, "text": "hi"}) + "\n")
    spec = RunSpec(provider="vllm", model="m", instructions="tag it", tasks_path=str(path))
    with service._TASKS_HELD:  # another call holds its tasks
        with pytest.raises(TimeLimitError, match="another batch call"), deadline(0.3):
            service.dry_run(spec)
        assert service.dry_run(spec, [Task("1", {"text": "hi"})])["batches"]  # inline tasks do not wait
        waited = threading.Thread(target=service.dry_run, args=(spec,))
        waited.start()
        waited.join(0.5)
        assert waited.is_alive()  # queued behind the holder
    waited.join(10)
    assert not waited.is_alive() and service.dry_run(spec)["batches"]


def test_a_task_whose_text_holds_a_line_separator_is_read_back_whole(tmp_path):
    # str.splitlines() also splits at U+2028 and U+0085, which json.dumps(ensure_ascii=False) leaves
    # raw: a task accepted at start was then unreadable in its own job's task file.
    path = tmp_path / "t.jsonl"
    path.write_text(json.dumps({"id": "1", "text": "line one\u2028line two\u0085three"}, ensure_ascii=False) + "\n",
                    encoding="utf-8")
    (task,) = load_tasks(path)
    assert task.fields["text"] == "line one\u2028line two\u0085three"
