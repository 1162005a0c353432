"""How common an English word is, read off a tokenizer's merge ranks (no word list to download).

Byte-pair encodings merge the most frequent strings first, so a word that is one cl100k token
of low rank (" city", " found", " located") is common, and a word split into pieces
(" Adamawa", " harmonies") is rare. Common words are cheap to paraphrase and weak evidence of
support, so they weigh less in a claim's coverage. Without tiktoken every word is ordinary.
"""

from __future__ import annotations

import functools

__all__ = ["is_common", "COMMON_RANK"]

# Ranks below this hold the few thousand most frequent English words (and much code).
COMMON_RANK = 3000


@functools.cache
def _encoder():
    from skilldeck.tools.tokens import _encoding

    return _encoding()


@functools.lru_cache(maxsize=100_000)
def is_common(word: str, rank: int = COMMON_RANK) -> bool:
    """True when `word` (lower-cased, with a leading space) is a single cl100k token ranked below `rank`."""
    enc = _encoder()
    if enc is None or not word:
        return False
    tokens = enc.encode(" " + word.lower(), disallowed_special=())
    return len(tokens) == 1 and tokens[0] < rank
