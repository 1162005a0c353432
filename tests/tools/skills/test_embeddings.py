"""Semantic scores from the `embeddings` extra (skipped where it is not installed)."""

import pytest

from skilldeck.tools.skills import embeddings
from skilldeck.tools.skills.embeddings import SemanticIndex, embeddings_available

pytestmark = pytest.mark.skipif(not embeddings_available(), reason="the embeddings extra is not installed")

TEXTS = ["slack gif creator. Makes animated GIFs for Slack.", "sql tuning. Speeds up slow database queries.",
         "pdf forms. Fills in PDF forms."]


def test_vectors_rank_by_meaning_and_are_cached_by_content(tmp_path, monkeypatch):
    first = SemanticIndex([], cache_dir=tmp_path, texts=TEXTS)
    assert first.wait(240), first.error
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
    assert lazy.wait(240)
    assert len(lazy.scores("gif")) == 3
