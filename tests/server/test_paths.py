import asyncio

import pytest

from skilldeck.server.app import build_server
from skilldeck.server.paths import inside_project
from skilldeck.server.settings import Settings
from skilldeck.tools.errors import AccessDeniedError


@pytest.mark.parametrize("raw", ["/etc/passwd", "~/.aws/credentials", "../secrets.md", "docs/../../x.md", "C:\\x"])
def test_paths_outside_the_project_are_refused(tmp_path, raw):
    with pytest.raises(AccessDeniedError, match="outside the project"):
        inside_project(tmp_path, raw, "evidence path")


def test_relative_paths_and_globs_inside_the_project_pass(tmp_path):
    assert inside_project(tmp_path, "docs/**/*.md", "evidence path") == "docs/**/*.md"
    assert inside_project(tmp_path, "notes.txt", "evidence path") == "notes.txt"


def test_symlink_out_of_the_project_is_refused(tmp_path):
    (tmp_path / "proj").mkdir()
    (tmp_path / "secret.txt").write_text("s")
    (tmp_path / "proj" / "link.txt").symlink_to(tmp_path / "secret.txt")
    with pytest.raises(AccessDeniedError, match="symlink"):
        inside_project(tmp_path / "proj", "link.txt", "evidence path")


def test_verify_answer_refuses_evidence_outside_the_project(tmp_path):
    server = build_server(Settings(project_dir=tmp_path, watch=False, user_skills=False, bundled_skills=False,
                                   toolsets=["all"]))
    with pytest.raises(Exception, match="outside the project folder"):
        asyncio.run(server.call_tool("verify_answer", {"answer": "Paris is in France.", "paths": ["/etc/hostname"]}))
