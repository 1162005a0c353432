"""Datasets from strangers: a bad line is reported as that line, and no record makes the
duplicate search or the few-shot choice hold memory in proportion to its size (fine-tuning audit)."""

import json
import random

from skilldeck.tools.finetune.records import SchemaProblem, parse_record
from skilldeck.tools.finetune.similarity import SKETCH_SHINGLES, jaccard, shingles, sketch, sketch_jaccard
from skilldeck.tools.jobs.files import read_jsonl_tail


def test_lines_past_the_readers_limits_are_schema_problems_naming_their_line():
    deep = "[" * 10_000 + "]" * 10_000
    huge = '{"instruction": "x", "output": ' + "1" * 100_000 + "}"
    lone = '{"instruction": "say \\ud800", "output": "ok"}'
    pair = '{"instruction": "smile \\ud83d\\ude00", "output": "ok"}'
    for text, why in ((deep, "nested too deeply"), (huge, "not readable"), (lone, "lone surrogate")):
        problem = parse_record(text, 7, "train.jsonl")
        assert isinstance(problem, SchemaProblem) and problem.line == 7 and why in problem.message, problem
    assert not isinstance(parse_record(pair, 8, "train.jsonl"), SchemaProblem)  # a real pair is a character


def test_a_sketch_is_exact_for_short_texts_and_bounded_for_long_ones():
    a, b = "the river rose ten centimetres overnight", "the river rose nine centimetres overnight"
    assert sketch_jaccard(sketch(a), sketch(b)) == jaccard(shingles(a), shingles(b))
    rng = random.Random(0)
    long_a = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz ") for _ in range(1_000_000))
    long_b = long_a[:500_000] + "x" + long_a[500_001:]
    sa, sb = sketch(long_a), sketch(long_b)
    assert len(sa.hashes) <= SKETCH_SHINGLES and sketch_jaccard(sa, sb) > 0.99
    assert sketch_jaccard(sa, sketch(long_a[::-1])) < 0.9
    whole, half = long_a[:12_000], long_a[:6_000]  # sampled at two rates, compared at the coarser
    assert sketch(whole).rate > sketch(half).rate
    assert abs(sketch_jaccard(sketch(whole), sketch(half)) - jaccard(shingles(whole), shingles(half))) < 0.05


def test_a_status_reads_only_the_end_of_a_huge_event_log(tmp_path):
    log = tmp_path / "events.jsonl"
    with open(log, "w") as fh:
        for step in range(200_000):
            fh.write(json.dumps({"event": "progress", "step": step, "pad": "x" * 40}) + "\n")
    recent = read_jsonl_tail(log, max_bytes=64 * 1024)
    assert recent[-1]["step"] == 199_999 and 500 < len(recent) < 1200
    assert [e["step"] for e in recent] == list(range(recent[0]["step"], 200_000))  # whole lines, in order


def test_cpu_threads_past_the_machine_s_cores_is_refused_naming_the_field():
    """300 threads on two cores gave the worker 603 threads; a model can ask for a million."""
    import os

    import pytest
    from pydantic import ValidationError

    from skilldeck.tools.finetune.config import EvalConfig, TrainConfig

    cores = os.cpu_count() or 1
    assert TrainConfig(base_model="m", train_path="t.jsonl", cpu_threads=cores).cpu_threads == cores
    for config, fields in ((TrainConfig, {"base_model": "m", "train_path": "t.jsonl"}), (EvalConfig, {"test_path": "t"})):
        with pytest.raises(ValidationError, match="cpu_threads"):
            config(**fields, cpu_threads=cores + 1)
