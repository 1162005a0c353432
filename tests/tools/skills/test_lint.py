"""Each lint rule with a skill that triggers it and one that does not; figures, output and CLI."""

import json
import os
from pathlib import Path

import pytest

from skilldeck.server.cli import main
from skilldeck.tools.errors import InvalidInputError
from skilldeck.tools.skills.lint import LintConfig, lint_paths, render_table
from tests.fixtures.skill_factory import make_skill

FIXTURES = Path(__file__).parents[2] / "fixtures" / "lint_skills"
GOOD_DESC = "Fills in PDF forms and flattens them. Use when the user has a fillable PDF to complete."


def good(root: Path, name: str = "pdf-forms", front: str = "", body: str = "# PDF forms\n\nFill the form.\n",
         description: str = GOOD_DESC, files: dict | None = None) -> Path:
    fm = f"name: {name}\ndescription: {description}\n{front}"
    return make_skill(root, name, fm, body=body, files=files)


def rules(path: Path, config: LintConfig | None = None) -> dict[str, list]:
    report = lint_paths([path], config)
    out: dict[str, list] = {}
    for skill in report.skills:
        for f in skill.findings:
            out.setdefault(f.rule, []).append(f)
    return out


def test_clean_skill_has_no_findings(tmp_path):
    assert rules(good(tmp_path)) == {}


# -- spec -----------------------------------------------------------------------------------------
def test_missing_frontmatter_is_an_error(tmp_path):
    make_skill(tmp_path, "plain", None, body="# Just text\n")
    found = rules(tmp_path / "plain")
    assert found["frontmatter"][0].level == "error"


def test_invalid_yaml_frontmatter_is_reported_with_its_line(tmp_path):
    make_skill(tmp_path, "pdf-forms", "name: pdf-forms\ndescription: Fills forms: use when asked: now")
    (finding,) = rules(tmp_path / "pdf-forms")["frontmatter"]
    assert finding.level == "error" and finding.line == 3 and "YAML" in finding.message


@pytest.mark.parametrize("bad", ["PDF-Forms", "-pdf", "pdf-", "pdf--forms", "a" * 65, "pdf_forms"])
def test_name_outside_the_spec_is_an_error(tmp_path, bad):
    make_skill(tmp_path, "skill", f"name: '{bad}'\ndescription: {GOOD_DESC}")
    found = rules(tmp_path / "skill")
    assert found["name"][0].level == "error" and found["name"][0].line == 2


def test_missing_name_is_an_error(tmp_path):
    make_skill(tmp_path, "pdf-forms", f"description: {GOOD_DESC}")
    assert "no 'name'" in rules(tmp_path / "pdf-forms")["name"][0].message


def test_name_differing_from_folder_is_an_error(tmp_path):
    make_skill(tmp_path, "folder-name", f"name: other-name\ndescription: {GOOD_DESC}")
    found = rules(tmp_path / "folder-name")
    assert "name" not in found
    assert "folder-name" in found["name-folder"][0].message


def test_missing_and_overlong_description_are_errors(tmp_path):
    make_skill(tmp_path, "no-desc", "name: no-desc")
    good(tmp_path, "long-desc", description="Use when asked. " + "word " * 210)
    assert rules(tmp_path / "no-desc")["description"][0].level == "error"
    assert "at most 1024" in rules(tmp_path / "long-desc")["description"][0].message
    assert "description" not in rules(good(tmp_path, "ok-desc", description="Use when asked. " + "w " * 400))


def test_compatibility_over_500_characters_is_an_error(tmp_path):
    long = good(tmp_path, "long", front=f"compatibility: {'x' * 501}\n")
    short = good(tmp_path, "short", front="compatibility: Needs Python 3.11 and network access\n")
    assert rules(long)["compatibility"][0].line == 4
    assert "compatibility" not in rules(short)


def test_metadata_must_map_text_to_text(tmp_path):
    bad = good(tmp_path, "bad", front="metadata:\n  version: 2\n  author: me\n")
    ok = good(tmp_path, "ok", front="metadata:\n  version: '2'\n")
    listed = good(tmp_path, "listed", front="metadata: [a, b]\n")
    assert "'version' (int)" in rules(bad)["metadata"][0].message
    assert "metadata" in rules(listed)
    assert "metadata" not in rules(ok)


def test_unknown_fields_warn_and_client_extensions_are_notes(tmp_path):
    path = good(tmp_path, front="tags: pdf\nallowed-tools: Read\ndisable-model-invocation: false\n")
    found = rules(path)["unknown-field"]
    assert [(f.level, f.line) for f in found] == [("warning", 4), ("info", 6)]
    assert "'tags'" in found[0].message and "metadata" in found[0].message


# -- leanness -------------------------------------------------------------------------------------
def test_long_body_warns_then_errors(tmp_path):
    lines = lambda n: "# T\n" + "".join(f"step {i}\n" for i in range(n - 1))  # noqa: E731
    assert "body-lines" not in rules(good(tmp_path, "fine", body=lines(200)))
    warn = rules(good(tmp_path, "warned", body=lines(201)))["body-lines"][0]
    error = rules(good(tmp_path, "failed", body=lines(501)))["body-lines"][0]
    assert (warn.level, error.level) == ("warning", "error")
    assert rules(good(tmp_path, "custom", body=lines(120)), LintConfig(max_lines=100))["body-lines"][0].level == \
        "warning"


def test_activation_over_the_token_budget_is_an_error(tmp_path):
    body = "# T\n" + "lorem ipsum dolor sit amet " * 1200
    path = good(tmp_path, body=body)
    assert rules(path)["activation-budget"][0].level == "error"
    assert "activation-budget" not in rules(path, LintConfig(budget_tokens=100_000))


def test_links_to_missing_files_are_errors(tmp_path):
    body = ("# T\n\nSee [the guide](references/guide.md) and [gone](references/gone.md#top).\n"
            "Run `scripts/missing.py`. Write the result to `out/result.json`. [web](https://example.com)\n")
    path = good(tmp_path, body=body, files={"references/guide.md": "# Guide\n", "scripts/run.py": "print(1)\n"})
    found = rules(path)
    broken = found["broken-link"]
    assert [(f.line, "gone.md" in f.message or "missing.py" in f.message) for f in broken] == [(7, True), (8, True)]
    assert "dead-reference" in found  # scripts/run.py is never mentioned


def test_links_inside_code_blocks_are_ignored(tmp_path):
    body = "# T\n\n```md\n[example](references/not-here.md)\n```\n"
    assert "broken-link" not in rules(good(tmp_path, body=body))


def test_files_never_mentioned_are_dead_weight(tmp_path):
    body = "# T\n\nRead `references/used.md`. Fonts are in `./fonts`. Use `from helpers.colors import x`.\n"
    files = {"references/used.md": "# Used\n", "references/unused.md": "# Unused\n", "fonts/a.ttf": b"\x00\x01",
             "helpers/colors.py": "X = 1\n", "LICENSE.txt": "license\n", "requirements.txt": "pillow\n"}
    found = rules(good(tmp_path, body=body, files=files))
    assert [f.path for f in found["dead-reference"]] == ["references/unused.md"]


def test_references_reached_only_through_another_reference_are_too_deep(tmp_path):
    body = "# T\n\nSee [advanced](references/advanced.md).\n"
    files = {"references/advanced.md": "# Advanced\n\nDetails in [details](details.md).\n",
             "references/details.md": "# Details\n", "references/scripts.md": "# S\n"}
    files["references/advanced.md"] += "Run `scripts/tool.py`.\n"
    files["scripts/tool.py"] = "print(1)\n"
    found = rules(good(tmp_path, body=body, files=files))
    (deep,) = found["reference-depth"]
    assert deep.path == "references/advanced.md" and deep.line == 3 and "details.md" in deep.message
    assert [f.path for f in found["dead-reference"]] == ["references/scripts.md"]  # the script is reached


def test_long_reference_without_contents_warns(tmp_path):
    sections = "".join(f"## Part {i}\n" + "text\n" * 30 for i in range(5))
    with_toc = "# Guide\n\n## Contents\n- Part 0\n- Part 1\n\n" + sections
    anchors = "# Guide\n\n" + "".join(f"- [Part {i}](#part-{i})\n" for i in range(5)) + sections
    body = "# T\n\nSee references/a.md, references/b.md, references/c.md and references/short.md.\n"
    files = {"references/a.md": "# Guide\n\n" + sections, "references/b.md": with_toc, "references/c.md": anchors,
             "references/short.md": "# S\n" + "x\n" * 50}
    found = rules(good(tmp_path, body=body, files=files))
    assert [f.path for f in found["reference-toc"]] == ["references/a.md"]


# -- routing --------------------------------------------------------------------------------------
def test_description_without_when_to_use_warns(tmp_path):
    assert "description-when" in rules(good(tmp_path, "a", description="Fills in PDF forms and flattens them."))
    for desc in ("Fills PDF forms. Use for tax forms.", "Fills PDF forms whenever a form arrives.",
                 "Fills PDF forms. Triggers on 'fill this form'."):
        assert "description-when" not in rules(good(tmp_path / desc[-12:].replace(" ", "_"), "b", description=desc))


def test_first_and_second_person_descriptions_warn_but_quoted_requests_do_not(tmp_path):
    found = rules(good(tmp_path, "a", description="I help you fill PDF forms. Use when your form is ready."))
    assert "I, you, your" in found["description-person"][0].message
    quoted = 'Makes GIFs for Slack. Use when users ask "make me a GIF of my cat".'
    assert "description-person" not in rules(good(tmp_path, "b", description=quoted))


def test_xml_tags_in_description_are_errors(tmp_path):
    found = rules(good(tmp_path, "a", description="Fills <b>PDF</b> forms. Use when asked."))
    assert found["description-xml"][0].level == "error"
    assert "description-xml" not in rules(good(tmp_path, "b", description="Use when a < b and c > d."))


def test_overlapping_descriptions_are_reported_as_a_pair(tmp_path):
    good(tmp_path, "pdf-form-filler", description="Fills in and flattens fillable PDF forms with field values. "
         "Use when the user has a PDF form to complete.")
    good(tmp_path, "pdf-forms", description="Fills in fillable PDF forms and flattens the field values. Use when "
         "a PDF form must be completed.")
    good(tmp_path, "sql-tuning", description="Speeds up slow SQL queries with indexes. Use when a query is slow.")
    report = lint_paths([tmp_path])
    assert [p["skills"] for p in report.pairs] == [["pdf-form-filler", "pdf-forms"]]
    assert report.pairs[0]["similarity"] >= 0.5 and "pdf" in report.pairs[0]["shared_terms"]
    flagged = {s.name for s in report.skills if any(f.rule == "description-overlap" for f in s.findings)}
    assert flagged == {"pdf-form-filler", "pdf-forms"}


# -- portability ----------------------------------------------------------------------------------
def test_windows_paths_warn_but_regex_escapes_do_not(tmp_path):
    body = "# T\n\nRun scripts\\fill.py first.\n\nMatch `\\d+\\.\\w+` and `C:\\Users\\me` paths.\n"
    found = rules(good(tmp_path, body=body, files={"scripts/fill.py": "x\n"}))
    assert [(f.line, f.level) for f in found["windows-path"]] == [(7, "warning"), (9, "warning")]
    assert "windows-path" not in rules(good(tmp_path / "b", body="# T\n\nRun scripts/fill.py; match \\d+.\n",
                                            files={"scripts/fill.py": "x\n"}))


def test_too_many_files_and_too_many_bytes_are_errors(tmp_path):
    files = {f"assets/{i}.bin": b"\x00" * 100 for i in range(5)}
    path = good(tmp_path, body="# T\n\nAssets are in `assets/`.\n", files=files)
    assert "too-many-files" not in rules(path)
    found = rules(path, LintConfig(max_files=5, max_bytes=400))
    assert found["too-many-files"][0].level == "error" and found["too-large"][0].level == "error"


# -- figures, output, real skills -----------------------------------------------------------------
def test_figures_count_activation_and_reference_cost(tmp_path):
    path = good(tmp_path, body="# T\n\nRead references/a.md.\n", files={"references/a.md": "# A\n\nsome words\n"})
    (skill,) = lint_paths([path]).skills
    fig = skill.figures
    assert (fig.body_lines, fig.files, fig.references) == (3, 2, 1)
    assert fig.activation_tokens > 0 and fig.reference_tokens > 0


def test_real_skills_get_only_findings_an_author_would_agree_with():
    report = lint_paths([FIXTURES])
    found = {s.name: sorted(f.rule for f in s.findings) for s in report.skills}
    assert found == {"brand-guidelines": [], "internal-comms": ["description-person"]}


def test_table_lists_findings_with_file_and_line_and_a_summary(tmp_path):
    good(tmp_path, "a", description="Fills PDF forms.")
    text = render_table(lint_paths([tmp_path]))
    assert "SKILL.md:3" in text and "description-when" in text
    assert "1 skill: 0 errors, 1 warning" in text


def test_no_skill_under_the_path_is_an_invalid_input(tmp_path):
    with pytest.raises(InvalidInputError, match="No skills to lint"):
        lint_paths([tmp_path / "nowhere"])


def test_cli_json_and_strict_exit_code(tmp_path, capsys):
    make_skill(tmp_path, "bad", "name: Bad\ndescription: Use when testing.")
    assert main(["lint", str(tmp_path)]) == 0
    capsys.readouterr()
    assert main(["lint", str(tmp_path), "--strict", "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["summary"]["errors"] == 2  # the name's form and its folder
    assert main(["lint", str(FIXTURES / "brand-guidelines"), "--strict"]) == 0


def test_wildcard_mentions_reach_the_files_they_match(tmp_path):
    body = "# T\n\nRead `guides/{lang}/README.md` and the `shared/agent-*.md` notes.\n"
    files = {"guides/python/README.md": "# Py\n", "guides/go/README.md": "# Go\n", "shared/agent-core.md": "# C\n",
             "shared/other.md": "# O\n"}
    found = rules(good(tmp_path, body=body, files=files))
    assert [f.path for f in found["dead-reference"]] == ["shared/other.md"]


def test_table_can_be_cut_to_the_skills_with_most_findings(tmp_path):
    good(tmp_path, "clean")
    good(tmp_path, "vague", description="Tunes slow SQL queries.")
    text = render_table(lint_paths([tmp_path]), max_skills=1)
    assert "vague" in text and "clean" not in text and "… and 1 more skills" in text


def test_copies_of_one_skill_report_a_bounded_number_of_pairs(tmp_path):
    for i in range(8):
        good(tmp_path, f"copy-{i}")
    report = lint_paths([tmp_path])
    assert len(report.pairs) == 28
    assert max(sum(f.rule == "description-overlap" for f in s.findings) for s in report.skills) == 5


# -- hostile folders ------------------------------------------------------------------------------
def _alias_bomb() -> str:
    lines = ['name: alias-bomb', 'l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"l{i}: &l{i} [" + ",".join([f"*l{i - 1}"] * 9) + "]" for i in range(1, 9)]
    return "\n".join([*lines, "description: *l8"])


@pytest.mark.timeout(60)
def test_frontmatter_bombs_are_frontmatter_errors_naming_the_bound(tmp_path):
    make_skill(tmp_path, "alias-bomb", _alias_bomb())
    make_skill(tmp_path, "deep", "name: deep\ndescription: " + "[" * 999 + "]" * 999)
    found = {s.name: s.findings for s in lint_paths([tmp_path]).skills}
    (bomb,) = found["alias-bomb"]
    (deep,) = found["deep"]
    assert bomb.rule == deep.rule == "frontmatter" and bomb.level == deep.level == "error"
    assert "with aliases expanded" in bomb.message and "nests deeper than 32 levels" in deep.message
    assert (bomb.line, deep.line) == (7, 3)  # l4 is where 9**5 values pass 50,000


@pytest.mark.timeout(60)
def test_fifos_links_out_loops_and_huge_files_are_reported_not_read(tmp_path):
    outside = tmp_path / "secret.txt"
    outside.write_text("secret\n")
    body = "# T\n\nSee [x](" + "a" * 5000 + ".md) and `assets/`.\n"
    path = good(tmp_path / "skills", body=body, files={"assets/ok.md": "# ok\n"})
    os.mkfifo(path / "assets" / "pipe.md")
    (path / "assets" / "loop-a.md").symlink_to(path / "assets" / "loop-b.md")
    (path / "assets" / "loop-b.md").symlink_to(path / "assets" / "loop-a.md")
    (path / "assets" / "out.md").symlink_to(outside)
    with open(path / "assets" / "huge.bin", "wb") as fh:
        fh.truncate(3 * 2**30)  # sparse: 3 GiB that would take minutes to read
    (skill,) = lint_paths([path]).skills
    unreadable = {f.path: f.message for f in skill.findings if f.rule == "unreadable-file"}
    assert set(unreadable) == {"assets/pipe.md", "assets/loop-a.md", "assets/loop-b.md", "assets/out.md"}
    assert "FIFO" in unreadable["assets/pipe.md"] and "outside" in unreadable["assets/out.md"]
    assert {f.rule for f in skill.findings} >= {"broken-link", "too-large"}
    assert skill.figures.bytes > 3 * 2**30 and skill.figures.references == 1  # huge.bin counted, not read


def test_skill_md_linked_out_of_its_folder_is_not_read(tmp_path):
    elsewhere = make_skill(tmp_path / "elsewhere", "real", f"name: linked\ndescription: {GOOD_DESC}")
    folder = tmp_path / "skills" / "linked"
    folder.mkdir(parents=True)
    (folder / "SKILL.md").symlink_to(elsewhere / "SKILL.md")
    good(tmp_path / "skills", "fine")
    report = lint_paths([tmp_path / "skills"])
    assert [s.name for s in report.skills] == ["fine"]
    assert any("linked" in p and "cannot read SKILL.md" in p and "outside" in p for p in report.problems)


def test_lint_reads_hard_linked_skills_where_the_server_serves_them(tmp_path):
    # From the code review: uv installs skilldeck's bundled skills as hard links into its cache;
    # use_skill serves them (their root is trusted) but lint reported "cannot read SKILL.md".
    from skilldeck.tools.skills.lint import lint_folders

    cache = tmp_path / "cache"
    make_skill(cache, "cached", "name: cached\ndescription: Use when a test needs a hard-linked skill.")
    folder = tmp_path / "skills" / "cached"
    folder.mkdir(parents=True)
    os.link(cache / "cached" / "SKILL.md", folder / "SKILL.md")
    refused = lint_folders([folder])
    assert not refused.skills and "hard link" in refused.problems[0]
    trusted = lint_folders([folder], trusted=[folder])
    assert [s.name for s in trusted.skills] == ["cached"] and not trusted.problems


def test_linting_a_skill_built_to_be_slow_stops_at_the_call_s_deadline(tmp_path):
    """A 256 KB reference and 1,900 files it never mentions: each file's patterns search the text,
    and the lint ran 12 s past a 3 s call limit, holding its call slot."""
    import time

    import pytest

    from skilldeck.tools.deadline import TimeLimitError, deadline
    from skilldeck.tools.skills.lint import lint_folders

    skill = make_skill(tmp_path, "slow", "name: slow\ndescription: Slow. Use when testing.", body="Read ref.md first.\n")
    (skill / "ref.md").write_text("lorem ipsum dolor " * 15_000)
    for i in range(1900):
        (skill / f"b{i:04d}.md").write_text("x\n")
    started = time.monotonic()
    with deadline(0.3), pytest.raises(TimeLimitError, match="one skill at a time"):
        lint_folders([skill])
    assert time.monotonic() - started < 5


def test_lint_never_reads_a_hidden_file_through_a_link(tmp_path):
    """`ref.md -> .env` inside a skill: the server refuses it, and so does lint."""
    from skilldeck.tools.skills.lint import lint_folders
    from skilldeck.tools.skills.lint.source import load_source

    skill = make_skill(tmp_path, "linked", "name: linked\ndescription: Linked. Use when testing.", body="See ref.md.\n")
    (skill / ".env").write_text("API_KEY=C:\\secret\\CANARY-LINT-1\n")
    (skill / "ref.md").symlink_to(".env")
    src = load_source(skill)
    assert all(f.text is None or "CANARY" not in f.text for f in src.files) and "ref.md" in src.unreadable
    assert "CANARY" not in json.dumps(lint_folders([skill]).to_dict())


def test_file_names_one_file_system_merges_warn(tmp_path):
    composed, combined = "caf\u00e9.md", "cafe\u0301.md"
    folder = good(tmp_path / "a", body="# T\n\nSee guide.md, Guide.md and the menu.\n",
                  files={"guide.md": "# G\n", "Guide.md": "# G2\n", composed: "# C\n", combined: "# C2\n"})
    found = rules(folder)["name-clash"]
    assert len(found) == 2 and all(f.level == "warning" for f in found)
    assert any("'guide.md' and 'Guide.md'" in f.message or "'Guide.md' and 'guide.md'" in f.message for f in found)
    assert any("\\u0301" in f.message for f in found)  # the two spellings are told apart in the message
    assert "name-clash" not in rules(good(tmp_path / "b", files={"guide.md": "# G\n", "guides.md": "# G\n"}))
    # Full case folding would merge these; no file system does.
    assert "name-clash" not in rules(good(tmp_path / "c", files={"Stra\u00dfe.md": "# S\n", "strasse.md": "# S\n"}))
