import os
from pathlib import Path

import pytest

from skilldeck.tools.errors import AccessDeniedError, InvalidInputError, NotFoundError, StateError
from skilldeck.tools.skills.catalog import SkillCatalog
from skilldeck.tools.skills.listing import render_catalog
from skilldeck.tools.skills.roots import skill_roots
from skilldeck.tools.skills.skill import SkillRoot
from tests.fixtures.skill_factory import basic_collection, make_skill


@pytest.fixture
def catalog(tmp_path):
    return SkillCatalog([SkillRoot(basic_collection(tmp_path / "skills"), "test")], max_read_bytes=2000)


def test_index_lists_skills_sorted_without_reading_reference_files(tmp_path):
    root = basic_collection(tmp_path / "skills")
    # A named pipe blocks whoever opens it: indexing would hang if it read reference files.
    os.mkfifo(root / "pdf-forms" / "references" / "pipe.md")
    catalog = SkillCatalog([SkillRoot(root, "test")])
    assert [s.name for s in catalog.skills] == ["pdf-forms", "release-notes", "sql-tuning"]


def test_higher_root_wins_and_shadowed_skill_is_reported(tmp_path):
    high = make_skill(tmp_path / "high", "dup", "name: dup\ndescription: high one").parent
    low = make_skill(tmp_path / "low", "dup", "name: dup\ndescription: low one").parent
    catalog = SkillCatalog([SkillRoot(high, "--skills"), SkillRoot(low, "bundled")])
    assert catalog.get("dup").description == "high one"
    [shadow] = catalog.shadowed
    assert shadow.hidden == low / "dup" and shadow.used_root == "--skills"
    assert any("shadowed by" in p["message"] for d in catalog.diagnostics() for p in d["problems"])


def test_grouped_skills_one_level_down_are_found(tmp_path):
    make_skill(tmp_path / "root" / "group", "inner", "name: inner\ndescription: d")
    assert [s.name for s in SkillCatalog([SkillRoot(tmp_path / "root", "t")]).skills] == ["inner"]


def test_skills_up_to_three_group_folders_down_are_found_and_addressed_by_their_path(tmp_path):
    # A repository checkout: plugins/<plugin>/skills/<skill>/SKILL.md.
    from skilldeck.server.skill_content import SkillContent, skill_path

    root = tmp_path / "repo"
    make_skill(root / "plugins" / "docs" / "skills", "pdf-tools", "name: pdf-tools\ndescription: d",
               files={"references/forms.md": "# Forms\n"})
    make_skill(root / "a" / "b" / "c" / "d", "too-deep", "name: too-deep\ndescription: d")
    catalog = SkillCatalog([SkillRoot(root, "t")])
    [skill] = catalog.skills
    assert skill.name == "pdf-tools" and skill_path(skill) == "plugins/docs/skills/pdf-tools"
    content = SkillContent(catalog)
    assert content.locate("skill://plugins/docs/skills/pdf-tools/references/forms.md") == (skill, "references/forms.md")
    assert content.locate("skill://pdf-tools/SKILL.md") == (skill, "SKILL.md")


def test_a_root_that_is_itself_a_skill_folder_is_one_skill(tmp_path):
    folder = make_skill(tmp_path, "solo", "name: solo\ndescription: d")
    assert [s.name for s in SkillCatalog([SkillRoot(folder, "t")]).skills] == ["solo"]


def test_missing_root_is_simply_empty(tmp_path):
    assert SkillCatalog([SkillRoot(tmp_path / "nope", "t")]).skills == []


def test_unknown_name_suggests_close_matches(catalog):
    with pytest.raises(NotFoundError, match="Did you mean: pdf-forms"):
        catalog.get("pdf-form")


def test_activate_returns_body_and_file_map_without_contents(catalog):
    result = catalog.activate("pdf-forms")
    assert result["body"].startswith("# PDF forms") and result["tokens"] > 0
    files = {f["path"]: f for f in result["files"]}
    assert set(files) == {"references/fields.md", "scripts/fill.py", "assets/logo.png"}
    assert files["references/fields.md"]["kind"] == "reference" and files["references/fields.md"]["lines"] == 401
    assert files["references/fields.md"]["heading"] == "Field types"
    assert files["assets/logo.png"]["binary"] is True and "tokens" not in files["assets/logo.png"]
    assert "line 1\n" not in str(result["files"])


def test_model_cannot_activate_a_user_only_skill(tmp_path):
    make_skill(tmp_path, "manual", "name: manual\ndescription: d\ndisable-model-invocation: true")
    catalog = SkillCatalog([SkillRoot(tmp_path, "t")])
    with pytest.raises(StateError, match="only the user"):
        catalog.activate("manual")
    assert catalog.search("manual", 5) == []


def test_read_file_pages_long_files_at_the_byte_cap(catalog):
    first = catalog.read_file("pdf-forms", "references/fields.md")
    assert first["start_line"] == 1 and first["next_start_line"] > 1 and first["total_lines"] == 401
    assert len(first["content"].encode()) <= 2000
    second = catalog.read_file("pdf-forms", "references/fields.md", start_line=first["next_start_line"])
    assert second["content"].startswith(f"line {first['next_start_line'] - 2}\n")


def test_read_file_line_range_and_toc(catalog):
    part = catalog.read_file("pdf-forms", "references/fields.md", start_line=3, end_line=4)
    assert part["content"] == "line 1\nline 2\n" and "next_start_line" not in part
    toc = catalog.read_file("pdf-forms", "references/fields.md", toc=True)
    assert toc["toc"] == [{"level": 1, "title": "Field types", "line": 1}]


def test_read_file_describes_binary_files(catalog):
    result = catalog.read_file("pdf-forms", "assets/logo.png")
    assert result["binary"] is True and result["mime_type"] == "image/png" and "content" not in result


@pytest.mark.parametrize("path", ["../release-notes/SKILL.md", "/etc/passwd", "references/../../sql-tuning/SKILL.md",
                                  "C:\\Windows\\win.ini", "~/.ssh/id_rsa"])
def test_paths_leaving_the_skill_are_refused(catalog, path):
    with pytest.raises(AccessDeniedError):
        catalog.read_file("pdf-forms", path)


def test_symlink_leaving_the_skill_is_refused_and_not_listed(catalog, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    (tmp_path / "skills" / "pdf-forms" / "references" / "leak.md").symlink_to(secret)
    with pytest.raises(AccessDeniedError, match="outside"):
        catalog.read_file("pdf-forms", "references/leak.md")
    result = catalog.activate("pdf-forms")
    assert "references/leak.md" not in [f["path"] for f in result["files"]]
    assert any("leak.md" in p for p in result["file_problems"])


def test_bad_line_ranges_are_clear_errors(catalog):
    with pytest.raises(InvalidInputError, match="past the end"):
        catalog.read_file("pdf-forms", "scripts/fill.py", start_line=50)
    with pytest.raises(InvalidInputError, match="before start_line"):
        catalog.read_file("pdf-forms", "scripts/fill.py", start_line=3, end_line=2)


def test_missing_file_lists_available_files(catalog):
    with pytest.raises(NotFoundError, match="scripts/fill.py"):
        catalog.read_file("pdf-forms", "references/nope.md")


def test_incremental_reload_sees_new_edited_and_deleted_skills(catalog, tmp_path):
    root = tmp_path / "skills"
    new = make_skill(root, "new-skill", "name: new-skill\ndescription: fresh")
    assert catalog.reload([new / "SKILL.md"]) is True
    assert catalog.get("new-skill").description == "fresh"
    make_skill(root, "new-skill", "name: new-skill\ndescription: edited text here")
    catalog.reload([new / "SKILL.md"])
    assert catalog.get("new-skill").description == "edited text here"
    import shutil
    shutil.rmtree(new)
    catalog.reload([new])
    assert "new-skill" not in [s.name for s in catalog.skills]


def test_catalog_text_fits_its_byte_budget_and_points_to_search(tmp_path):
    for i in range(200):
        make_skill(tmp_path, f"skill-{i:03d}", f"name: skill-{i:03d}\ndescription: Does task number {i} well. "
                   "Use when the user needs that task done.")
    skills = SkillCatalog([SkillRoot(tmp_path, "t")]).skills
    text = render_catalog("Load a skill.", skills, 2048)
    assert len(text.encode()) <= 2048
    assert "find_skills" in text and "more not listed" in text
    small = render_catalog("Load a skill.", skills[:3], 2048)
    assert "skill-002" in small and "more not listed" not in small


def test_roots_follow_precedence_and_drop_duplicates(tmp_path):
    roots = skill_roots([tmp_path / "a"], [tmp_path / "proj"], user=True, bundled=False, home=tmp_path / "home")
    assert [(r.label, r.path) for r in roots] == [
        ("--skills", tmp_path / "a"), ("project", tmp_path / "proj" / ".claude" / "skills"),
        ("project", tmp_path / "proj" / "skills"), ("user", tmp_path / "home" / ".claude" / "skills")]
    assert len(skill_roots([tmp_path / "a", tmp_path / "a"], [], user=False, bundled=False)) == 1


def test_real_world_skill_collection_loads(tmp_path):
    fixtures = Path(__file__).parents[2] / "fixtures" / "real_skills"
    catalog = SkillCatalog([SkillRoot(fixtures, "real")])
    assert len(catalog.skills) >= 3
    assert all(not [d for d in s.diagnostics if d.level == "error"] for s in catalog.skills)



def test_files_vanishing_between_index_and_read_give_clear_errors(catalog, tmp_path):
    folder = tmp_path / "skills" / "pdf-forms"
    (folder / "references" / "fields.md").unlink()
    with pytest.raises(NotFoundError, match="no file 'references/fields.md'"):
        catalog.read_file("pdf-forms", "references/fields.md")
    assert "references/fields.md" not in [f["path"] for f in catalog.activate("pdf-forms")["files"]]
    (folder / "SKILL.md").unlink()
    with pytest.raises(NotFoundError, match="removed from disk"):
        catalog.activate("pdf-forms")


def test_search_sees_skills_and_reference_files_added_after_a_reload(catalog, tmp_path):
    root = tmp_path / "skills"
    assert not [h for h in catalog.search("kubernetes helm charts", 3) if h["name"] == "release-notes"]
    ref = root / "release-notes" / "references" / "kubernetes-helm-charts.md"
    ref.parent.mkdir()
    ref.write_text("# Helm\n")
    assert catalog.reload([ref]) is True
    assert catalog.search("kubernetes helm charts", 3)[0]["name"] == "release-notes"
    new = make_skill(root, "zebra-care", "name: zebra-care\ndescription: Look after zebras. Use when a zebra is ill.")
    catalog.reload([new / "SKILL.md"])
    assert catalog.search("my zebra is ill", 1)[0]["name"] == "zebra-care"


def test_symlink_loops_fifos_and_hidden_files_are_refused_without_crashing(catalog, tmp_path):
    folder = tmp_path / "skills" / "pdf-forms"
    (folder / "loop").symlink_to(folder / "loop")
    os.mkfifo(folder / "references" / "pipe.md")
    (folder / ".env").write_text("TOKEN=secret")
    (folder / ".git").mkdir()
    (folder / ".git" / "config").write_text("url = https://user:token@host/repo")
    result = catalog.activate("pdf-forms")  # must not block on the FIFO nor raise on the loop
    listed = [f["path"] for f in result["files"]]
    assert "loop" not in listed and "references/pipe.md" not in listed and ".env" not in listed
    for path in ("loop", ".env", ".git/config", "references/pipe.md"):
        with pytest.raises(AccessDeniedError):
            catalog.read_file("pdf-forms", path)


def test_a_root_that_is_one_skill_reloads_when_its_skill_md_changes(tmp_path):
    folder = make_skill(tmp_path, "solo", "name: solo\ndescription: before")
    catalog = SkillCatalog([SkillRoot(folder, "--skills")])
    make_skill(tmp_path, "solo", "name: solo\ndescription: after the edit")
    assert catalog.reload([folder / "SKILL.md"]) is True
    assert catalog.get("solo").description == "after the edit"
