from pathlib import Path

from skilldeck.tools.skills.frontmatter import parse_skill_md
from skilldeck.tools.skills.skill import SkillRoot, load_skill
from tests.fixtures.skill_factory import make_skill

ROOT = SkillRoot(Path("/nonexistent"), "test")


def test_valid_frontmatter_parses_fields_and_body_line():
    parsed = parse_skill_md("---\nname: a\ndescription: b\n---\n# Body\n")
    assert parsed.fields == {"name": "a", "description": "b"}
    assert parsed.body == "# Body\n" and parsed.body_line == 5 and parsed.problems == []


def test_unquoted_colon_in_description_is_recovered_with_a_warning():
    parsed = parse_skill_md("---\nname: a\ndescription: Use when: the user asks: things\n---\nbody")
    assert parsed.fields["description"] == "Use when: the user asks: things"
    assert any("not valid YAML" in msg for _, msg in parsed.problems)


def test_block_scalar_description_is_not_read_as_a_marker(tmp_path):
    skill = load_skill(make_skill(tmp_path, "s", "name: s\ndescription: >\n  Folded text\n  over lines."), ROOT)
    assert skill.description == "Folded text over lines."


def test_crlf_and_bom_are_handled(tmp_path):
    raw = "\ufeff---\r\nname: crlf\r\ndescription: Windows file\r\n---\r\n# Body\r\n".encode()
    skill = load_skill(make_skill(tmp_path, "crlf", None, raw=raw), ROOT)
    assert (skill.name, skill.description, skill.diagnostics) == ("crlf", "Windows file", [])


def test_missing_name_uses_folder_name_with_a_diagnostic(tmp_path):
    skill = load_skill(make_skill(tmp_path, "folder-name", "description: something"), ROOT)
    assert skill.name == "folder-name"
    assert any("no 'name'" in d.message for d in skill.diagnostics)


def test_body_without_frontmatter_still_loads_as_an_error_diagnostic(tmp_path):
    skill = load_skill(make_skill(tmp_path, "bare", None, body="# Just a body\n"), ROOT)
    assert skill.name == "bare" and skill.headings == ["Just a body"]
    assert {d.level for d in skill.diagnostics} == {"error", "warning"}


def test_allowed_tools_as_string_or_list(tmp_path):
    a = load_skill(make_skill(tmp_path, "a", "name: a\ndescription: d\nallowed-tools: Read, Bash(git:*) Grep"), ROOT)
    b = load_skill(make_skill(tmp_path, "b", "name: b\ndescription: d\nallowed-tools: [Read, Write]"), ROOT)
    assert a.allowed_tools == ["Read", "Bash(git:*)", "Grep"]
    assert b.allowed_tools == ["Read", "Write"]


def test_non_string_metadata_values_become_text_with_info(tmp_path):
    skill = load_skill(make_skill(tmp_path, "m", "name: m\ndescription: d\nmetadata:\n  version: 1.2\n  tags: [x]"), ROOT)
    assert skill.metadata == {"version": "1.2", "tags": "['x']"}
    assert any(d.level == "info" and "version" in d.message for d in skill.diagnostics)


def test_invocation_flags_are_read_leniently(tmp_path):
    skill = load_skill(make_skill(tmp_path, "f", "name: f\ndescription: d\ndisable-model-invocation: 'yes'\n"
                                  "user-invocable: false"), ROOT)
    assert skill.model_invocable is False and skill.user_invocable is False


def test_frontmatter_that_is_a_list_is_reported_not_raised(tmp_path):
    skill = load_skill(make_skill(tmp_path, "l", "- a\n- b"), ROOT)
    assert skill.name == "l" and any("mapping" in d.message for d in skill.diagnostics)


def test_unreadable_skill_md_becomes_an_error_diagnostic(tmp_path):
    folder = make_skill(tmp_path, "gone", "name: gone\ndescription: d")
    (folder / "SKILL.md").unlink()
    (folder / "SKILL.md").mkdir()  # a folder where the file should be
    skill = load_skill(folder, ROOT)
    assert skill.diagnostics[0].level == "error" and "cannot read" in skill.diagnostics[0].message


def test_invalid_utf8_is_replaced_and_reported(tmp_path):
    raw = b"---\nname: u\ndescription: caf\xe9\n---\nbody\n"
    skill = load_skill(make_skill(tmp_path, "u", None, raw=raw), ROOT)
    assert skill.description.startswith("caf") and any("UTF-8" in d.message for d in skill.diagnostics)
