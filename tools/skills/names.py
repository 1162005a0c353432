"""What a skill's name and file names may contain, and how untrusted text is shown.

Skill names follow the Agent Skills rules: 1-64 characters, lowercase letters, digits and single
hyphens, not starting or ending with a hyphen (``pdf-forms``). A name that breaks them is never shown
or matched as written: the skill is served under its folder name when that name follows the rules,
and not served at all otherwise (it is reported either way). So no catalog line, wrapper or prompt
carries a capital-letter look-alike, a quote, a newline, or a bidi or zero-width character.

File names inside a skill may be anything printable; a name holding a control, format (bidi,
zero-width) or line-separator character is not served, because it could forge lines of the file map.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["NAME_RULES", "valid_name", "unsafe_char", "printable", "neutralise_tags"]

NAME_RULES = "1-64 lowercase letters, digits and single hyphens, not starting or ending with a hyphen"
_NAME = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_UNSAFE_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}
_TAG = re.compile(r"<(/?)(skill)\b", re.IGNORECASE)


def valid_name(name: str) -> bool:
    """True if `name` follows the Agent Skills naming rules."""
    return len(name) <= 64 and bool(_NAME.match(name))


_ASCII_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_unsafe: re.Pattern[str] | None = None


def _unsafe_pattern() -> re.Pattern[str]:
    """One character class for every unsafe code point, built on first use (about 12 ms): a regex
    search is far cheaper than a category lookup per character of every description."""
    global _unsafe
    if _unsafe is None:
        wanted = [cp for cp in range(0x10000) if cp != 9 and unicodedata.category(chr(cp)) in _UNSAFE_CATEGORIES
                  and unicodedata.category(chr(cp)) != "Cn"]
        ranges, start = [], None
        for prev, cp in zip([None, *wanted], wanted):
            if prev is None or cp != prev + 1:
                if start is not None:
                    ranges.append((start, prev))
                start = cp
        if start is not None:
            ranges.append((start, wanted[-1]))
        # Beyond the first plane: the format characters there, tags and variation selectors, private use.
        ranges += [(0x110BD, 0x110BD), (0x110CD, 0x110CD), (0x13430, 0x1345F), (0x1BCA0, 0x1BCA3),
                   (0x1D173, 0x1D17A), (0xE0000, 0xE0FFF), (0xF0000, 0x10FFFF)]
        body = "".join(re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}" for a, b in ranges)
        _unsafe = re.compile(f"[{body}]")
    return _unsafe


def unsafe_char(text: str) -> str | None:
    """The first control, format, private or line-separator character in `text` (a tab is fine), or None."""
    found = (_ASCII_CONTROL if text.isascii() else _unsafe_pattern()).search(text)
    return found.group() if found else None


def printable(text: str, limit: int = 120) -> str:
    """`text` cut to `limit` characters with unsafe characters written as escapes (for messages)."""
    return _escaped(text[:limit]) + ("…" if len(text) > limit else "")


def _escaped(text: str, keep: str = " ") -> str:
    return "".join(f"\\u{ord(ch):04x}" if ch not in keep and unsafe_char(ch) else ch for ch in text)


def escape_unsafe(text: str) -> str:
    """`text` with every unsafe character but the newline written as an escape (``\\u001b``), for a
    terminal or a log: a stranger's skill name, path or heading cannot retitle the terminal, clear
    it, draw a fake link (ANSI and OSC sequences), overwrite a line (CR) or reverse one (bidi)."""
    if unsafe_char(text.replace("\n", " ")) is None:
        return text
    return _escaped(text, keep=" \n")


def neutralise_tags(text: str) -> str:
    """Make ``<skill ...>`` and ``</skill>`` inside untrusted text unable to open or close the
    wrapper the server puts around a skill (they become ``&lt;skill`` / ``&lt;/skill``)."""
    return _TAG.sub(lambda m: f"&lt;{m.group(1)}{m.group(2)}", text)
