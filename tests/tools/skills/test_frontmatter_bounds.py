"""Bounded frontmatter: hostile YAML (alias bombs, deep nesting, huge numbers, bad tags) is refused
or read leniently, never raised, and values are rendered into messages in bounded form."""

from pathlib import Path

import pytest
import yaml

from skilldeck.tools.skills.frontmatter import LIMITS, FrontmatterLimits, parse_skill_md, short_repr
from skilldeck.tools.skills.skill import SkillRoot, load_skill
from tests.fixtures.skill_factory import make_skill

ROOT = SkillRoot(Path("/nonexistent"), "test")


def alias_bomb(levels: int = 9, key: str = "description") -> str:
    """The "billion laughs": about 40 bytes a level, 9**levels strings once expanded."""
    lines = ['l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"l{i}: &l{i} [" + ",".join([f"*l{i - 1}"] * 9) + "]" for i in range(1, levels)]
    return "\n".join([*lines, f"{key}: *l{levels - 1}"])


def nested(depth: int) -> str:
    return "description: " + "[" * depth + "]" * depth


def md(front: str, body: str = "# Body\n\nText.\n") -> str:
    return f"---\n{front}\n---\n{body}"


@pytest.fixture(params=["libyaml", "pure-python"])
def loader(request, monkeypatch):
    """Run a test with libyaml's parser and with PyYAML's own (used where libyaml is not installed)."""
    if request.param == "pure-python":
        monkeypatch.delattr(yaml, "CSafeLoader", raising=False)
    elif not hasattr(yaml, "CSafeLoader"):
        pytest.skip("libyaml is not installed")
    return request.param


def refused(parsed, words: str) -> bool:
    return (parsed.refused and not parsed.has_frontmatter and parsed.fields == {}
            and any(words in msg and msg.endswith("read without it") for _, msg in parsed.problems))


def test_alias_bomb_is_refused_and_the_body_kept(loader):
    parsed = parse_skill_md(md(alias_bomb()))
    assert refused(parsed, "with aliases expanded")
    assert parsed.body == "# Body\n\nText.\n" and parsed.body_line == 13


@pytest.mark.parametrize("depth", [999, 3000])
def test_deep_flow_nesting_is_refused_naming_the_depth(loader, depth):
    parsed = parse_skill_md(md("name: x\n" + nested(depth)))
    assert refused(parsed, f"nests deeper than {LIMITS.max_depth} levels")
    assert parsed.problems[0][0] == 3


def test_deep_block_nesting_is_refused(loader):
    parsed = parse_skill_md(md("name: x\ndescription:\n" + "".join("  " * i + "- \n" for i in range(1, 200))))
    assert refused(parsed, "nests deeper than")


def test_nesting_within_the_bound_is_read(loader):
    parsed = parse_skill_md(md("name: x\ndescription: " + "[" * 20 + "a" + "]" * 20))
    assert parsed.fields["name"] == "x" and not parsed.refused and parsed.problems == []


def test_an_alias_nests_as_deep_as_its_anchor(loader):
    # Each level alone is 20 deep; the alias puts one 20-deep value inside another.
    front = "a: &a " + "[" * 20 + "]" * 20 + "\nb: " + "[" * 20 + "*a" + "]" * 20
    assert refused(parse_skill_md(md(front)), "with aliases expanded")


def test_an_alias_inside_its_own_anchor_is_refused(loader):
    assert refused(parse_skill_md(md("name: x\na: &a [1, *a]")), "inside the collection it names")


def test_text_multiplied_by_aliases_is_refused(loader):
    front = 'a: &a "' + "x" * 30_000 + '"\nb: [' + ", ".join(["*a"] * 10) + "]"
    assert refused(parse_skill_md(md(front)), "characters with aliases expanded")


def test_too_many_aliases_are_refused(loader):
    front = "a: &a x\nb: [" + ", ".join(["*a"] * (LIMITS.max_aliases + 1)) + "]"
    assert refused(parse_skill_md(md(front)), f"more than {LIMITS.max_aliases} aliases")


def test_a_few_aliases_are_read(loader):
    parsed = parse_skill_md(md("name: x\ndescription: &d Does things.\nwhen_to_use: *d"))
    assert parsed.fields == {"name": "x", "description": "Does things.", "when_to_use": "Does things."}


def test_oversized_frontmatter_is_refused_even_as_plain_lines():
    front = "name: x\n" + "".join(f"k{i}: value {i}\n" for i in range(8000))
    assert refused(parse_skill_md(md(front)), f"(at most {LIMITS.max_chars:,})")


@pytest.mark.parametrize("number", ["1" * 5000, "0x" + "f" * 5000, "-" + "9" * 5000])
def test_numbers_too_long_to_print_are_refused(loader, number):
    assert refused(parse_skill_md(md(f"name: 'x'\nversion: {number}")), "digits")


@pytest.mark.parametrize("field", ["description", "metadata", "allowed-tools", "name", "x-build"])
def test_a_hex_number_short_in_characters_but_too_long_to_print_is_refused(loader, field, tmp_path):
    number = "0x" + "f" * 3998  # under 4,000 characters, but an int of 4,814 decimal digits
    front = {"description": f"name: 'hexy'\ndescription: {number}",
             "metadata": f"name: 'hexy'\ndescription: Hex. Use when testing.\nmetadata:\n  k: {number}",
             "allowed-tools": f"name: 'hexy'\ndescription: Hex. Use when testing.\nallowed-tools: [{number}]",
             "name": f"name: {number}\ndescription: 'Hex. Use when testing.'",
             "x-build": f"name: 'hexy'\ndescription: Hex. Use when testing.\nx-build: {number}"}[field]
    assert refused(parse_skill_md(md(front)), "decimal digits")
    make_skill(tmp_path, "hexy", front)
    skill = load_skill(tmp_path / "hexy", SkillRoot(tmp_path, "t"))
    assert any("decimal digits" in d.message for d in skill.diagnostics)


def test_a_big_integer_is_served_to_json_clients_as_text():
    from skilldeck.tools.skills.frontmatter import read_verbatim

    big = "9" * 40
    fields = read_verbatim(md(f"name: 'x'\nx-build: {big}\nsmall: 42")).data
    assert fields["x-build"] == big and fields["small"] == 42


def test_whatever_goes_wrong_reading_one_skill_is_that_skill_s_diagnostic(tmp_path, monkeypatch):
    import skilldeck.tools.skills.skill as skill_module

    make_skill(tmp_path, "boom", "name: boom\ndescription: Explodes. Use when testing.")
    monkeypatch.setattr(skill_module, "parse_skill_md", lambda text: 1 / 0)
    skill = load_skill(tmp_path / "boom", SkillRoot(tmp_path, "t"))
    assert not skill.served and "ZeroDivisionError" in skill.diagnostics[0].message


def test_a_long_text_of_digits_in_quotes_is_just_text(loader):
    parsed = parse_skill_md(md(f"name: 'x'\nversion: '{'1' * 5000}'"))
    assert parsed.fields["version"] == "1" * 5000


def test_limits_can_be_tightened():
    parsed = parse_skill_md(md("name: x\nmetadata: {a: {b: c}}"), FrontmatterLimits(max_depth=1))
    assert refused(parsed, "nests deeper than 1 levels")


@pytest.mark.parametrize("front, reason", [
    ("name: 'x'\ncreated: 2024-13-45", "month must be in 1..12"),  # the constructor raises ValueError
    ("name: 'x'\nrun: !!python/object/apply:os.system ['true']", "constructor"),
    ("name: 'x'\n? [a, b]\n: c", "unhashable key"),
    ("name: 'x'\nv: !!int 'twelve'", "invalid literal"),
    ("name: 'x'\nv: !!binary 3", "base64"),
    ("name: 'x'\nv: *nowhere", "undefined alias"),
])
def test_values_yaml_cannot_build_are_reported_and_read_leniently(loader, front, reason):
    parsed = parse_skill_md(md(front))
    assert parsed.fields["name"] == "x" and not parsed.refused
    assert any("not valid YAML" in msg and "leniently" in msg for _, msg in parsed.problems), parsed.problems
    assert any(reason in msg for _, msg in parsed.problems)


def test_keys_that_are_not_text_become_text(loader):
    parsed = parse_skill_md(md("name: 'x'\n1: one\nnull: none\n2024-01-02: day\n1.5: half"))
    assert set(parsed.fields) == {"name", "1", "None", "2024-01-02", "1.5"}


def test_a_lone_surrogate_is_reported_not_raised(loader):
    parsed = parse_skill_md(md("name: 'x'\ndescription: \ud800"))
    assert parsed.problems and isinstance(parsed.fields, dict)


def test_load_skill_serves_a_bomb_body_only_under_its_folder_name(tmp_path):
    folder = make_skill(tmp_path, "bomb", alias_bomb(), body="# Still here\n")
    skill = load_skill(folder, ROOT)
    assert skill.name == "bomb" and skill.description == "" and skill.headings == ["Still here"]
    (bound,) = [d for d in skill.diagnostics if "aliases expanded" in d.message]
    assert bound.level == "error" and bound.line is not None


def test_short_repr_is_bounded_for_huge_and_deep_values():
    deep: list = []
    inner = deep
    for _ in range(10_000):
        inner.append([])
        inner = inner[0]
    wide = {i: list(range(1000)) for i in range(1000)}
    for value in (deep, wide, "x" * 1_000_000, int("f" * 6000, 16)):
        assert len(short_repr(value)) <= 120
    assert short_repr("ok") == "'ok'"


def test_diagnostics_quote_values_in_bounded_form(tmp_path):
    items = ", ".join(f"i{i}" for i in range(3000))
    front = f"name: big\ndescription: d\nuser-invocable: [{items}]\nmetadata: {{{items}}}"
    skill = load_skill(make_skill(tmp_path, "big", front), ROOT)
    assert skill.user_invocable is True
    assert max(len(d.message) for d in skill.diagnostics) < 300
    assert sum("metadata value for" in d.message for d in skill.diagnostics) <= 5
    assert any("2995 more metadata values" in d.message for d in skill.diagnostics)
