"""Dataset files: regular files only (never opened blocking), confined when asked; splits never
write through a link planted under their names."""

import json
import os

import pytest

from skilldeck.tools.finetune import validate, write_splits
from skilldeck.tools.finetune.errors import DatasetError
from skilldeck.tools.finetune.records import read_records


def rows(n):
    return "".join(json.dumps({"instruction": f"Name item {i}.", "output": f"item {i}"}) + "\n" for i in range(n))


def test_a_fifo_dataset_is_refused_without_blocking_and_links_out_are_refused_when_confined(tmp_path):
    os.mkfifo(tmp_path / "pipe.jsonl")
    with pytest.raises(DatasetError, match="FIFO"):
        read_records(tmp_path / "pipe.jsonl")
    (tmp_path / "proj").mkdir()
    (tmp_path / "outside.jsonl").write_text(rows(3))
    (tmp_path / "proj" / "train.jsonl").symlink_to(tmp_path / "outside.jsonl")
    with pytest.raises(DatasetError, match="outside"):
        validate({"train": tmp_path / "proj" / "train.jsonl"}, within=[tmp_path / "proj"])
    assert len(read_records(tmp_path / "proj" / "train.jsonl")[0]) == 3


def test_splits_replace_a_planted_symlink_instead_of_writing_through_it(tmp_path):
    (tmp_path / "train.jsonl").write_text(rows(30))
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "train.jsonl").symlink_to(victim)
    result = write_splits({"train": tmp_path / "train.jsonl"}, tmp_path / "out", within=[tmp_path],
                          out_within=[tmp_path])
    assert victim.read_text() == "keep me" and not (tmp_path / "out" / "train.jsonl").is_symlink()
    assert sum(result.counts.values()) == 30
    with pytest.raises(Exception, match="write_splits_to"):
        write_splits({"train": tmp_path / "train.jsonl"}, tmp_path / "elsewhere", out_within=[tmp_path / "out"])


def test_splits_into_an_existing_file_name_the_field(tmp_path):
    (tmp_path / "train.jsonl").write_text(rows(30))
    (tmp_path / "taken").write_text("a file, not a folder")
    with pytest.raises(DatasetError, match="write_splits_to .* is a file; give a folder"):
        write_splits({"train": tmp_path / "train.jsonl"}, tmp_path / "taken")
    assert (tmp_path / "taken").read_text() == "a file, not a folder"


def test_a_read_stops_at_its_call_s_deadline_and_a_file_of_millions_of_lines_is_refused(tmp_path, monkeypatch):
    """1 GiB of one-character lines is allowed by size, but each line is a record or a problem of some hundred
    bytes in memory (a 2 MB file of "1" lines took 225 MB), and the read went on for minutes after the
    call that asked for it had timed out, holding the one analysis slot (red-team finding)."""
    from skilldeck.tools import deadline
    from skilldeck.tools.finetune import records

    (tmp_path / "ones.jsonl").write_text("1\n" * 30_000)
    with deadline.deadline(0.0), pytest.raises(deadline.TimeLimitError, match="Reading the dataset"):
        read_records(tmp_path / "ones.jsonl")
    monkeypatch.setattr(records, "MAX_DATASET_LINES", 100)
    (tmp_path / "train.jsonl").write_text(rows(101))
    with pytest.raises(DatasetError, match="more than 100 lines"):
        read_records(tmp_path / "train.jsonl")
    (tmp_path / "train.jsonl").write_text(rows(100))
    assert len(read_records(tmp_path / "train.jsonl")[0]) == 100
