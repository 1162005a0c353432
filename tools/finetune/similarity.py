"""Near-duplicate detection: MinHash over character shingles, LSH banding, exact Jaccard check.

Signatures use one-permutation hashing with rotation densification (Shrivastava & Li, 2014):
each shingle is hashed once and lands in one of `num_hashes` bins, and the bin minimum plays
the part of one of `num_hashes` independent MinHash values. That is one hash per shingle
instead of `num_hashes`, which keeps 100,000 records well under a minute in plain Python.
Candidates that share a band are then confirmed with the Jaccard similarity of their shingle
sets: exact for texts up to SKETCH_SHINGLES shingles, and on a sample of the shingles chosen by
hash beyond that (`sketch`), so memory stays bounded whatever a record holds (a 1 MB record used
to cost a million cached strings). A pair
whose numbers differ is not reported: in templated numeric data (measurements, arithmetic) the
numbers are the example, and nearly every pair of rows shares most of its characters.
"""

from __future__ import annotations

import re
from array import array
from collections import OrderedDict, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from skilldeck.tools.deadline import check

__all__ = ["normalize", "shingles", "jaccard", "signature", "sketch", "sketch_jaccard", "Sketch",
           "NearDuplicateFinder", "SimilarPair"]

_SPACES = re.compile(r"\s+")
_MASK = (1 << 61) - 1
_EMPTY = (1 << 63) - 1  # larger than any filled bin; values stay below 2**63 to fit array("Q")
# A longer text's shingles are sampled (by hash, so two texts keep the same ones) to between half
# this and this many: the Jaccard estimate's standard error stays under 0.01.
SKETCH_SHINGLES = 4096
_SKETCH_CACHE = 256  # sketches kept while confirming candidate pairs


def normalize(text: str) -> str:
    """Lower-case and collapse whitespace: formatting noise must not hide a duplicate."""
    return _SPACES.sub(" ", text).strip().lower()


def shingles(text: str, k: int = 5) -> set[str]:
    """Character k-grams of already normalised text (the text itself when shorter than k)."""
    if len(text) <= k:
        return {text}
    return {text[i:i + k] for i in range(len(text) - k + 1)}


_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


def numbers(text: str) -> list[str]:
    """The numbers of a text, in order. Two records that differ in a number are two examples, however
    alike their words: "sepal length 4.9 cm" and "5.1 cm", "Compute 12 * 7" and "12 * 8"."""
    return _NUMBER.findall(text)


def _shingle_hashes(text: str, k: int):
    """The hash of each character k-gram, one at a time (no set of a million strings for a long text)."""
    if len(text) <= k:
        yield hash(text) & _MASK
        return
    for i in range(len(text) - k + 1):
        yield hash(text[i:i + k]) & _MASK


@dataclass(frozen=True)
class Sketch:
    """The shingle hashes of a text that are multiples of `rate` (a power of two; 1: all of them)."""

    rate: int
    hashes: frozenset[int]


def sketch(text: str, k: int = 5) -> Sketch:
    """A bounded stand-in for `shingles(text)`: at most SKETCH_SHINGLES hashes, all of them for a short text."""
    rate, count = 1, max(1, len(text) - k + 1)
    while count // rate > SKETCH_SHINGLES:
        rate *= 2
    return Sketch(rate, frozenset(h for h in _shingle_hashes(text, k) if not h & (rate - 1)))


def sketch_jaccard(a: Sketch, b: Sketch) -> float:
    """Jaccard similarity of two texts from their sketches (exact when both are short)."""
    rate = max(a.rate, b.rate)
    x = a.hashes if a.rate == rate else frozenset(h for h in a.hashes if not h & (rate - 1))
    y = b.hashes if b.rate == rate else frozenset(h for h in b.hashes if not h & (rate - 1))
    return jaccard(x, y)


def jaccard(a: set, b: set) -> float:
    """Exact Jaccard similarity |a ∩ b| / |a ∪ b|."""
    if not a and not b:
        return 1.0
    inter = len(a & b)
    return inter / (len(a) + len(b) - inter)


def signature(shingle_set, num_hashes: int = 64, hashed: bool = False) -> list[int]:
    """One-permutation MinHash signature with densified empty bins (of shingles, or of their
    hashes with `hashed`)."""
    bits = num_hashes.bit_length() - 1
    if 1 << bits != num_hashes:
        raise ValueError(f"num_hashes must be a power of two, got {num_hashes}")
    mask = num_hashes - 1
    mins = [_EMPTY] * num_hashes
    for s in shingle_set:
        # str hashes are salted per process; fine, signatures are only compared within one run.
        h = s if hashed else hash(s) & _MASK
        b = h & mask
        v = h >> bits
        if v < mins[b]:
            mins[b] = v
    return _densify(mins)


def _densify(mins: list[int]) -> list[int]:
    n = len(mins)
    if _EMPTY not in mins:
        return mins
    if all(m == _EMPTY for m in mins):
        return mins
    out = list(mins)
    for i in range(n):
        if mins[i] == _EMPTY:
            # Borrow from the next filled bin to the right, marked by the distance, so two
            # similar sets that both miss bin i still agree there with the right probability.
            step = 1
            while mins[(i + step) % n] == _EMPTY:
                step += 1
            out[i] = mins[(i + step) % n] | (step << 56)
    return out


@dataclass(frozen=True)
class SimilarPair:
    """Two records (indices into the finder's texts) and their exact Jaccard similarity."""

    a: int
    b: int
    similarity: float


class NearDuplicateFinder:
    """Find pairs of texts whose shingle sets have Jaccard ≥ `threshold`.

    Usage::

        pairs = NearDuplicateFinder(threshold=0.8).find(texts)   # texts already normalised
    """

    def __init__(self, threshold: float = 0.8, shingle_size: int = 5, num_hashes: int = 64, bands: int = 16,
                 max_bucket_pairs: int = 20) -> None:
        if num_hashes % bands:
            raise ValueError(f"bands ({bands}) must divide num_hashes ({num_hashes})")
        self.threshold = threshold
        self.k = shingle_size
        self.num_hashes = num_hashes
        self.bands = bands
        self.rows = num_hashes // bands
        self.max_bucket_pairs = max_bucket_pairs
        self.candidates_checked = 0
        self.exact_checks = 0

    def find(self, texts: Sequence[str], skip: set[int] | None = None) -> list[SimilarPair]:
        """Return confirmed near-duplicate pairs (a < b). Indices in `skip` are ignored."""
        m = self.num_hashes
        sigs = array("Q", bytes(8 * m * len(texts)))
        kept = []
        for idx, text in enumerate(texts):
            if skip and idx in skip:
                continue
            check("Looking for near-duplicate records", "Validate a smaller dataset, or a sample of it.")
            sigs[idx * m:(idx + 1) * m] = array("Q", signature(_shingle_hashes(text, self.k), m, hashed=True))
            kept.append(idx)
        return self._verify(texts, self._band_groups(sigs, kept), sigs)

    def _band_groups(self, sigs: array, kept: list[int]):
        """The groups of two or more records that share a band, one band at a time: a bucket of
        every record in every band, held at once, was most of the 25 times its size in memory
        that validating a dataset took."""
        rows, m = self.rows, self.num_hashes
        for band in range(self.bands):
            members: dict[int, list[int]] = defaultdict(list)
            for idx in kept:
                start = idx * m + band * rows
                members[hash(tuple(sigs[start:start + rows]))].append(idx)
            groups = [g for g in members.values() if len(g) > 1]
            del members
            yield from groups

    def _candidate_pairs(self, buckets) -> set[tuple[int, int]]:
        pairs: set[tuple[int, int]] = set()
        for members in buckets:
            if len(members) < 2:
                continue
            if len(members) <= self.max_bucket_pairs:
                pairs.update((a, b) for i, a in enumerate(members) for b in members[i + 1:])
            else:
                # A huge bucket (templated data): compare each member with the first and with its
                # neighbour rather than all pairs, which would be quadratic.
                first = members[0]
                pairs.update((first, m) for m in members[1:])
                pairs.update(zip(members[1:], members[2:]))
        return pairs

    def _estimate(self, sigs: array, a: int, b: int) -> float:
        m = self.num_hashes
        return sum(x == y for x, y in zip(sigs[a * m:(a + 1) * m], sigs[b * m:(b + 1) * m])) / m

    def _verify(self, texts: Sequence[str], buckets, sigs: array) -> list[SimilarPair]:
        cache: OrderedDict[int, Sketch] = OrderedDict()

        def sh(i: int) -> Sketch:
            # A bounded cache: pairs come sorted, so a record's sketch is wanted again soon or rarely;
            # one sketch per record checked, all kept, was tens of KB each on templated data.
            found = cache.get(i)
            if found is None:
                found = cache[i] = sketch(texts[i], self.k)
                if len(cache) > _SKETCH_CACHE:
                    cache.popitem(last=False)
            else:
                cache.move_to_end(i)
            return found

        found = []
        candidates = self._candidate_pairs(buckets)
        self.candidates_checked = len(candidates)
        self.exact_checks = 0
        # The signature estimate has a standard error near 0.06 at 64 hashes; a generous margin
        # below the threshold spares exact checks of pairs that cannot qualify.
        floor = self.threshold - 0.25
        for n, (a, b) in enumerate(sorted(candidates)):
            if n % 64 == 0:
                check("Looking for near-duplicate records", "Validate a smaller dataset, or a sample of it.")
            if self._estimate(sigs, a, b) < floor or numbers(texts[a]) != numbers(texts[b]):
                continue
            self.exact_checks += 1
            sim = sketch_jaccard(sh(a), sh(b))
            if sim >= self.threshold:
                found.append(SimilarPair(a, b, round(sim, 4)))
        return found
