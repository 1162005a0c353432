"""Usage statistics: recording, the log across instances, and the relevance ratio."""

import json
import os
import threading
import time

from skilldeck.tools.skills.usage import UsageStats, _give_back, _rotate, rotated_path


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


# -- a bounded log -------------------------------------------------------------------------------

def _lines(*paths) -> list[dict]:
    return [json.loads(line) for p in paths if p.exists() for line in p.read_text().splitlines()]


def test_log_past_the_limit_moves_to_one_previous_file_and_reports_read_both(tmp_path):
    log = tmp_path / "usage.jsonl"
    stats = UsageStats(log, max_log_bytes=1000)
    for i in range(12):  # about 110 bytes a line: one rotation
        stats.record_activation("s", "pdf", 1, {})
    rotated = tmp_path / "usage.1.jsonl"
    assert rotated_path(log) == rotated
    assert sorted(p.name for p in tmp_path.iterdir()) == ["usage.1.jsonl", "usage.jsonl"]
    assert rotated.stat().st_size > 1000 and log.stat().st_size <= 1000
    assert len(_lines(rotated, log)) == 12
    assert _one(stats, "pdf")["activations"] == 12


def test_rotation_keeps_only_the_previous_file(tmp_path):
    log = tmp_path / "usage.jsonl"
    stats = UsageStats(log, max_log_bytes=500)
    for i in range(40):
        stats.record_search("s", f"q{i}", ["pdf"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["usage.1.jsonl", "usage.jsonl"]
    queries = [e["query"] for e in _lines(log.with_name("usage.1.jsonl"), log)]
    assert queries == [f"q{i}" for i in range(40 - len(queries), 40)]  # the latest, in order
    assert 5 < len(queries) < 40
    assert _one(stats, "pdf")["searches"] == len(queries)


def test_report_reads_a_previous_file_left_by_another_server(tmp_path):
    log = tmp_path / "usage.jsonl"
    UsageStats(tmp_path / "usage.1.jsonl").record_activation("s1", "pdf", 10, {"x.md": 5})
    stats = UsageStats(log)
    stats.record_read("s1", "pdf", "x.md", 5)
    row = _one(stats, "pdf")
    assert row["activations"] == 1 and row["relevance_ratio"] == 1.0  # the read follows the older activation


def test_late_rotation_after_another_server_rotated_keeps_every_line(tmp_path):
    # Two servers both saw the log pass the limit; the first rotated, a third wrote a new log,
    # then the second's rotation ran: it must put that new log back, not rotate it over the history.
    log = tmp_path / "usage.jsonl"
    old = UsageStats(log, max_log_bytes=10**9)
    for i in range(5):
        old.record_search("s", f"old{i}", ["a"])
    _rotate(log, 100)
    UsageStats(log).record_search("s", "new", ["a"])
    _rotate(log, 100)
    assert [e["query"] for e in _lines(tmp_path / "usage.1.jsonl")] == [f"old{i}" for i in range(5)]
    assert [e["query"] for e in _lines(log)] == ["new"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["usage.1.jsonl", "usage.jsonl"]


def test_claimed_log_is_appended_when_a_new_log_was_started_meanwhile(tmp_path):
    log, claim = tmp_path / "usage.jsonl", tmp_path / "usage.jsonl.7-1.rotating"
    claim.write_text('{"n":1}\n')
    log.write_text('{"n":2}\n')
    _give_back(claim, log)
    assert _lines(log) == [{"n": 2}, {"n": 1}]
    assert not claim.exists()


def test_a_claim_left_by_a_server_that_died_mid_rotation_is_read_again(tmp_path):
    log = tmp_path / "usage.jsonl"
    stats = UsageStats(log)
    stats.record_activation("s", "pdf", 1, {})
    stale, fresh = tmp_path / "usage.jsonl.7-1.rotating", tmp_path / "usage.jsonl.8-1.rotating"
    stale.write_text(json.dumps({"t": 1.0, "event": "activation", "session": "s", "name": "pdf", "body_tokens": 1,
                                 "files": {}}) + "\n")
    os.utime(stale, (time.time() - 600, time.time() - 600))
    fresh.write_text("")  # a rotation in progress in another server: left alone
    assert _one(stats, "pdf")["activations"] == 2
    assert not stale.exists() and fresh.exists()


def test_failed_rotation_never_raises_and_keeps_the_log(tmp_path):
    log = tmp_path / "usage.jsonl"
    (tmp_path / "usage.1.jsonl").mkdir()  # the rotated file cannot be written
    (tmp_path / "usage.1.jsonl" / "x").write_text("")
    stats = UsageStats(log, max_log_bytes=100)
    for i in range(3):
        stats.record_activation("s", "pdf", 1, {})
    assert len(_lines(log)) == 3
    assert _one(stats, "pdf")["activations"] == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["usage.1.jsonl", "usage.jsonl"]


def test_servers_appending_at_once_rotate_without_duplicating_lines(tmp_path):
    log = tmp_path / "usage.jsonl"
    writers, per_writer = 4, 100
    line_bytes = len(json.dumps({"t": 1.0, "event": "search", "session": "s", "query": "w0-000", "names": ["a"]}))
    limit = line_bytes * writers * per_writer * 2 // 3  # one rotation, so nothing is rotated away

    def write(w: int) -> None:
        stats = UsageStats(log, max_log_bytes=limit)  # its own lock, as a separate server has
        for i in range(per_writer):
            stats.record_search("s", f"w{w}-{i:03d}", ["a"])

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    queries = [e["query"] for e in _lines(tmp_path / "usage.1.jsonl", log)]
    assert len(queries) == len(set(queries))
    assert len(queries) >= writers * per_writer - writers  # a lost race costs at most a line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["usage.1.jsonl", "usage.jsonl"]
