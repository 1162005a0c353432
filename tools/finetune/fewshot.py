"""Few-shot examples, the alternative the advisor recommends most: pick, check, order, render.

Usage::

    shots = build_few_shot("data/train.jsonl", task="classify", count=4, token_budget=800)
    shots.prompt          # a ready block: the shared instruction, then Input/Output pairs
    shots.tokens, shots.warnings

How the examples are chosen. The dataset goes through the validator's analysis first: records
in a conflicting group (one prompt, different answers) and vague instructions are never used,
and an exact duplicate counts once. Candidates must share the task's main *shape* (answer
format, JSON keys, whether there is an input, the roles of the messages), so every shot looks
the same. Then the main case (the most typical answer, of median length), one example per
other answer label (classification), an edge case (an empty JSON value, the shortest or the
longest input), and the rest by farthest-point sampling on character shingles, so the shots
cover different ground. They are shown simple to complex (fewest tokens first).

Warnings: two shots nearly identical (a small model parrots them), every shot giving the same
answer, fewer candidates than asked for, and a block over the token budget.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from skilldeck.tools.finetune.checks import is_vague, make_counter, output_format
from skilldeck.tools.finetune.errors import DatasetError
from skilldeck.tools.finetune.findings import Finding
from skilldeck.tools.finetune.records import Record
from skilldeck.tools.deadline import check
from skilldeck.tools.finetune.similarity import normalize, sketch, sketch_jaccard
from skilldeck.tools.finetune.validator import analyse

__all__ = ["FewShot", "Shot", "build_few_shot", "render", "MIN_SHOTS", "MAX_SHOTS", "PARROT_THRESHOLD"]

MIN_SHOTS, MAX_SHOTS = 3, 5
# Jaccard on character 5-grams of input + answer: at 0.6 two shots differ by a word or two, and a
# small model learns to copy their wording instead of the task.
PARROT_THRESHOLD = 0.6


@dataclass
class Shot:
    """One chosen example: where it came from, why it was chosen, and its size."""

    where: str
    role: str            # "main", "label", "edge" or "diverse"
    reason: str
    tokens: int
    input: str
    output: str
    instruction: str


@dataclass
class FewShot:
    """The chosen examples, the rendered block and what to watch out for."""

    task: str
    shots: list[Shot]
    prompt: str
    tokens: int
    token_budget: int
    counter: str
    candidates: int
    excluded: dict[str, int]
    warnings: list[Finding] = field(default_factory=list)
    messages: list[dict[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["warnings"] = [w.to_dict() for w in self.warnings]
        return out

    def render_text(self) -> str:
        head = (f"{len(self.shots)} examples for task {self.task!r} ({self.tokens} tokens, budget "
                f"{self.token_budget}, {self.counter}); {self.candidates} candidates.")
        lines = [head] + [f"  {i}. {s.where} [{s.role}] {s.reason}" for i, s in enumerate(self.shots, 1)]
        lines += [f"- [{w.severity}] {w.kind}: {w.message}" for w in self.warnings]
        return "\n".join(lines + ["", self.prompt])


def _shape(r: Record) -> tuple:
    """What must be identical across shots: answer format, JSON keys, input or not, message roles."""
    fmt = output_format(r.completion)
    keys: tuple = ()
    if fmt == "json":
        value = json.loads(r.completion)
        keys = tuple(sorted(value)) if isinstance(value, dict) else (type(value).__name__,)
    return fmt, keys, bool(r.input.strip()), tuple(m["role"] for m in r.prompt)


def _empty_json_value(text: str) -> str | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if isinstance(value, dict):
        return next((k for k, v in value.items() if v in (None, "", [], {})), None)
    return None


def _labels(records: list[Record], pool: list[int]) -> dict[int, str] | None:
    """The answer's case per example when the task looks like classification: the whole answer
    (few short distinct answers) or, for JSON answers, the first field with few short string values."""
    def categorical(values: list[str]) -> bool:
        distinct = set(values)
        return 2 <= len(distinct) <= max(2, len(values) // 2) and all(len(v) <= 40 for v in distinct)

    whole = [normalize(records[i].completion) for i in pool]
    if categorical(whole):
        return dict(zip(pool, whole))
    rows = [json.loads(records[i].completion) if output_format(records[i].completion) == "json" else None
            for i in pool]
    if not rows or not all(isinstance(r, dict) for r in rows):
        return None
    for key in rows[0]:
        values = [r.get(key) for r in rows]
        if all(isinstance(v, str) for v in values) and categorical([v.lower() for v in values]):
            return {i: f"{key}={v.lower()}" for i, v in zip(pool, values)}
    return None


def _candidates(records: list[Record], analysis: Any, task: str | None) -> tuple[str, list[int], dict[str, int]]:
    tasks = Counter(r.task for r in records)
    if task is None:
        if len(tasks) > 1:
            raise DatasetError(f"The dataset holds {len(tasks)} tasks ({', '.join(sorted(tasks))}); name the one "
                               "the examples are for with task.")
        task = next(iter(tasks))
    if task not in tasks:
        raise DatasetError(f"No record has task {task!r}. Tasks in the dataset: {', '.join(sorted(tasks))}.")
    excluded: Counter[str] = Counter()
    conflicted = {i for g in analysis.conflicts for i in g}
    repeats = {i for g in analysis.exact_groups for i in g[1:]}
    pool = []
    for i, r in enumerate(records):
        if r.task != task:
            continue
        if i in conflicted:
            excluded["conflicting_outputs"] += 1
        elif i in repeats:
            excluded["exact_duplicate"] += 1
        elif is_vague(r):
            excluded["vague_instruction"] += 1
        else:
            pool.append(i)
    if not pool:
        raise DatasetError(f"No usable example for task {task!r}: {dict(excluded) or 'none found'}. Fix the data "
                           "(validate_dataset shows where).")
    shapes = Counter(_shape(records[i]) for i in pool)
    main_shape = shapes.most_common(1)[0][0]
    kept = [i for i in pool if _shape(records[i]) == main_shape]
    if len(kept) < len(pool):
        excluded["other_format"] = len(pool) - len(kept)
    return task, kept, dict(excluded)


class _Picker:
    """Chooses up to `count` indices from `pool`, each with a role and a reason."""

    def __init__(self, records: list[Record], pool: list[int], count: int, tokens: Callable[[int], int]) -> None:
        self.records, self.pool, self.count, self.tokens = records, pool, count, tokens
        self.chosen: list[tuple[int, str, str]] = []
        self._sh = {}
        for n, i in enumerate(pool):
            if n % 256 == 0:
                check("Choosing few-shot examples", "Use a smaller dataset, or name the task to draw from.")
            self._sh[i] = sketch(normalize(records[i].content_text))
        self._distance: dict[int, float] = {}  # each record's distance to the nearest example chosen so far
        self._measured = 0  # how many of the chosen examples `_distance` has taken into account

    def _free(self) -> list[int]:
        taken = {i for i, _, _ in self.chosen}
        return [i for i in self.pool if i not in taken]

    def add(self, index: int | None, role: str, reason: str) -> None:
        if index is not None and len(self.chosen) < self.count and index in self._free():
            self.chosen.append((index, role, reason))

    def _typical(self, ids: list[int]) -> int:
        by_len = sorted(ids, key=lambda i: (self.tokens(i), i))
        return by_len[len(by_len) // 2]

    def pick(self) -> list[tuple[int, str, str]]:
        recs = self.records
        case = _labels(recs, self.pool)
        if case:
            labels = Counter(case.values())
            order = [label for label, _ in labels.most_common()]
            top = [i for i in self.pool if case[i] == order[0]]
            self.add(self._typical(top), "main", f"the most common answer {order[0]!r}, typical length")
            rare = [label for label in order[1:] if labels[label] <= max(1, labels[order[0]] // 4)]
            # Rare answers are the edge cases: they come before the other common answers.
            for label in rare[::-1] + [label for label in order[1:] if label not in rare]:
                ids = [i for i in self._free() if case[i] == label]
                self.add(self._typical(ids) if ids else None, "edge" if label in rare else "label",
                         f"{'rare' if label in rare else 'another'} answer {label!r} ({labels[label]} of "
                         f"{len(self.pool)})")
        else:
            self.add(self._typical(self.pool), "main", "the most typical example (median length)")
        self._edge_cases()
        while len(self.chosen) < self.count and self._free():
            self.add(self._farthest(), "diverse", "least like the examples already chosen")
        return self.chosen

    def _edge_cases(self) -> None:
        free = self._free()
        empty = next((i for i in free if _empty_json_value(self.records[i].completion)), None)
        if empty is not None:
            key = _empty_json_value(self.records[empty].completion)
            self.add(empty, "edge", f"the answer leaves {key!r} empty (missing information)")
        free = self._free()
        if free and len(self.chosen) < self.count:
            longest = max(free, key=lambda i: (self.tokens(i), -i))
            self.add(longest, "edge", f"the longest of the rest ({self.tokens(longest)} tokens)")
        free = self._free()
        if free and len(self.chosen) < self.count - 1:
            shortest = min(free, key=lambda i: (self.tokens(i), i))
            self.add(shortest, "edge", f"the shortest of the rest ({self.tokens(shortest)} tokens)")

    def _farthest(self) -> int:
        # Updated with each newly chosen example only: one comparison per record and example.
        free = self._free()
        for t in [i for i, _, _ in self.chosen][self._measured:]:
            for n, i in enumerate(free):
                if n % 256 == 0:
                    check("Choosing few-shot examples", "Use a smaller dataset, or name the task to draw from.")
                self._distance[i] = min(self._distance.get(i, 1.0), 1 - sketch_jaccard(self._sh[i], self._sh[t]))
        self._measured = len(self.chosen)
        return max(free, key=lambda i: (self._distance.get(i, 1.0), -i))


def render(shots: Sequence[Shot]) -> tuple[str, list[dict[str, str]]]:
    """The prompt block (a shared instruction is written once) and the same shots as chat messages."""
    shared = len({s.instruction for s in shots}) == 1
    parts = [shots[0].instruction] if shared and shots else []
    messages: list[dict[str, str]] = []
    for s in shots:
        lines = [] if shared else [f"Instruction: {s.instruction}"]
        if s.input:
            lines.append(f"Input: {s.input}")
        lines.append(f"Output: {s.output}")
        parts.append("\n".join(lines))
        user = s.input if shared and s.input else (f"{s.instruction}\n\n{s.input}" if s.input else s.instruction)
        messages += [{"role": "user", "content": user}, {"role": "assistant", "content": s.output}]
    if shared and shots:
        messages.insert(0, {"role": "system", "content": shots[0].instruction})
    return "\n\n".join(parts) + "\n", messages


def _warnings(shots: list[Shot], chosen: list[int], picker: _Picker, asked: int, tokens: int,
              budget: int) -> list[Finding]:
    out = []
    near = []
    for a in range(len(chosen)):
        for b in range(a + 1, len(chosen)):
            sim = sketch_jaccard(picker._sh[chosen[a]], picker._sh[chosen[b]])
            if sim >= PARROT_THRESHOLD:
                near.append(f"{shots[a].where} ~ {shots[b].where} ({sim:.2f})")
    if near:
        out.append(Finding("parroting", "warning", f"{len(near)} pair(s) of examples are near-identical (Jaccard ≥ "
                           f"{PARROT_THRESHOLD} on character 5-grams); a small model copies their wording instead "
                           "of learning the task. Add more varied examples to the dataset.", len(near), near))
    if len(shots) > 1 and len({normalize(s.output) for s in shots}) == 1:
        out.append(Finding("same_answer", "warning", "every example gives the same answer; the model will give it "
                           "too. Include examples of the other answers.", len(shots), [s.where for s in shots]))
    if len(shots) < asked:
        out.append(Finding("too_few", "warning", f"only {len(shots)} usable example(s) of the {asked} asked for; "
                           "few-shot prompting works best with 3-5 varied examples.", len(shots)))
    if tokens > budget:
        big = max(shots, key=lambda s: s.tokens)
        out.append(Finding("over_budget", "warning", f"the block is {tokens} tokens, over the budget of {budget}; "
                           f"drop or shorten the largest example ({big.where}, {big.tokens} tokens), or ask for "
                           "fewer examples.", tokens, [big.where]))
    return out


def build_few_shot(path: str | Path, task: str | None = None, count: int = 4, token_budget: int = 1000,
                   tokenizer: str | None = None, within: Sequence[Path] | None = None,
                   tokenizer_within: Sequence[Path] | None = None) -> FewShot:
    """Choose `count` (3-5) examples of `task` from a JSONL dataset and render them as a prompt block.

    `within` / `tokenizer_within`: folders the dataset / the tokenizer must really lie in (None: anywhere).
    """
    if not MIN_SHOTS <= count <= MAX_SHOTS:
        raise DatasetError(f"count must be between {MIN_SHOTS} and {MAX_SHOTS}, not {count}: fewer examples do not "
                           "show the edge cases, more cost tokens on every call without helping much.")
    analysis = analyse({"train": path}, within=within)
    records = analysis.records
    if not records:
        raise DatasetError(f"{str(path)!r} holds no usable record; validate_dataset shows why.")
    task, pool, excluded = _candidates(records, analysis, task)
    counter, counter_name = make_counter(tokenizer, tokenizer_within)
    sizes: dict[int, int] = {}

    def tokens(i: int) -> int:
        if i not in sizes:
            sizes[i] = counter(records[i].prompt_text + "\n" + records[i].completion)
        return sizes[i]

    picker = _Picker(records, pool, count, tokens)
    chosen = sorted(picker.pick(), key=lambda c: (tokens(c[0]), c[0]))  # simple to complex
    shots = [Shot(records[i].where(), role, reason, tokens(i), records[i].input, records[i].completion,
                  records[i].instruction) for i, role, reason in chosen]
    prompt, messages = render(shots)
    total = counter(prompt)
    warnings = _warnings(shots, [c[0] for c in chosen], picker, count, total, token_budget)
    return FewShot(task, shots, prompt, total, token_budget, counter_name, len(pool), excluded, warnings, messages)
