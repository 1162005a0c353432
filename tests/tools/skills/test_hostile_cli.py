"""What a stranger's skill folder or a foreign usage log does to `skilldeck skills`, `lint` and
`stats` (found by a red-team pass over the CLI): link loops, links through a folder linked
outside, lines built to make a regex backtrack, many look-alike skills, numbers JSON allows."""

import json
import time
import tracemalloc
from pathlib import Path
from types import SimpleNamespace

import pytest

from skilldeck.server.cli import main
from skilldeck.tools.skills.lint import lint_paths
from skilldeck.tools.skills.lint.routing import overlapping_pairs
from skilldeck.tools.skills.roots import skill_roots
from skilldeck.tools.skills.usage import UsageStats
from tests.fixtures.skill_factory import make_skill

FRONT = "name: {}\ndescription: Does things. Use when testing."


def test_a_project_skills_folder_that_links_to_itself_is_a_missing_root(tmp_path):
    # `skills -> skills` in a cloned repository stopped `skilldeck serve` and `skilldeck skills`
    # there with RuntimeError("Symlink loop") from Path.resolve().
    (tmp_path / "skills").symlink_to("skills")
    roots = skill_roots([], [tmp_path], user=False, bundled=False)
    assert [r.path for r in roots] == [tmp_path / ".claude" / "skills", tmp_path / "skills"]


def test_links_through_a_folder_linked_outside_are_broken_whether_or_not_the_target_exists(tmp_path):
    # Through `sub -> ~/.ssh`, lint passed `[k](sub/id_rsa)` and flagged `[k](sub/id_dsa)`: over
    # `lint_skills` a skill learned which of the user's files exist.
    secrets = tmp_path / "home" / ".ssh"
    secrets.mkdir(parents=True)
    (secrets / "id_rsa").write_text("CANARY\n")
    skill = make_skill(tmp_path / "skills", "probe", FRONT.format("probe"),
                       body="# T\n\nSee [a](sub/id_rsa) and [b](sub/id_dsa).\n")
    (skill / "sub").symlink_to(secrets)
    (report,) = lint_paths([skill]).skills
    broken = sorted(f.message for f in report.findings if f.rule == "broken-link")
    assert broken == ["link to 'sub/id_dsa', which does not exist in the skill",
                      "link to 'sub/id_rsa', which does not exist in the skill"]


@pytest.mark.timeout(60)
def test_lines_built_to_make_the_link_and_glob_patterns_backtrack_lint_at_once(tmp_path):
    # `[a](b` 40,000 times on one line took 288 s, "`" and 40,000 "*" 8 s; `re` holds the GIL, so
    # `lint_skills` froze the whole server meanwhile.
    body = "# T\n\n" + "[a](b" * 40_000 + "\n\n`" + "*" * 40_000 + "\n\n[ok](ok.md) and `*.md`.\n"
    skill = make_skill(tmp_path, "backtrack", FRONT.format("backtrack"), body=body, files={"ok.md": "# ok\n"})
    started = time.monotonic()
    (report,) = lint_paths([skill]).skills
    assert time.monotonic() - started < 10
    assert not [f for f in report.findings if f.rule in ("broken-link", "dead-reference")]


@pytest.mark.timeout(120)
def test_files_that_large_references_never_mention_are_looked_for_quickly(tmp_path):
    # Each file's patterns began with a look-behind, so `re` tried every position of every text:
    # 2,000 files and 15 references of 1 MB took half an hour.
    refs = {f"r{i}.md": ("lorem ipsum dolor sit amet " * 37 + "\n") * 990 for i in range(2)}
    files = {**refs, **{f"b{i:03d}.md": "x\n" for i in range(500)}, "deep/er/c.md": "y\n"}
    skill = make_skill(tmp_path, "wide", FRONT.format("wide"), body="# T\n\nRead r0.md and r1.md.\n", files=files)
    (skill / "r1.md").write_text(refs["r1.md"] + "See b007.md and `deep/er/`.\n")
    started = time.monotonic()
    (report,) = lint_paths([skill]).skills
    assert time.monotonic() - started < 20
    dead = {f.path for f in report.findings if f.rule == "dead-reference"}
    assert len(dead) == 499 and "b007.md" not in dead and "deep/er/c.md" not in dead


def test_many_look_alike_skills_hold_only_the_pairs_reported(tmp_path):
    # 10,000 skills in groups of 500 alike made 2.5 million pair records (2 GB) before the cut to 500.
    words = "alpha bravo charlie delta echo foxtrot golf hotel".split()
    sources = []
    for i in range(3000):
        group = f"{chr(97 + i % 20 % 26)}{chr(97 + i % 20 // 26)}"
        description = " ".join(w + group for w in words) + ". Use when testing."
        sources.append((f"s{i}", SimpleNamespace(fields={"description": description}, dir=Path(f"/s{i}"))))
    tracemalloc.start()
    try:
        pairs = overlapping_pairs(sources, 0.5)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(pairs) == 500 and pairs[0]["similarity"] >= pairs[-1]["similarity"]
    assert pairs == sorted(pairs, key=lambda p: (-p["similarity"], p["skills"]))
    assert peak < 40_000_000, f"{peak:,} bytes for 500 pairs"


def test_stats_skips_counts_and_times_json_allows_but_cannot_be_counts(tmp_path, capsys):
    log = tmp_path / "usage.jsonl"
    log.write_text(
        '{"event":"activation","session":"a","name":"inf","body_tokens":Infinity,"files":{}}\n'
        '{"t":1e999,"event":"activation","session":"a","name":"late","body_tokens":5,"files":{}}\n'
        '{"event":"activation","session":"a","name":"huge","body_tokens":1,'
        '"files":{"a.md":1e308,"b.md":1e308,"c.md":-1e308,"d.md":-1e308}}\n'
        '{"event":"read","session":"a","name":"huge","path":"a.md","tokens":1e308}\n'
        '{"t":5,"event":"activation","session":"a","name":"fine","body_tokens":7,"files":{}}\n')
    assert [r["name"] for r in UsageStats(log).report()] == ["fine"]
    for argv in (["stats", "--log", str(log)], ["stats", "--json", "--log", str(log)]):
        assert main(argv) == 0
    out = capsys.readouterr().out
    json.loads(out[out.index("\n[") + 1:], parse_constant=lambda name: pytest.fail(f"{name} in --json"))


def test_arguments_argparse_refuses_are_echoed_without_terminal_escapes(capsys):
    # `skilldeck lint *` in a folder holding `--x<ESC>]0;pwned<BEL>`: argparse's "unrecognized
    # arguments" line was written before the CLI escaped its streams.
    with pytest.raises(SystemExit):
        main(["lint", "--x\x1b]0;pwned\x07"])
    err = capsys.readouterr().err
    assert "unrecognized arguments" in err and "\x1b" not in err and "\\u001b]0;pwned" in err


def test_an_unexpected_crash_prints_its_traceback_without_terminal_escapes(monkeypatch, capsys):
    # A bug's traceback quotes what it was reading: a stranger's skill name or heading.
    import skilldeck.server.cli.skills as skills_cli

    def crash(args):
        raise RuntimeError("skill \x1b]52;c;cGF5bG9hZA==\x07 broke it")

    monkeypatch.setattr(skills_cli, "run", crash)
    assert main(["skills"]) == 1
    err = capsys.readouterr().err
    assert "RuntimeError" in err and "Traceback" in err and "\x1b" not in err and "\\u001b]52" in err
