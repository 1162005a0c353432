"""Property: parse_skill_md never raises, whatever the text, and what it returns can be shown."""

import contextlib

import pytest
import yaml

from skilldeck.tools.skills.frontmatter import parse_skill_md, short_repr

hypothesis = pytest.importorskip("hypothesis")
st = hypothesis.strategies

# Pieces of YAML that reach the scanner, parser, composer, resolver and constructors.
_PIECES = ["[", "]", "{", "}", ", ", ": ", "- ", "? ", "\n", "  ", "&a ", "&b ", "*a", "*b", "!!int ", "!!binary ",
           "!!python/object:os.system ", "!!set ", "!!omap ", "!!timestamp ", "!foo ", "<<: ", "'", '"', "|", ">",
           "# c", "2024-13-45", "2024-01-02", "0x", "0b", "0o", "1_0", "1:20:30", ".inf", "9" * 50, "name",
           "description", "metadata", "null", "~", "yes", "%YAML 1.1\n", "---", "...", "\t", "\ufeff", "é", "\x85", "\\", "\x00"]

_yaml_like = st.lists(st.sampled_from(_PIECES) | st.text(max_size=5), max_size=60).map("".join)
_settings = hypothesis.settings(max_examples=400, deadline=None, database=None,
                                suppress_health_check=list(hypothesis.HealthCheck))


@contextlib.contextmanager
def _pure_python_yaml():
    """PyYAML without libyaml, as where libyaml is not installed."""
    saved = yaml.__dict__.pop("CSafeLoader", None)
    try:
        yield
    finally:
        if saved is not None:
            yaml.CSafeLoader = saved


def _check(text: str) -> None:
    _check_one(text)
    with _pure_python_yaml():
        _check_one(text)


def _check_one(text: str) -> None:
    parsed = parse_skill_md(text)
    assert isinstance(parsed.fields, dict) and all(isinstance(k, str) for k in parsed.fields)
    assert isinstance(parsed.body, str) and parsed.body_line >= 1
    assert all(isinstance(line, int) and isinstance(msg, str) for line, msg in parsed.problems)
    for value in parsed.fields.values():
        assert len(short_repr(value)) <= 120


@_settings
@hypothesis.given(front=_yaml_like, body=st.text(max_size=20))
def test_any_frontmatter_parses_without_raising(front, body):
    _check(f"---\n{front}\n---\n{body}")


@_settings
@hypothesis.given(text=st.text(max_size=200))
def test_any_text_parses_without_raising(text):
    _check(text)
