import json
import subprocess
import sys

from tests.fixtures.skill_factory import make_skill


def skilldeck(*args, cwd):
    return subprocess.run([sys.executable, "-m", "skilldeck.server.cli", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=60)


def test_skills_command_lists_roots_skills_shadowing_and_problems(tmp_path):
    make_skill(tmp_path / "a", "dup", "name: dup\ndescription: first")
    make_skill(tmp_path / "b", "dup", "name: dup\ndescription: second")
    make_skill(tmp_path / "b", "broken", "description: Use when: colons: everywhere")
    out = skilldeck("skills", "--skills", str(tmp_path / "a"), "--skills", str(tmp_path / "b"), "--no-user-skills",
                    "--no-bundled-skills", "--json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert [s["name"] for s in report["skills"]] == ["broken", "dup"]
    messages = {p["message"] for entry in report["problems"] for p in entry["problems"]}
    assert any("shadowed by" in m for m in messages)
    assert any("not valid YAML" in m for m in messages) and any("no 'name'" in m for m in messages)


def test_help_explains_configuration(tmp_path):
    out = skilldeck("--help", cwd=tmp_path)
    assert out.returncode == 0 and "SKILLDECK_" in out.stdout and "skilldeck.toml" in out.stdout
    serve = skilldeck("serve", "--help", cwd=tmp_path)
    assert "--http" in serve.stdout and "--skills" in serve.stdout


def test_invalid_configuration_is_a_clear_error(tmp_path):
    (tmp_path / "skilldeck.toml").write_text("catalog_bytes = 'lots'\n")
    out = skilldeck("skills", cwd=tmp_path)
    assert out.returncode == 2 and "catalog_bytes" in out.stderr


def test_the_start_up_log_counts_skills_with_problems_once_each(tmp_path, caplog):
    import logging

    from skilldeck.server.app import build_server
    from skilldeck.server.settings import Settings

    good = tmp_path / "a" / "good"
    good.mkdir(parents=True)
    (good / "SKILL.md").write_text("---\nname: good\ndescription: Fine.\n---\nBody.\n")
    for root in ("a", "b"):  # alpha: bad YAML in one root and shadowed by the other: two problems
        alpha = tmp_path / root / "alpha"
        alpha.mkdir(parents=True)
        (alpha / "SKILL.md").write_text("---\nname: alpha\ndescription: [unclosed\n---\nBody.\n")
    with caplog.at_level(logging.INFO, logger="skilldeck"):
        build_server(Settings(watch=False, skills=[tmp_path / "a", tmp_path / "b"], user_skills=False,
                              bundled_skills=False, project_dir=tmp_path))
    lines = [r.getMessage() for r in caplog.records]
    assert "2 skills from 4 roots" in lines, lines  # --skills a and b, the project's .claude/skills/ and skills/
    assert "1 skill has problems (alpha); run `skilldeck skills` to see them" in lines, lines
