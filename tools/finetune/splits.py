"""Clean, de-duplicated, group-aware train/validation/test splits.

Exact duplicates keep their first copy, near-duplicate clusters keep one member, prompts with
conflicting outputs are dropped (no one knows which answer is right), and whatever belongs
together (a ``group`` field, the same prompt, a near-duplicate cluster) lands in one split,
so nothing leaks between them.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from skilldeck.tools.finetune.errors import DatasetError
from skilldeck.tools.fs import check_within
from skilldeck.tools.finetune.validator import NEAR_THRESHOLD, SPLIT_NAMES, analyse

__all__ = ["SplitResult", "write_splits"]


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


@dataclass
class SplitResult:
    """Where the splits went and what was dropped on the way."""

    paths: dict[str, str]
    counts: dict[str, int]
    dropped: dict[str, int]
    groups: int

    def to_dict(self) -> dict:
        return {"paths": self.paths, "counts": self.counts, "dropped": self.dropped, "groups": self.groups}


def _bucket(key: str, seed: int, ratios: tuple[float, float, float]) -> str:
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    x = int.from_bytes(digest[:8], "big") / 2 ** 64
    if x < ratios[0]:
        return "train"
    return "val" if x < ratios[0] + ratios[1] else "test"


def write_splits(files: Mapping[str, str | Path], out_dir: str | Path,
                 ratios: tuple[float, float, float] = (0.8, 0.1, 0.1),
                 seed: int = 0, near_threshold: float = NEAR_THRESHOLD, *,
                 within: Sequence[Path] | None = None, out_within: Sequence[Path] | None = None) -> SplitResult:
    """Pool the given files, clean them, and write train/val/test JSONL files to `out_dir`.

    `within`: folders the input files must really lie in; `out_within`: folders `out_dir` must
    really lie in (None: anywhere). Each split is written to a new file renamed into place, so a
    symlink or hard link planted under the split's name is replaced, never written through.
    """
    if len(ratios) != 3 or any(r < 0 for r in ratios) or abs(sum(ratios) - 1) > 1e-6:
        raise DatasetError(f"ratios {ratios!r} must be three non-negative numbers summing to 1, e.g. (0.8, 0.1, 0.1).")
    a = analyse(files, near_threshold, within)
    n = len(a.records)
    drop: dict[int, str] = {}
    for g in a.exact_groups:
        drop.update((i, "exact_duplicate") for i in g[1:])
    uf = _UnionFind(n)
    for p in a.near_pairs:
        uf.union(p.a, p.b)
    for g in a.conflicts:
        drop.update((i, "conflicting_outputs") for i in g if i not in drop)
    # Keep one member (the first) of each near-duplicate cluster.
    near_members = {i for p in a.near_pairs for i in (p.a, p.b)}
    kept_roots: set[int] = set()
    for i in sorted(near_members):
        if i in drop:
            continue
        root = uf.find(i)
        if root in kept_roots:
            drop[i] = "near_duplicate"
        kept_roots.add(root)
    # Group key: explicit group, else the normalised prompt; near-duplicate clusters join too.
    by_key: dict[str, int] = {}
    for i, r in enumerate(a.records):
        key = f"g:{r.group}" if r.group is not None else f"p:{a.prompts[i]}"
        if key in by_key:
            uf.union(i, by_key[key])
        else:
            by_key[key] = i
    out = Path(out_dir)
    if out_within is not None:
        check_within(out, out_within, "write_splits_to")
    if out.exists() and not out.is_dir():
        raise DatasetError(f"write_splits_to {str(out)[:200]!r} is a file; give a folder (it is created if "
                           "missing) to write train.jsonl, val.jsonl and test.jsonl into")
    out.mkdir(parents=True, exist_ok=True)
    if out_within is not None:  # again, now that it exists: nothing swapped in while it was made
        out = check_within(out, out_within, "write_splits_to")
    paths = {s: str(out / f"{s}.jsonl") for s in SPLIT_NAMES}
    tmp = {s: tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=out, prefix=f".{s}.", suffix=".tmp",
                                          delete=False) for s in SPLIT_NAMES}
    counts: Counter[str] = Counter()
    try:
        for i, r in enumerate(a.records):
            if i in drop:
                continue
            split = _bucket(a.texts[uf.find(i)], seed, ratios)
            tmp[split].write(json.dumps(r.raw, ensure_ascii=False) + "\n")
            counts[split] += 1
        for s, fh in tmp.items():
            fh.close()
            os.replace(fh.name, paths[s])
    finally:
        for fh in tmp.values():
            fh.close()
            Path(fh.name).unlink(missing_ok=True)
    dropped = dict(Counter(drop.values()))
    if a.problems:
        dropped["schema"] = len(a.problems)
    return SplitResult(paths, {s: counts[s] for s in SPLIT_NAMES}, dropped, len({uf.find(i) for i in range(n)}))

