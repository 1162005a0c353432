"""Usage statistics: recording, the log across instances, and the relevance ratio."""

import json

from skilldeck.tools.skills.usage import UsageStats


def _one(stats: UsageStats, name: str) -> dict:
    rows = stats.report(name)
    assert len(rows) == 1
    return rows[0]


def test_relevance_ratio_counts_body_and_read_files_over_everything_offered(tmp_path):
    stats = UsageStats(tmp_path / "usage.jsonl")
    stats.record_activation("s1", "pdf", 100, {"forms.md": 300, "reference.md": 600})
    stats.record_read("s1", "pdf", "forms.md", 120)  # part of the file: it still counts as used
    row = _one(stats, "pdf")
    assert row["activations"] == 1
    assert row["tokens_loaded"] == 100 + 120
    assert row["tokens_offered"] == 1000
    assert row["relevance_ratio"] == 0.4  # (100 + 300) / 1000
    assert row["dead_weight"] == ["reference.md"]
    assert row["reads"] == {"forms.md": 1}


def test_read_in_another_session_does_not_count_for_an_activation(tmp_path):
    stats = UsageStats(tmp_path / "usage.jsonl")
    stats.record_activation("s1", "pdf", 100, {"forms.md": 100})
    stats.record_read("s2", "pdf", "forms.md", 100)
    row = _one(stats, "pdf")
    assert row["relevance_ratio"] == 0.5
    assert row["dead_weight"] == ["forms.md"]
    assert row["tokens_loaded"] == 200


def test_file_read_after_any_activation_is_not_dead_weight(tmp_path):
    stats = UsageStats(tmp_path / "usage.jsonl")
    stats.record_activation("s1", "pdf", 50, {"a.md": 50, "b.md": 50})
    stats.record_activation("s2", "pdf", 50, {"a.md": 50, "b.md": 50})
    stats.record_read("s2", "pdf", "./b.md", 50)
    row = _one(stats, "pdf")
    assert row["dead_weight"] == ["a.md"]
    assert row["sessions"] == 2
    assert {f["path"]: f["read_after_activation"] for f in row["files"]} == {"a.md": 0, "b.md": 1}
    assert row["relevance_ratio"] == round(150 / 300, 3)


def test_skill_without_files_has_full_relevance_and_unactivated_has_none(tmp_path):
    stats = UsageStats(tmp_path / "usage.jsonl")
    stats.record_search("s1", "make a gif", ["gif", "pdf"])
    stats.record_activation("s1", "gif", 80, {})
    assert _one(stats, "gif")["relevance_ratio"] == 1.0
    pdf = _one(stats, "pdf")
    assert pdf["relevance_ratio"] is None and pdf["searches"] == 1 and pdf["top_hits"] == 0
    assert _one(stats, "gif")["top_hits"] == 1


def test_report_reads_the_log_written_by_an_earlier_instance(tmp_path):
    log = tmp_path / "usage.jsonl"
    first = UsageStats(log)
    first.record_activation("s1", "pdf", 10, {"x.md": 5})
    second = UsageStats(log)
    second.record_read("s1", "pdf", "x.md", 5)
    row = _one(second, "pdf")
    assert row["activations"] == 1 and row["reads"] == {"x.md": 1}
    assert len(log.read_text().splitlines()) == 2


def test_default_log_lives_in_the_home_directory(skilldeck_home):
    stats = UsageStats(None)
    stats.record_search("s", "q", ["a"])
    assert stats.log_path == skilldeck_home / "usage.jsonl"
    assert json.loads(stats.log_path.read_text())["event"] == "search"


def test_in_memory_stats_write_no_log(skilldeck_home):
    stats = UsageStats(persist=False)
    stats.record_activation("s", "a", 1, {})
    assert stats.log_path is None
    assert not (skilldeck_home / "usage.jsonl").exists()
    assert _one(stats, "a")["activations"] == 1


def test_broken_log_lines_are_skipped(tmp_path):
    log = tmp_path / "usage.jsonl"
    log.write_text('{"event":"activation","session":"s","name":"a","body_tokens":5,"files":{}}\n'
                   '{"event":"activ\n[1,2]\n{"event":"read","name":null}\n')
    assert _one(UsageStats(log), "a")["activations"] == 1


def test_unwritable_log_does_not_break_recording(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    stats = UsageStats(blocker / "usage.jsonl")  # parent is a file: every write fails
    stats.record_activation("s", "a", 3, {})
    assert _one(stats, "a")["activations"] == 1


def test_report_orders_by_activations(tmp_path):
    stats = UsageStats(tmp_path / "u.jsonl")
    stats.record_activation("s", "b", 1, {})
    stats.record_activation("s", "b", 1, {})
    stats.record_activation("s", "a", 1, {})
    assert [r["name"] for r in stats.report()] == ["b", "a"]
    assert stats.report("missing") == []


def test_stats_command_reads_the_log_of_earlier_runs(skilldeck_home, capsys):
    from skilldeck.server.cli import main

    stats = UsageStats(None)
    stats.record_activation("s1", "pdf", 100, {"forms.md": 300, "unused.md": 600})
    stats.record_read("s1", "pdf", "forms.md", 300)
    assert main(["stats"]) == 0
    out = capsys.readouterr().out
    assert "pdf" in out and "40%" in out and "unused.md (600 tokens)" in out
    assert main(["stats", "pdf", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["dead_weight"] == ["unused.md"]
    assert main(["stats", "nothing-here"]) == 2
    assert "No usage recorded for skill 'nothing-here'" in capsys.readouterr().err


def test_scripts_and_assets_are_neither_offered_reading_nor_dead_weight(tmp_path):
    stats = UsageStats(tmp_path / "usage.jsonl")
    stats.record_activation("s", "gif", 100, {"core/builder.py": 900, "assets/logo.png": None, "guide.md": 100,
                                              "LICENSE.txt": 500})
    row = _one(stats, "gif")
    assert row["tokens_offered"] == 200 and row["relevance_ratio"] == 0.5
    assert row["dead_weight"] == ["guide.md"]
    assert len(row["files"]) == 4
