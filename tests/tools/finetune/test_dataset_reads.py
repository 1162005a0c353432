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
