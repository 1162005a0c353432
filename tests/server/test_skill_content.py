"""Skills as MCP resources: paging resources/list over many skills, and after a reload."""

import math

from skilldeck.server import skill_content
from skilldeck.server.skill_content import SkillContent
from skilldeck.tools.skills.catalog import SkillCatalog
from skilldeck.tools.skills.skill import SkillRoot
from tests.fixtures.skill_factory import make_skill


def _collection(root, count):
    """`count` skills with 0-3 files each; every fifth has a symlink leading out, which is not served."""
    expected = []
    outside = root.parent / "secret.txt"
    outside.write_text("not a skill file")
    for i in range(count):
        name = f"skill-{i:04d}"
        files = {f"references/r{k}.md": f"# {k}\n" for k in range(i % 4)}
        folder = make_skill(root, name, f"name: {name}\ndescription: Skill number {i}.", files=files)
        if i % 5 == 0:
            (folder / "leak.txt").symlink_to(outside)
        expected += [f"skill://{name}/SKILL.md"] + [f"skill://{name}/{rel}" for rel in sorted(files)]
    return expected


def _walk(content, limit):
    uris, cursor, pages = [], 0, 0
    while cursor is not None:
        items, cursor = content.list_resources(cursor, limit)
        uris += [str(r.uri) for r in items]
        pages += 1
    return uris, pages


def test_walking_every_page_lists_each_resource_once_and_walks_each_folder_about_once(tmp_path, monkeypatch):
    expected = _collection(tmp_path / "skills", 600)
    walks = []
    real = skill_content._sized_files
    monkeypatch.setattr(skill_content, "_sized_files", lambda folder, hardlinks: walks.append(folder) or real(folder, hardlinks))
    content = SkillContent(SkillCatalog([SkillRoot(tmp_path / "skills", "test")]))
    uris, pages = _walk(content, 7)
    assert uris == expected and len(set(uris)) == len(uris)
    assert pages == math.ceil(len(expected) / 7)
    # Each page walks the folders it lists, plus at most one whose start it had to find.
    assert len(walks) <= 600 + 2 * pages


def test_a_page_from_any_cursor_matches_the_full_listing(tmp_path):
    expected = _collection(tmp_path / "skills", 80)
    catalog = SkillCatalog([SkillRoot(tmp_path / "skills", "test")])
    for cursor in (0, 1, 57, 123, len(expected) - 1):
        items, nxt = SkillContent(catalog).list_resources(cursor, 10)  # a new instance: nothing remembered
        assert [str(r.uri) for r in items] == expected[cursor:cursor + 10]
        assert nxt == (cursor + 10 if cursor + 10 < len(expected) else None)
    assert SkillContent(catalog).list_resources(len(expected) + 5, 10) == ([], None)


def test_pages_after_a_reload_reflect_the_new_skills_and_files(tmp_path):
    root = tmp_path / "skills"
    _collection(root, 40)
    catalog = SkillCatalog([SkillRoot(root, "test")])
    content = SkillContent(catalog)
    before, _ = _walk(content, 6)

    make_skill(root, "aaa-first", "name: aaa-first\ndescription: Sorts before every other skill.")
    (root / "skill-0003" / "SKILL.md").unlink()
    catalog.reload()
    after, _ = _walk(content, 6)
    assert after[0] == "skill://aaa-first/SKILL.md"
    assert not any("skill-0003/" in u for u in after)
    assert after == ["skill://aaa-first/SKILL.md"] + [u for u in before if "skill-0003/" not in u]

    # A file added to a skill changes no SKILL.md: only that skill's file count.
    added = root / "skill-0010" / "references" / "new.md"
    added.parent.mkdir(parents=True, exist_ok=True)
    added.write_text("# New\n")
    catalog.reload([added])
    again, _ = _walk(content, 6)
    assert "skill://skill-0010/references/new.md" in again
    assert len(again) == len(set(again)) == len(after) + 1


def test_a_grouped_skill_keeps_its_group_in_its_uri_and_the_old_form_still_finds_it(tmp_path):
    root = tmp_path / "skills"
    make_skill(root / "team", "refunds", "name: refunds\ndescription: Refunds.", files={"examples/a.md": "A\n"})
    make_skill(root, "plain", "name: plain\ndescription: Plain.")
    content = SkillContent(SkillCatalog([SkillRoot(root, "test")]))
    uris = [str(r.uri) for r in content.list_resources(0, 10)[0]]
    assert uris == ["skill://plain/SKILL.md", "skill://team/refunds/SKILL.md", "skill://team/refunds/examples/a.md"]
    for uri in ("skill://team/refunds/examples/a.md", "skill://refunds/examples/a.md"):
        skill, rel = content.locate(uri)
        assert (skill.name, rel) == ("refunds", "examples/a.md")
    assert content.path_of("skill://team/refunds/examples/a.md") == root / "team" / "refunds" / "examples" / "a.md"
    assert content.path_of("skill://nobody/SKILL.md") is None


def test_a_read_serves_the_bytes_its_digest_covers_even_after_redaction(tmp_path, monkeypatch):
    root = tmp_path / "skills"
    make_skill(root, "notes", "name: notes\ndescription: Notes.",
               files={"key.md": "token sk-live-0123456789abcdef here\n", "latin1.txt": b"caf\xe9\n"})
    monkeypatch.setenv("SOME_API_KEY", "sk-live-0123456789abcdef")
    skill = SkillCatalog([SkillRoot(root, "test")]).get("notes")
    served = skill_content.serve_file(skill, "key.md")
    assert served.text == "token [redacted] here\n" and served.data == served.text.encode()
    latin1 = skill_content.serve_file(skill, "latin1.txt")  # not UTF-8: a blob, byte for byte
    assert latin1.text is None and latin1.data == b"caf\xe9\n"
