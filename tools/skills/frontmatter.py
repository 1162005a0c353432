"""Lenient, bounded SKILL.md parsing: real-world frontmatter is often not valid YAML, and some is hostile.

`parse_skill_md(text)` never raises. It returns the fields it could read, the body, the
line where the body starts, and a list of problems. Strict YAML is tried first; when it
fails, a forgiving line reader recovers ``key: value`` pairs (values may contain colons),
indented continuation lines and block scalars (``|``, ``>``).

Before YAML builds anything, one pass over the parser's events (iterative, cheap) checks the
frontmatter against `FrontmatterLimits`: its size, how deep it nests, how many aliases it uses,
and how many values and characters it would hold with every alias expanded (a 400-byte
"billion laughs" expands to gigabytes). A frontmatter past any bound is not read at all: the
skill keeps its body, and a problem names the bound (`ParsedSkillMd.refused`).

`short_repr(value)` renders a frontmatter value for a message without building its full repr.
"""

from __future__ import annotations

import math
import re
import reprlib
from dataclasses import dataclass, field
from typing import Any

__all__ = ["FrontmatterLimits", "LIMITS", "ParsedSkillMd", "VerbatimFrontmatter", "parse_skill_md", "read_verbatim",
           "short_repr", "split_frontmatter"]

# Matched on a right-stripped line: a lazy value before "\s*$" backtracked quadratically on a long
# run of spaces ("description: a" + 30,000 spaces + "b" held start-up 8 s).
_SIMPLE_LINE = re.compile(r"""^([A-Za-z_][\w-]*): ([^\s'"&*!|>%@`{\[#?,:-][^\t]*)$""")
_KEY_LINE = re.compile(r"^([A-Za-z_][\w-]*)\s*:(?:\s(.*)|)$")
# A plain scalar YAML may read as a number (decimal, hex, octal, binary, base 60, float).
_NUMBERISH = re.compile(r"[-+]?[0-9a-fA-FxXoObB_:.]+")
_INT_TAG = "tag:yaml.org,2002:int"
_JSON_SAFE_INT = 2**53


@dataclass(frozen=True)
class FrontmatterLimits:
    """What one frontmatter may ask of the YAML parser; past any bound it is not read.

        parse_skill_md(text, FrontmatterLimits(max_depth=16))

    Aliases count as what they expand to, so a small file cannot build a large value.
    """

    max_chars: int = 65_536            # the frontmatter text itself (a typical one is under 1,000)
    max_depth: int = 32                # collections inside collections, aliases expanded
    max_nodes: int = 50_000            # keys, values and collections, aliases expanded
    max_expanded_chars: int = 262_144  # text in all scalars, aliases expanded (4x max_chars)
    max_aliases: int = 256             # ``*name`` references
    max_digits: int = 4_000            # Python refuses to print ints of over 4,300 digits


LIMITS = FrontmatterLimits()


@dataclass
class ParsedSkillMd:
    fields: dict[str, Any]
    body: str
    body_line: int  # 1-based line number of the body's first line in SKILL.md
    problems: list[tuple[int, str]] = field(default_factory=list)  # (line, message)
    has_frontmatter: bool = True  # False when no frontmatter was read: none there, or `refused`
    refused: bool = False  # a frontmatter was there but broke a bound of `FrontmatterLimits`


_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxstring, _REPR.maxother = 3, 80, 80
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = _REPR.maxset = _REPR.maxfrozenset = 8
_REPR.maxlong = 40


def short_repr(value: Any, limit: int = 120) -> str:
    """`repr(value)` for a message, at most `limit` characters, never building the whole repr of a
    large or deeply nested value (reprlib stops at a few levels and items)."""
    try:
        text = _REPR.repr(value)
    except Exception:  # noqa: BLE001 - a value's own __repr__ may raise; a message must not
        text = f"<{type(value).__name__}>"
    return _clip(text, limit)


def _normalise(text: str) -> str:
    text = text.lstrip("\ufeff")
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


def split_frontmatter(text: str) -> tuple[str | None, str, int]:
    """Return (frontmatter or None, body, 1-based line where the body starts)."""
    text = _normalise(text)
    start = text.find("\n") + 1
    if start == 0 or text[:start].strip() != "---":
        return None, text, 1
    pos = start
    while True:
        end = text.find("\n", pos)
        line = text[pos:] if end == -1 else text[pos:end]
        if line.strip() in ("---", "..."):
            front = text[start:pos].removesuffix("\n")
            body = "" if end == -1 else text[end + 1:]
            return front, body, text.count("\n", 0, pos) + 2
        if end == -1:
            return None, text, 1  # an opening fence with no closing one: treat it all as body
        pos = end + 1


def _simple_fields(front: str) -> dict[str, str] | None:
    """Fast path for the common case: only ``key: plain text`` lines.

    Returns None unless every line is a key with a plain scalar that YAML would read as the
    same text (no quotes, block markers, flow collections, anchors, tags or comments), so
    anything unusual still goes through the real YAML parser.
    """
    fields: dict[str, str] = {}
    for line in front.split("\n"):
        match = _SIMPLE_LINE.match(line.rstrip())
        if not match:
            return None
        value = match.group(2)
        if ": " in value or " #" in value or value.endswith(":"):
            return None
        fields[match.group(1)] = value
    return fields


def _fallback_yaml(front: str) -> tuple[dict[str, Any], list[tuple[int, str]]]:
    """Recover top-level keys from frontmatter that is not valid YAML."""
    fields: dict[str, Any] = {}
    problems: list[tuple[int, str]] = []
    key: str | None = None
    chunks: list[str] = []
    block = ""

    def flush() -> None:
        if key is None:
            return
        if block:
            joiner = "\n" if block.startswith("|") else " "
            fields[key] = joiner.join(c.strip() for c in chunks if c.strip())
        else:
            value = " ".join(c.strip() for c in chunks).strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            fields[key] = value

    for lineno, line in enumerate(front.split("\n"), start=2):
        match = _KEY_LINE.match(line)
        if match and not line[:1].isspace():
            flush()
            key, rest = match.group(1), (match.group(2) or "").strip()
            block = rest if rest[:1] in ("|", ">") else ""
            chunks = [] if block else [rest]
        elif key is not None and (line[:1].isspace() or not line.strip()):
            chunks.append(line)
        elif line.strip() and not line.lstrip().startswith("#"):
            problems.append((lineno, f"ignored frontmatter line that is not 'key: value': {line.strip()[:80]!r}"))
    flush()
    for k, v in fields.items():
        if isinstance(v, str) and v.startswith("[") and v.endswith("]"):
            fields[k] = [p.strip().strip("'\"") for p in v[1:-1].split(",") if p.strip()]
    return fields, problems


class _Tally:
    """Running totals over a stream of YAML events, with aliases counted as what they expand to."""

    def __init__(self, limits: FrontmatterLimits) -> None:
        self.limits = limits
        self.nodes = self.chars = self.aliases = 0
        # One entry per open collection: [anchor, nodes before it, chars before it, deepest level under it].
        self.open: list[list[Any]] = []
        self.anchors: dict[str, tuple[int, int, int]] = {}  # anchor -> (nodes, chars, levels below it)

    def add(self, event: Any) -> str | None:
        """Count one event; return the message for the first bound it breaks, if any."""
        import yaml

        limits = self.limits
        if isinstance(event, yaml.ScalarEvent):
            value = event.value
            self.nodes += 1
            self.chars += len(value)
            if event.anchor:
                self.anchors[event.anchor] = (1, len(value), -1)
            if len(value) > limits.max_digits // 2 and (event.implicit[0] or event.tag == _INT_TAG) \
                    and _NUMBERISH.fullmatch(value) and _decimal_digits(value) > limits.max_digits:
                return (f"frontmatter has a number of about {_decimal_digits(value):,} decimal digits "
                        f"(at most {limits.max_digits:,})")
        elif isinstance(event, yaml.CollectionStartEvent):
            depth = len(self.open) + 1
            if depth > limits.max_depth:
                return f"frontmatter nests deeper than {limits.max_depth} levels"
            self.open.append([event.anchor, self.nodes, self.chars, depth])
            self.nodes += 1
        elif isinstance(event, yaml.CollectionEndEvent) and self.open:
            anchor, nodes, chars, deepest = self.open.pop()
            self._reach(deepest)
            if anchor:
                self.anchors[anchor] = (self.nodes - nodes, self.chars - chars, deepest - len(self.open) - 1)
        elif isinstance(event, yaml.AliasEvent):
            return self._alias(event.anchor)
        return self._totals()

    def _alias(self, anchor: str) -> str | None:
        self.aliases += 1
        if self.aliases > self.limits.max_aliases:
            return f"frontmatter uses more than {self.limits.max_aliases} aliases (*name)"
        if any(entry[0] == anchor for entry in self.open):
            return f"frontmatter alias *{_clip(anchor, 40)} is inside the collection it names"
        if anchor not in self.anchors:
            return None  # undefined: yaml.load reports it as invalid YAML
        nodes, chars, below = self.anchors[anchor]
        self.nodes += nodes
        self.chars += chars
        if below >= 0:  # a collection: it nests as deep at the alias as where it was written
            deepest = len(self.open) + 1 + below
            if deepest > self.limits.max_depth:
                return f"frontmatter nests deeper than {self.limits.max_depth} levels with aliases expanded"
            self._reach(deepest)
        return self._totals()

    def _reach(self, deepest: int) -> None:
        if self.open and deepest > self.open[-1][3]:
            self.open[-1][3] = deepest

    def _totals(self) -> str | None:
        limits = self.limits
        if self.nodes > limits.max_nodes:
            return f"frontmatter holds more than {limits.max_nodes:,} values with aliases expanded"
        if self.chars > limits.max_expanded_chars:
            return f"frontmatter holds more than {limits.max_expanded_chars:,} characters with aliases expanded"
        return None


def _loader() -> type:
    import yaml

    return getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml is ~10x faster where present


def _decimal_digits(value: str) -> int:
    """About how many decimal digits the integer YAML builds from `value` has: a hex digit is 1.2 of
    them, so 3,998 hex digits ("0xfff...") make an int of 4,814 digits, which Python cannot print."""
    digits = value.lstrip("+-").replace("_", "")
    base = {"0x": 16, "0o": 8, "0b": 2}.get(digits[:2].lower())
    if base is None:
        return len(digits)
    return math.ceil((len(digits) - 2) * math.log10(base))


def _broken_bound(front: str, limits: FrontmatterLimits) -> tuple[int, str] | None:
    """(line, message) for the first bound `front` breaks, or None. Walks the parser's events, which
    PyYAML and libyaml both produce without recursion, and builds nothing. Raises yaml.YAMLError
    (or, for text libyaml cannot encode, ValueError) on invalid YAML."""
    if len(front) > limits.max_chars:
        return 2, f"frontmatter is {len(front):,} characters (at most {limits.max_chars:,})"
    import yaml

    tally = _Tally(limits)
    parser = _loader()(front)
    try:
        while parser.check_event():
            event = parser.get_event()
            message = tally.add(event)
            if message is not None:
                mark = event.start_mark
                return (mark.line + 2 if mark is not None else 2), message
    except yaml.MarkedYAMLError as exc:
        # libyaml stops at 1,000 levels while scanning ahead, before the events reach max_depth.
        if exc.problem != "exceeded maximum nesting depth":
            raise
        mark = exc.problem_mark
        return (mark.line + 2 if mark is not None else 2), f"frontmatter nests deeper than {limits.max_depth} levels"
    finally:
        parser.dispose()
    return None


def _yaml_problem(exc: Exception) -> tuple[int, str]:
    mark = getattr(exc, "problem_mark", None)
    line = mark.line + 2 if mark is not None else 2
    reason = getattr(exc, "problem", None) or (str(exc).splitlines() or [type(exc).__name__])[0]
    return line, f"frontmatter is not valid YAML ({_clip(reason, 160)}); read it leniently instead"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _read_yaml(front: str, limits: FrontmatterLimits) -> tuple[Any, list[tuple[int, str]], bool]:
    """(data, problems, refused) for a frontmatter that needs the real YAML parser."""
    import yaml

    try:
        broken = _broken_bound(front, limits)
        if broken is not None:
            return None, [(broken[0], broken[1] + "; read without it")], True
        return yaml.load(front, Loader=_loader()), [], False  # noqa: S506 - a safe loader
    # Broad on purpose: besides YAMLError, the safe constructors raise ValueError (a timestamp
    # such as 2024-13-45, an int past Python's digit limit), and libyaml UnicodeEncodeError (a lone
    # surrogate). All of them mean "not YAML we can build", and a skill must not take the server down.
    except Exception as exc:  # noqa: BLE001
        data, more = _fallback_yaml(front)
        return data, [_yaml_problem(exc), *more], False


def parse_skill_md(text: str, limits: FrontmatterLimits = LIMITS) -> ParsedSkillMd:
    """Parse SKILL.md text leniently and within `limits`; never raises."""
    front, body, body_line = split_frontmatter(text)
    if front is None:
        return ParsedSkillMd({}, body, body_line, [(1, "no YAML frontmatter (--- ... ---) at the top")], False)
    if len(front) > limits.max_chars:  # checked before the fast path, which would read it all
        message = f"frontmatter is {len(front):,} characters (at most {limits.max_chars:,}); read without it"
        return ParsedSkillMd({}, body, body_line, [(2, message)], False, refused=True)
    simple = _simple_fields(front)
    if simple is not None:
        return ParsedSkillMd(simple, body, body_line, [])
    data, problems, refused = _read_yaml(front, limits)
    if refused:
        return ParsedSkillMd({}, body, body_line, problems, False, refused=True)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        problems.append((2, f"frontmatter must be a mapping of keys to values, not {type(data).__name__}"))
        data = {}
    return ParsedSkillMd({_key_text(k): v for k, v in data.items()}, body, body_line, problems)


def _key_text(key: Any) -> str:
    try:
        return key if isinstance(key, str) else str(key)
    except Exception:  # noqa: BLE001 - str() of a key YAML built (a date, a float) is not expected to fail
        return short_repr(key, 64)


@dataclass(frozen=True)
class VerbatimFrontmatter:
    """The frontmatter as YAML reads it (no fast path, no field coercion), rendered as JSON data.

    `how` says where the data came from: ``yaml`` (read by the YAML parser), ``lenient`` (not valid
    YAML: the keys the forgiving reader recovered), ``refused`` (past a bound of `FrontmatterLimits`:
    nothing read) or ``none`` (no frontmatter).
    """

    data: dict[str, Any]
    how: str
    problems: list[tuple[int, str]] = field(default_factory=list)


def read_verbatim(text: str, limits: FrontmatterLimits = LIMITS) -> VerbatimFrontmatter:
    """SKILL.md's frontmatter exactly as a YAML reader on the client would build it, as JSON data
    (dates and times as ISO text, other non-JSON values as text, keys as text); never raises.

    Unlike `parse_skill_md` this never takes the plain-text fast path: ``version: 1.0`` is the
    number 1.0 here, as it is to a client that parses the file with PyYAML.
    """
    front, _, _ = split_frontmatter(text)
    if front is None:
        return VerbatimFrontmatter({}, "none", [(1, "no YAML frontmatter (--- ... ---) at the top")])
    if len(front) > limits.max_chars:
        return VerbatimFrontmatter({}, "refused", [(2, f"frontmatter is {len(front):,} characters "
                                                       f"(at most {limits.max_chars:,})")])
    data, problems, refused = _read_yaml(front, limits)
    if refused:
        return VerbatimFrontmatter({}, "refused", problems)
    how = "lenient" if problems else "yaml"
    if data is None:
        data = {}
    if not isinstance(data, dict):
        return VerbatimFrontmatter({}, "lenient", [*problems, (2, "frontmatter is not a mapping of keys to values")])
    return VerbatimFrontmatter({_key_text(k): _json_value(v) for k, v in data.items()}, how, problems)


def _json_value(value: Any) -> Any:
    """`value` (as YAML built it) as JSON data. Depth is bounded by `FrontmatterLimits.max_depth`."""
    import datetime

    if isinstance(value, dict):
        return {_key_text(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_json_value(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > _JSON_SAFE_INT:
        return str(value)  # past what a JSON client reads exactly (2**53); as text, it is kept whole
    if isinstance(value, bool) or value is None or isinstance(value, int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()  # as a client comparing PyYAML's date with the JSON text would render it
    if isinstance(value, bytes):
        import base64

        return base64.b64encode(value).decode()
    return short_repr(value, 1000)
