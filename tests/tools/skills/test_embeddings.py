"""Semantic scores from the `embeddings` extra (skipped where it is not installed)."""

import pytest

from skilldeck.tools.skills import embeddings
from skilldeck.tools.skills.embeddings import SemanticIndex, embeddings_available

pytestmark = pytest.mark.skipif(not embeddings_available(), reason="the embeddings extra is not installed")

TEXTS = ["slack gif creator. Makes animated GIFs for Slack.", "sql tuning. Speeds up slow database queries.",
         "pdf forms. Fills in PDF forms."]


def _state(index):
    """What a wait that timed out leaves to read: the error, the progress, whether the model is loaded."""
    return f"error={index.error} progress={index.progress()} model loaded={embeddings._model is not None}"


def test_vectors_rank_by_meaning_and_are_cached_by_content(tmp_path, monkeypatch):
    first = SemanticIndex([], cache_dir=tmp_path, texts=TEXTS)
    assert first.wait(240), _state(first)
    scores = first.scores("a short looping animation of a cat for our chat")
    assert max(range(3), key=scores.__getitem__) == 0
    assert (tmp_path / "all-MiniLM-L6-v2.npz").exists()

    encoded = []
    model = embeddings._load_model()
    original = model.encode
    monkeypatch.setattr(model, "encode", lambda texts, **kw: encoded.append(list(texts)) or original(texts, **kw))
    second = SemanticIndex([], cache_dir=tmp_path, texts=[*TEXTS, "release notes. Writes changelogs."])
    assert second.wait(60)
    assert encoded == [["release notes. Writes changelogs."]]  # only the new text was encoded


def test_lazy_index_is_lexical_until_ready(tmp_path):
    lazy = SemanticIndex([], cache_dir=tmp_path, lazy=True, texts=TEXTS)
    assert lazy.scores("gif") is None  # starts the work, answers nothing yet
    assert lazy.wait(240), _state(lazy)
    assert len(lazy.scores("gif")) == 3


def test_a_cold_start_ranks_on_short_texts_first_then_on_the_full_ones(tmp_path, monkeypatch):
    import threading

    count = embeddings._CHUNK + 8  # more than one chunk to encode: the short texts go first
    short = [f"skill {i}. Formats invoices number {i}." for i in range(count)]
    full = [f"{s} The body explains how totals and taxes are laid out, case {i}." for i, s in enumerate(short)]
    order = []
    model = embeddings._load_model()
    original = model.encode
    gate = threading.Event()

    def encode(texts, **kw):
        order.append("full" if texts[0] in full else "short" if texts[0] in short else "query")
        if order[-1] == "full":
            gate.wait(60)  # hold the full texts back until the partial index has been looked at
        return original(texts, **kw)

    monkeypatch.setattr(model, "encode", encode)
    index = SemanticIndex([], cache_dir=tmp_path, texts=full, short_texts=short)
    assert index.wait(300), _state(index)
    assert not index.complete
    assert len(index.scores("invoice totals")) == count
    done, total = index.progress()
    assert (done, total) == (0, count)
    gate.set()
    assert index.wait(240, complete=True) and index.complete and index.progress() == (count, count)
    steps = [o for o in order if o != "query"]
    assert steps == ["short"] * 2 + ["full"] * 2  # two chunks of each, every short text first

    # Warm restart: the full vectors are cached, nothing is encoded, and the index is complete at once.
    order.clear()
    again = SemanticIndex([], cache_dir=tmp_path, texts=full, short_texts=short)
    assert again.wait(60, complete=True) and order == []


def test_the_vector_cache_stays_bounded_and_keeps_the_served_skills(tmp_path, monkeypatch):
    import numpy as np

    cache = embeddings._VectorCache(tmp_path)
    cache.save({f"old{i}": np.full(384, i, dtype=np.float32) for i in range(10)})
    monkeypatch.setattr(embeddings, "CACHE_MAX_VECTORS", 5)
    index = SemanticIndex([], cache_dir=tmp_path, texts=TEXTS)
    assert index.wait(240)
    kept = cache.load()
    served = [embeddings._key(t) for t in TEXTS]
    assert len(kept) == 5 and all(k in kept for k in served)
    assert [k for k in kept if k.startswith("old")] == ["old8", "old9"]  # the newest of the others
    cache.save(kept)  # under the bound: written as it is
    assert list(cache.load()) == list(kept)
