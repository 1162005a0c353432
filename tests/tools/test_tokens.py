"""Token counts: exact for ordinary text, and bounded in time for a stranger's pathological text."""

import random
import string

from skilldeck.tools import tokens
from skilldeck.tools.tokens import count_tokens


def exact(text: str) -> int:
    return len(tokens._encoding().encode(text, disallowed_special=()))


def test_ordinary_text_is_counted_exactly():
    text = "Fill the PDF form's fields, then flatten it.\n" * 200 + "x" * 900
    assert count_tokens(text) == exact(text)


def test_a_long_run_without_spaces_is_counted_in_slices_within_half_a_percent(monkeypatch):
    """Byte-pair encoding one 2 MB piece took 2.1 s (8 times the same letters in words)."""
    random.seed(7)
    word = "".join(random.choice(string.ascii_lowercase) for _ in range(200_000))
    text = "# Title\n\n" + word + "\n\nThe end.\n"
    real, pieces = tokens._encoding(), []

    class Spy:
        def encode(self, piece, **kw):
            pieces.append(len(piece))
            return real.encode(piece, **kw)

    monkeypatch.setattr(tokens, "_encoding", Spy)
    counted = count_tokens(text)
    assert max(pieces) <= 1000  # no piece as long as the run
    assert abs(counted - exact(text)) <= 0.005 * exact(text)
