"""The dataset validator: finds the data problems that quietly ruin fine-tuning runs.

Usage::

    report = validate({"train": "train.jsonl", "val": "val.jsonl"}, max_seq_len=2048)
    print(report.render()); report.ok

Findings (with ``file:line`` locations): schema errors, exact and near duplicates (MinHash
verified by exact Jaccard), one prompt with conflicting outputs, overlap between splits
(leakage), task and label imbalance, vague instructions, output formats that drift within a
task, and examples longer than the training sequence length.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from skilldeck.tools.deadline import check, holding
from skilldeck.tools.finetune.checks import is_vague, label_counts, make_counter, output_format, token_stats
from skilldeck.tools.finetune.errors import DatasetError
from skilldeck.tools.finetune.findings import MAX_LOCATIONS, Finding, ValidationReport
from skilldeck.tools.finetune.records import Record, SchemaProblem, read_records
from skilldeck.tools.finetune.similarity import NearDuplicateFinder, SimilarPair, normalize

__all__ = ["validate", "analyse", "Analysis", "SPLIT_NAMES", "NEAR_THRESHOLD"]

SPLIT_NAMES = ("train", "val", "test")
# Jaccard on character 5-grams of input + answer. Those texts are short, so one changed word
# moves the score more than on whole documents; 0.7 still means "the same example, lightly edited".
NEAR_THRESHOLD = 0.7
IMBALANCE_RATIO = 10.0


@dataclass
class Analysis:
    """Records of every split plus the duplicate structure the split writer reuses."""

    records: list[Record]
    splits: list[str]                       # split name per record
    problems: list[SchemaProblem]
    exact_groups: list[list[int]]           # groups of identical records (size ≥ 2)
    near_pairs: list[SimilarPair]          # similar inputs and answers (instructions left out)
    conflicts: list[list[int]]              # same prompt, different outputs
    texts: list[str] = field(repr=False, default_factory=list)
    prompts: list[str] = field(repr=False, default_factory=list)


def _load(files: Mapping[str, str | Path],
          within: Sequence[Path] | None = None) -> tuple[list[Record], list[str], list[SchemaProblem]]:
    if not files:
        raise DatasetError("No dataset given; pass at least a train file (JSONL).")
    records, splits, problems = [], [], []
    for split, path in files.items():
        if split not in SPLIT_NAMES:
            raise DatasetError(f"Unknown split {split!r}; use one of {', '.join(SPLIT_NAMES)}.")
        recs, probs = read_records(path, within)
        records += recs
        splits += [split] * len(recs)
        problems += probs
    return records, splits, problems


# One dataset is analysed at a time in a process: its records and duplicate structure take several
# times the file's size in memory (files up to 1 GiB are read), and three concurrent calls on one
# 20 MB file took 1.4 GB before the near-duplicate search was made leaner.
_ONE_AT_A_TIME = threading.Lock()


def analyse(files: Mapping[str, str | Path], near_threshold: float = NEAR_THRESHOLD,
            within: Sequence[Path] | None = None) -> Analysis:
    """Read the splits and find exact duplicates, near duplicates and conflicting outputs.
    `within`: folders the files must really lie in (None: anywhere). One analysis runs at a time."""
    with holding(_ONE_AT_A_TIME, "Waiting for another dataset validation to finish"):
        return _analyse(files, near_threshold, within)


def _analyse(files: Mapping[str, str | Path], near_threshold: float, within: Sequence[Path] | None) -> Analysis:
    records, splits, problems = _load(files, within)
    texts = [normalize(r.text) for r in records]
    prompts = [normalize(r.prompt_text) for r in records]
    by_text: dict[str, list[int]] = defaultdict(list)
    for i, t in enumerate(texts):
        by_text[t].append(i)
    exact = [g for g in by_text.values() if len(g) > 1]
    # Near duplicates are searched among one representative per exact group.
    extras = {i for g in exact for i in g[1:]}
    contents = [normalize(r.content_text) for r in records]
    near = NearDuplicateFinder(threshold=near_threshold).find(contents, skip=extras)
    by_prompt: dict[str, list[int]] = defaultdict(list)
    for i, p in enumerate(prompts):
        by_prompt[p].append(i)
    conflicts = [g for g in by_prompt.values()
                 if len(g) > 1 and len({normalize(records[i].completion) for i in g}) > 1]
    return Analysis(records, splits, problems, exact, near, conflicts, texts, prompts)


def _where(records: list[Record], idx) -> list[str]:
    return [records[i].where() for i in idx][:MAX_LOCATIONS]


def _duplicate_findings(a: Analysis) -> list[Finding]:
    r, s = a.records, a.splits
    same_exact = [g for g in a.exact_groups if len({s[i] for i in g}) == 1]
    cross_exact = [g for g in a.exact_groups if len({s[i] for i in g}) > 1]
    same_near = [p for p in a.near_pairs if s[p.a] == s[p.b]]
    cross_near = [p for p in a.near_pairs if s[p.a] != s[p.b]]
    leaked_text = {i for g in cross_exact for i in g} | {i for p in cross_near for i in (p.a, p.b)}
    # The same prompt in two splits leaks too, even with a different answer.
    prompt_splits: dict[str, set[str]] = defaultdict(set)
    for i, p in enumerate(a.prompts):
        prompt_splits[p].add(s[i])
    cross_prompt: dict[str, list[int]] = defaultdict(list)
    for i, p in enumerate(a.prompts):
        if len(prompt_splits[p]) > 1:
            cross_prompt[p].append(i)
    cross_prompt = {p: g for p, g in cross_prompt.items() if not set(g) <= leaked_text}
    out = []
    if same_exact:
        extra = sum(len(g) - 1 for g in same_exact)
        out.append(Finding("exact_duplicate", "warning", f"{extra} record(s) repeat an earlier one word for word; "
                           "they over-weight those examples. Keep one of each (write_splits does).", extra,
                           [" = ".join(_where(r, g[:4])) for g in same_exact[:MAX_LOCATIONS]]))
    if same_near:
        out.append(Finding("near_duplicate", "warning", f"{len(same_near)} pair(s) are near-identical "
                           f"(Jaccard ≥ {min(p.similarity for p in same_near):.2f} on character 5-grams of input "
                           "and answer); "
                           "keep one of each unless the small differences are the point.", len(same_near),
                           [f"{r[p.a].where()} ~ {r[p.b].where()} ({p.similarity:.2f})"
                            for p in same_near[:MAX_LOCATIONS]]))
    leaks = [" = ".join(_where(r, g[:4])) for g in cross_exact] + \
            [f"{r[p.a].where()} ~ {r[p.b].where()} ({p.similarity:.2f})" for p in cross_near] + \
            [" = ".join(_where(r, g[:4])) + " (same prompt, different answer)" for g in cross_prompt.values()]
    if leaks:
        out.append(Finding("leakage", "error", f"{len(leaks)} overlap(s) between splits (exact copies, near copies "
                           "or the same prompt): validation scores would be inflated. Write group-aware splits.",
                           len(leaks), leaks[:MAX_LOCATIONS]))
    return out


def _conflict_findings(a: Analysis) -> list[Finding]:
    if not a.conflicts:
        return []
    examples = [{"prompt": a.records[g[0]].prompt_text[:160],
                 "outputs": sorted({a.records[i].completion[:80] for i in g})[:4]} for g in a.conflicts[:3]]
    return [Finding("conflicting_outputs", "error", f"{len(a.conflicts)} prompt(s) have different outputs; the "
                    "model learns to guess between them. Decide the right answer or add the missing context.",
                    len(a.conflicts), [" vs ".join(_where(a.records, g[:4])) for g in a.conflicts[:MAX_LOCATIONS]],
                    examples)]


def _balance_findings(records: list[Record]) -> list[Finding]:
    out = []
    tasks = Counter(r.task for r in records)
    if len(tasks) > 1:
        (top, hi), (low, lo) = tasks.most_common(1)[0], tasks.most_common()[-1]
        if hi / lo >= IMBALANCE_RATIO:
            out.append(Finding("task_imbalance", "warning", f"task {top!r} has {hi} examples but {low!r} only {lo} "
                               f"({hi / lo:.0f}:1); the small task will be under-learned. Add examples or "
                               "down-sample the large one.", len(tasks), [], [dict(tasks)]))
    by_task: dict[str, list[Record]] = defaultdict(list)
    for r in records:
        by_task[r.task].append(r)
    for task, recs in by_task.items():
        labels = label_counts(recs)
        if labels:
            (top, hi), (low, lo) = labels.most_common(1)[0], labels.most_common()[-1]
            if hi / lo >= IMBALANCE_RATIO:
                out.append(Finding("label_imbalance", "warning", f"in task {task!r} label {top!r} has {hi} examples "
                                   f"and {low!r} {lo} ({hi / lo:.0f}:1); the model will learn to answer {top!r}. "
                                   "Balance the labels or weight them.", len(labels), [], [dict(labels)]))
    return out


def _instruction_findings(records: list[Record]) -> list[Finding]:
    vague = [i for i, r in enumerate(records) if is_vague(r)]
    if not vague:
        return []
    return [Finding("vague_instruction", "warning", f"{len(vague)} instruction(s) do not say what to do "
                    "(e.g. 'handle this'); state the task, the output format and its constraints.", len(vague),
                    _where(records, vague), [{"instruction": records[i].instruction[:120]} for i in vague[:3]])]


def _format_findings(records: list[Record]) -> list[Finding]:
    by_task: dict[str, list[int]] = defaultdict(list)
    for i, r in enumerate(records):
        by_task[r.task].append(i)
    out = []
    for task, idx in by_task.items():
        formats = [output_format(records[i].completion) for i in idx]
        counts = Counter("json" if f == "json-invalid" else f for f in formats)
        if len(idx) < 5:
            continue
        main, n = counts.most_common(1)[0]
        odd = [i for i, f in zip(idx, formats) if f != main]
        if odd and n >= 0.5 * len(idx):
            mix = ", ".join(f"{k} {v}" for k, v in Counter(formats).most_common())
            out.append(Finding("format_drift", "warning", f"task {task!r} answers mostly as {main} but {len(odd)} "
                               f"output(s) differ ({mix}); the model will drift the same way. Make one format "
                               "the rule.", len(odd), _where(records, odd)))
    return out


def _length_findings(records: list[Record], lengths: list[int], max_seq_len: int) -> list[Finding]:
    over = [i for i, n in enumerate(lengths) if n > max_seq_len]
    if not over:
        return []
    return [Finding("too_long", "warning", f"{len(over)} example(s) exceed {max_seq_len} tokens and would be "
                    "truncated or dropped; raise max_seq_len or shorten them.", len(over), _where(records, over),
                    [{"line": records[i].where(), "tokens": lengths[i]} for i in over[:3]])]


def _schema_findings(problems: list[SchemaProblem]) -> list[Finding]:
    if not problems:
        return []
    return [Finding("schema", "error", f"{len(problems)} line(s) are not usable records; first: {problems[0].message}.",
                    len(problems), [f"{p.where()}: {p.message}" for p in problems[:MAX_LOCATIONS]])]


def validate(files: Mapping[str, str | Path], max_seq_len: int = 2048, near_threshold: float = NEAR_THRESHOLD,
             tokenizer: str | None = None, within: Sequence[Path] | None = None,
             tokenizer_within: Sequence[Path] | None = None) -> ValidationReport:
    """Check instruction data in one or more splits (keys: train, val, test) and report every problem found.

    `within` / `tokenizer_within`: folders the data files / the tokenizer must really lie in (None: anywhere).
    """
    start = time.perf_counter()
    a = analyse(files, near_threshold, within)
    counter, counter_name = make_counter(tokenizer, tokenizer_within)
    lengths = []
    for n, r in enumerate(a.records):
        if n % 256 == 0:
            check("Counting the tokens of each record", "Validate a smaller dataset, or a sample of it.")
        lengths.append(counter(r.prompt_text + r.completion))
    findings = (_schema_findings(a.problems) + _duplicate_findings(a) + _conflict_findings(a)
                + _balance_findings(a.records) + _instruction_findings(a.records) + _format_findings(a.records)
                + _length_findings(a.records, lengths, max_seq_len))
    if not a.records:
        findings.insert(0, Finding("empty", "error", "no usable record in the given files.", 0))
    return ValidationReport(files={k: str(v) for k, v in files.items()}, records=dict(Counter(a.splits)),
                            tasks=dict(Counter(r.task for r in a.records)), findings=findings,
                            token_stats=token_stats(lengths, max_seq_len, counter_name),
                            seconds=time.perf_counter() - start)
