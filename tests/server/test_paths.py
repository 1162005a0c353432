import asyncio
import os

import pytest

from skilldeck.server.app import build_server
from skilldeck.server.paths import Confinement
from skilldeck.server.settings import Settings, load_settings
from skilldeck.tools.errors import AccessDeniedError, InvalidInputError


@pytest.mark.parametrize("raw", ["/etc/passwd", "~/.aws/credentials", "../secrets.md", "docs/../../x.md", "C:\\x",
                                 "/**/*.md", "../*.md"])
def test_paths_outside_the_project_are_refused_naming_the_field(tmp_path, raw):
    with pytest.raises(AccessDeniedError, match=r"paths\[0\] .* outside the project folder"):
        Confinement(tmp_path).allowed_paths([raw], "paths")


def test_relative_paths_and_globs_inside_the_project_pass(tmp_path):
    where = Confinement(tmp_path)
    assert where.allowed_pattern("docs/**/*.md", "paths[0]") == str(tmp_path.resolve() / "docs/**/*.md")
    assert where.allowed_path("notes.txt", "tasks_path") == tmp_path.resolve() / "notes.txt"
    assert where.allowed_path(str(tmp_path / "a" / "b"), "out", write=True) == tmp_path.resolve() / "a" / "b"


def test_symlink_out_of_the_project_is_refused(tmp_path):
    (tmp_path / "proj").mkdir()
    (tmp_path / "secret.txt").write_text("s")
    (tmp_path / "proj" / "link.txt").symlink_to(tmp_path / "secret.txt")
    with pytest.raises(AccessDeniedError, match="tasks_path 'link.txt' .* through a symlink"):
        Confinement(tmp_path / "proj").allowed_path("link.txt", "tasks_path")


@pytest.mark.parametrize("raw,message", [("a\x00b", "NUL byte"), ("x" * 100_000, "100,000 characters"),
                                         ("", "non-empty"), (3, "non-empty")])
def test_unusable_paths_name_the_field(tmp_path, raw, message):
    with pytest.raises(InvalidInputError, match=f"train_path .*{message}|train_path must be a {message}"):
        Confinement(tmp_path).allowed_path(raw, "train_path")


def test_model_dirs_allow_models_there_and_hub_ids_stay_hub_ids(tmp_path):
    models, data = tmp_path / "models", tmp_path / "data"
    (models / "base").mkdir(parents=True)
    (tmp_path / "proj" / "local-model").mkdir(parents=True)
    where = Confinement((tmp_path / "proj"), data_dirs=(data,), model_dirs=(models,))
    assert where.allowed_model("Qwen/Qwen2-0.5B", "base_model") == "Qwen/Qwen2-0.5B"
    assert where.allowed_model("local-model", "base_model") == str((tmp_path / "proj" / "local-model").resolve())
    assert where.allowed_model(str(models / "base"), "base_model") == str((models / "base").resolve())
    assert where.allowed_model("a/b/c", "base_model") == str((tmp_path / "proj" / "a/b/c").resolve())  # not a hub id
    for raw in ("/etc", "../models/../../x", "~/models", "./../elsewhere"):
        with pytest.raises(AccessDeniedError, match="base_model"):
            where.allowed_model(raw, "base_model")
    with pytest.raises(AccessDeniedError, match="train_path"):  # a model folder is not a data folder
        where.allowed_path(str(models / "base" / "t.jsonl"), "train_path")
    with pytest.raises(AccessDeniedError, match="writes files only"):  # nor a place to write
        where.allowed_path(str(models / "out"), "output_dir", write=True)
    assert where.allowed_path(str(data / "t.jsonl"), "train_path") == (data / "t.jsonl").resolve()


def test_model_data_dirs_and_provider_urls_come_from_flags_environment_and_toml(tmp_path):
    (tmp_path / "skilldeck.toml").write_text('model_dirs = ["~/models"]\nprovider_urls = ["http://gpu:8000/v1"]\n')
    settings = load_settings(config=tmp_path / "skilldeck.toml", environ={
        "SKILLDECK_DATA_DIRS": f"/srv/a{os.pathsep}/srv/b",
        "SKILLDECK_PROVIDER_URLS": "http://gpu:8000/v1, https://proxy.example/v1"})
    assert settings.model_dirs[0].is_absolute() and settings.model_dirs[0].name == "models"
    assert [str(p) for p in settings.data_dirs] == ["/srv/a", "/srv/b"]
    assert settings.provider_urls == ["http://gpu:8000/v1", "https://proxy.example/v1"]
    where = Confinement.from_settings(Settings(project_dir=tmp_path, model_dirs=[tmp_path / "m"]), tmp_path / "jobs")
    assert where.bases("model") == [tmp_path, tmp_path / "m", tmp_path / "jobs"]


def test_verify_answer_refuses_evidence_outside_the_project(tmp_path):
    server = build_server(Settings(project_dir=tmp_path, watch=False, user_skills=False, bundled_skills=False,
                                   toolsets=["all"]))
    with pytest.raises(Exception, match=r"paths\[0\] '/etc/hostname' leads outside the project folder"):
        asyncio.run(server.call_tool("verify_answer", {"answer": "Paris is in France.", "paths": ["/etc/hostname"]}))


def _model_folder(root):
    folder = root / "models" / "tiny"
    (folder / "sub").mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    (folder / "sub" / "tokenizer.json").write_text("{}")
    return folder


def test_a_model_folder_holding_a_pipe_or_a_link_out_is_refused_before_a_job_reads_it(tmp_path):
    project = tmp_path / "proj"
    folder = _model_folder(project)
    where = Confinement(project)
    assert where.allowed_model("models/tiny", "base_model") == str(folder.resolve())
    # A link inside the allowed folders is fine (a Hugging Face cache links snapshots to blobs).
    (folder / "weights.bin").symlink_to(folder / "sub" / "tokenizer.json")
    assert where.allowed_model("models/tiny", "base_model") == str(folder.resolve())

    (tmp_path / "id_rsa").write_text("PRIVATE")
    (folder / "sub" / "merges.txt").symlink_to(tmp_path / "id_rsa")
    with pytest.raises(AccessDeniedError, match=r"base_model 'models/tiny/sub/merges.txt' leads outside .* symlink"):
        where.allowed_model("models/tiny", "base_model")
    (folder / "sub" / "merges.txt").unlink()

    os.mkfifo(folder / "sub" / "vocab.txt")
    with pytest.raises(InvalidInputError, match=r"base_model 'models/tiny': sub/vocab.txt is not a regular file"):
        where.allowed_model("models/tiny", "base_model")
    (folder / "sub" / "vocab.txt").unlink()

    (folder / "gone.json").symlink_to(folder / "missing.json")
    with pytest.raises(InvalidInputError, match="gone.json is a broken link"):
        where.allowed_path("models/tiny", "tuned_path", kind="model")


def test_a_model_file_that_is_a_pipe_or_a_hard_link_is_refused_before_a_job_reads_it(tmp_path):
    project = tmp_path / "proj"
    (project / "models").mkdir(parents=True)
    where = Confinement(project)
    (project / "models" / "tiny.gguf").write_bytes(b"GGUF")
    assert where.allowed_model("models/tiny.gguf", "base_model").endswith("tiny.gguf")
    os.mkfifo(project / "models" / "pipe.gguf")
    with pytest.raises(InvalidInputError, match="base_model 'models/pipe.gguf' is not a regular file"):
        where.allowed_model("models/pipe.gguf", "base_model")
    (tmp_path / "outside.gguf").write_bytes(b"GGUF")
    os.link(tmp_path / "outside.gguf", project / "models" / "linked.gguf")
    with pytest.raises(InvalidInputError, match="is a hard link"):
        where.allowed_path("models/linked.gguf", "tuned_path", kind="model")


def test_a_hidden_name_counts_only_below_the_innermost_allowed_folder(tmp_path):
    jobs = tmp_path / ".local" / "share" / "skilldeck" / "jobs"
    (jobs / "train-1" / "adapter").mkdir(parents=True)
    (jobs / "train-1" / "adapter" / "adapter_config.json").write_text("{}")
    (tmp_path / ".env").write_text("KEY=1\n")
    where = Confinement(tmp_path, model_dirs=(jobs,))  # a project that is the home folder
    assert where.allowed_path(str(jobs / "train-1" / "adapter"), "base_model", kind="model")
    with pytest.raises(AccessDeniedError, match="hidden '.env'"):
        where.allowed_path(".env", "train_path")
