"""Validator benchmark: 100,000 instruction records with planted near-duplicates and leaks.

    python bench/validate_bench.py [OUT_DIR] [--records 100000] [--near 2000] [--leaks 500]

Writes train.jsonl and val.jsonl into OUT_DIR (a temporary folder by default), runs the
validator on one core, and prints the wall time and the share of planted near-duplicate
pairs it found (target: ≤ 60 s and ≥ 95%).
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

TASKS = ["summarise", "classify", "extract", "translate", "rewrite"]
WORDS = [f"{a}{b}{c}" for a in "bcdfgklmnprstvz" for b in "aeiou" for c in ("", "n", "r", "s", "t", "l")]


def sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def record(rng: random.Random, i: int) -> dict:
    task = TASKS[i % len(TASKS)]
    out = json.dumps({"label": rng.choice(["a", "b", "c"])}) if task == "classify" else sentence(rng, rng.randint(8, 30))
    return {"task": task, "instruction": f"{task.capitalize()} the text below in one line, plain English.",
            "input": " ".join(sentence(rng, rng.randint(6, 14)) for _ in range(rng.randint(2, 5))), "output": out}


def perturb(rng: random.Random, rec: dict, edits: int) -> dict:
    words = rec["input"].split(" ")
    for _ in range(edits):
        words[rng.randrange(len(words))] = rng.choice(WORDS)
    return {**rec, "input": " ".join(words)}


def build(out: Path, n: int, near: int, leaks: int, seed: int = 1) -> dict[tuple[str, int], tuple[dict, dict]]:
    """Write the dataset; return the planted copies keyed by (file, line), with (original, copy)."""
    rng = random.Random(seed)
    n_val = max(leaks * 4, n // 20)
    train = [record(rng, i) for i in range(n - n_val)]
    val = [record(rng, i) for i in range(n_val)]
    planted: dict[tuple[str, int], tuple[dict, dict]] = {}
    for k in range(near):  # near-duplicates inside train: overwrite a record with an edited copy of another
        src, dst = rng.randrange(len(train) // 2), len(train) // 2 + k
        train[dst] = perturb(rng, train[src], rng.randint(1, 3))
        planted[("train.jsonl", dst + 1)] = (train[src], train[dst])
    for k in range(leaks):  # leaks: val records that are (near) copies of train records
        src = rng.randrange(len(train) // 2)
        val[k] = perturb(rng, train[src], rng.randint(0, 2))
        planted[("val.jsonl", k + 1)] = (train[src], val[k])
    for name, rows in (("train.jsonl", train), ("val.jsonl", val)):
        with open(out / name, "w", encoding="utf-8") as fh:
            fh.writelines(json.dumps(r) + "\n" for r in rows)
    return planted


def _similarity(a: dict, b: dict) -> float:
    from skilldeck.tools.finetune.records import record_from_row
    from skilldeck.tools.finetune.similarity import jaccard, normalize, shingles

    ra, rb = record_from_row(a), record_from_row(b)
    # The validator compares input + answer (instructions are often one shared template).
    return jaccard(shingles(normalize(ra.content_text)), shingles(normalize(rb.content_text)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", nargs="?", type=Path)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--near", type=int, default=2000)
    parser.add_argument("--leaks", type=int, default=500)
    args = parser.parse_args()
    from skilldeck.tools.finetune.validator import NEAR_THRESHOLD, analyse, validate

    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp)
        out.mkdir(parents=True, exist_ok=True)
        planted = build(out, args.records, args.near, args.leaks)
        files = {"train": out / "train.jsonl", "val": out / "val.jsonl"}
        start = time.perf_counter()
        report = validate(files)
        elapsed = time.perf_counter() - start
        # Recall: a planted copy counts as found when it is in any reported exact group or near pair.
        a = analyse(files)
        hit: set[tuple[str, int]] = set()
        for g in a.exact_groups:
            hit |= {(Path(a.records[i].source).name, a.records[i].line) for i in g}
        for p in a.near_pairs:
            hit |= {(Path(a.records[i].source).name, a.records[i].line) for i in (p.a, p.b)}
        found = planted.keys() & hit
        # Planted copies whose edits left them at or above the threshold are the ones to find.
        true = {k for k, (a_, b_) in planted.items() if _similarity(a_, b_) >= NEAR_THRESHOLD}
        print(f"records: {sum(report.records.values())}  planted near-dups/leaks: {len(planted)} "
              f"({len(true)} at Jaccard >= {NEAR_THRESHOLD})")
        print(f"validate(): {elapsed:.1f} s  ({sum(report.records.values()) / elapsed:,.0f} records/s)")
        print(f"planted found: {len(found)}/{len(planted)} = {len(found) / len(planted):.1%}; "
              f"of those at Jaccard >= {NEAR_THRESHOLD}: {len(found & true)}/{len(true)} = "
              f"{len(found & true) / len(true):.1%}")
        for f in report.findings:
            print(f"  {f.severity:7} {f.kind:20} {f.count}")


if __name__ == "__main__":
    main()
