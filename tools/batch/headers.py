"""Rate-limit headers, mapped explicitly per provider onto the limiter's buckets.

Each provider reports its limits in its own words; a `HeaderMapping` says which header feeds
which bucket, how resets are written, and when the reported ``remaining`` was measured:

=========  ====================================  ==========================================  =========
provider   headers                               buckets                                     remaining
=========  ====================================  ==========================================  =========
openai     ``x-ratelimit-{limit,remaining,reset}  ``requests``; ``tokens`` = input + max_tokens  admission
           -{requests,tokens}`` (+ ``input-/``    (OpenAI counts a request's max_tokens when it
           ``output-tokens`` where sent); reset   is admitted); input/output where sent
           as a duration (``6m0s``, ``20ms``)
anthropic  ``anthropic-ratelimit-{requests,       ``requests``, ``input_tokens`` (cache reads    admission
           input-tokens,output-tokens}-{limit,     do not count), ``output_tokens`` (max_tokens
           remaining,reset}``; reset RFC 3339      reserved on admission, settled at the end).
                                                   ``anthropic-ratelimit-tokens-*`` is skipped:
                                                   it repeats the tightest limit, it is no budget
none       nothing (vLLM, llama.cpp, Ollama ...)   the configured limits only
=========  ====================================  ==========================================  =========

``remaining_at="admission"``: the value was measured when the provider admitted the request,
with that request's own reservation (input and max_tokens) already taken, so the limiter
compares it with its own level at the moment it sent the request, not with its level after
the answer came back (doing the latter read ``remaining: 0`` long after the output budget
had been given back, and stalled a run for 37 s). ``"response"``: measured when the answer
was sent, after the request was settled.

Users override a mapping with ``RunSpec.headers`` (``{"style": "openai", "remaining_at":
"response", "tolerance": 1000}``, or ``{"style": "none"}`` to ignore a proxy's headers). An override's
``template`` may use only the bare ``{field}`` and ``{name}`` placeholders, and ``names`` maps header
names onto the buckets ``requests``, ``tokens``, ``input_tokens`` and ``output_tokens``.
"""

from __future__ import annotations

import email.utils
import math
import re
import string
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

__all__ = ["HeaderMapping", "LimitSnapshot", "MAPPINGS", "mapping_for", "parse_headers", "parse_duration",
           "parse_retry_after"]


@dataclass
class LimitSnapshot:
    """Rate-limit state one response reported: limit, remaining and seconds to reset, per dimension."""

    limit: dict[str, float] = field(default_factory=dict)
    remaining: dict[str, float] = field(default_factory=dict)
    reset_s: dict[str, float] = field(default_factory=dict)
    retry_after_s: float | None = None
    remaining_at: str = "admission"
    tolerance: float = 0.0


@dataclass(frozen=True)
class HeaderMapping:
    """Which headers feed which bucket. Usage::

        HeaderMapping(template="x-ratelimit-{field}-{name}", names={"requests": "requests"},
                      reset="duration")      # {field} is limit, remaining or reset

    ``tolerance``: a reported remaining that differs from the limiter's own figure by less
    than this is noise (a provider that rounds remaining counts); ``cached_input_counts``:
    whether cache reads count against the input bucket.
    """

    style: str = "none"
    template: str = ""
    names: dict[str, str] = field(default_factory=dict)
    reset: Literal["duration", "rfc3339", "seconds"] = "duration"
    remaining_at: Literal["admission", "response"] = "admission"
    tolerance: float = 0.0
    cached_input_counts: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {"style": self.style, "template": self.template, "names": dict(self.names), "reset": self.reset,
                "remaining_at": self.remaining_at, "tolerance": self.tolerance,
                "cached_input_counts": self.cached_input_counts}


MAPPINGS: dict[str, HeaderMapping] = {
    "openai": HeaderMapping("openai", "x-ratelimit-{field}-{name}",
                            {"requests": "requests", "tokens": "tokens", "input-tokens": "input_tokens",
                             "output-tokens": "output_tokens"}, "duration"),
    "anthropic": HeaderMapping("anthropic", "anthropic-ratelimit-{name}-{field}",
                               {"requests": "requests", "input-tokens": "input_tokens",
                                "output-tokens": "output_tokens"}, "rfc3339", cached_input_counts=False),
    "none": HeaderMapping("none"),
}


def mapping_for(api: str, override: Mapping[str, Any] | None = None) -> HeaderMapping:
    """The mapping for an API ('openai' or 'anthropic'), with the user's overrides applied.

    Raises ValueError naming a bad key or style, and what is valid.
    """
    override = dict(override or {})
    style = override.pop("style", api)
    if not isinstance(style, str) or style not in MAPPINGS:
        raise ValueError(f"headers.style {style!r} is unknown; use one of {', '.join(MAPPINGS)}")
    base = MAPPINGS[style]
    known = set(base.to_dict()) - {"style"}
    bad = sorted(set(override) - known)
    if bad:
        raise ValueError(f"headers: unknown key(s) {', '.join(bad)}; valid: style, {', '.join(sorted(known))}")
    if override.get("remaining_at", "admission") not in ("admission", "response"):
        raise ValueError(f"headers.remaining_at {override['remaining_at']!r}: use 'admission' or 'response'")
    if override.get("reset", "duration") not in ("duration", "rfc3339", "seconds"):
        raise ValueError(f"headers.reset {override['reset']!r}: use 'duration', 'rfc3339' or 'seconds'")
    _check_template(override.get("template", ""))
    _check_names(override.get("names", {}))
    tolerance = override.get("tolerance", 0.0)
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or not 0 <= tolerance < math.inf:
        raise ValueError(f"headers.tolerance {tolerance!r}: use a finite number >= 0 (requests or tokens)")
    if not isinstance(override.get("cached_input_counts", True), bool):
        raise ValueError("headers.cached_input_counts: use true or false")
    return replace(base, **override)


# The template is formatted for every response, and the caller (possibly a model) writes it: only the two
# placeholders the presets use, as bare names. A format spec ("{field:>400000000}" allocated 400 MB per
# header), an index ("{0}") or an attribute would run arbitrary formatting, or fail every task.
MAX_TEMPLATE_CHARS = 200
MAX_NAMES = 16
BUCKETS = ("requests", "tokens", "input_tokens", "output_tokens")


def _check_template(template: Any) -> None:
    problem = f"headers.template may only use {{field}}/{{name}} placeholders without format specs, " \
              f"in at most {MAX_TEMPLATE_CHARS} characters (e.g. 'x-ratelimit-{{field}}-{{name}}')"
    if not isinstance(template, str) or len(template) > MAX_TEMPLATE_CHARS:
        raise ValueError(problem)
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as exc:  # a lone brace
        raise ValueError(f"{problem}: {exc}") from exc
    for _, name, spec, conversion in parts:
        if name is not None and (name not in ("field", "name") or spec or conversion):
            raise ValueError(f"{problem}; got {{{name}{'!' + conversion if conversion else ''}"
                             f"{':' + spec[:20] if spec else ''}}}")


def _check_names(names: Any) -> None:
    if not isinstance(names, dict) or len(names) > MAX_NAMES or not all(
            isinstance(k, str) and len(k) <= 64 and v in BUCKETS for k, v in names.items()):
        raise ValueError(f"headers.names must map at most {MAX_NAMES} header names (strings) to buckets "
                         f"({', '.join(BUCKETS)}), e.g. {{\"requests\": \"requests\", \"tokens\": \"tokens\"}}")


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")


def parse_duration(text: str) -> float:
    """Seconds in an OpenAI reset duration: ``6m0s`` -> 360, ``20ms`` -> 0.02, ``1.5s`` -> 1.5, ``2`` -> 2."""
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        pass
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text.replace(" ", ""):
        raise ValueError(f"not a duration: {text!r} (expected forms like '6m0s', '20ms', '1.5s')")
    scale = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    return sum(float(n) * scale[u] for n, u in parts)


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date)."""
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            return max(0.0, float(raw_ms) / 1000.0)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


# A provider (or a proxy in front of it) may send anything: waits it asks for are cut to this, and a
# count that is not a finite number is ignored; a negative remaining count is read as none left.
MAX_HEADER_WAIT_S = 900.0


def _number(value: str | None) -> float | None:
    try:
        number = float(value) if value is not None else None
    except ValueError:
        return None
    return number if number is not None and math.isfinite(number) else None


def _wait(seconds: float | None) -> float | None:
    """A header's wait in seconds, within 0..MAX_HEADER_WAIT_S (None when it is not a number)."""
    if seconds is None or math.isnan(seconds):
        return None
    return min(max(0.0, seconds), MAX_HEADER_WAIT_S)


def _reset_seconds(raw: str, kind: str, wall: float) -> float:
    if kind == "rfc3339":
        return max(0.0, datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp() - wall)
    return parse_duration(raw) if kind == "duration" else max(0.0, float(raw))


def parse_headers(headers: Mapping[str, str], mapping: HeaderMapping, now: float | None = None) -> LimitSnapshot:
    """The snapshot `headers` report under `mapping` (unparseable values are skipped)."""
    snap = LimitSnapshot(retry_after_s=_wait(parse_retry_after(headers, now)), remaining_at=mapping.remaining_at,
                         tolerance=mapping.tolerance)
    wall = time.time() if now is None else now
    for name, dim in mapping.names.items():
        def get(kind: str) -> str | None:
            return headers.get(mapping.template.format(field=kind, name=name))

        limit, remaining = _number(get("limit")), _number(get("remaining"))
        if limit is not None and limit > 0:
            snap.limit[dim] = limit
        if remaining is not None:
            snap.remaining[dim] = max(0.0, remaining)
        reset = get("reset")
        if reset:
            try:
                wait = _wait(_reset_seconds(reset, mapping.reset, wall))
            except (ValueError, OverflowError):
                wait = None
            if wait is not None:
                snap.reset_s[dim] = wait
    return snap
