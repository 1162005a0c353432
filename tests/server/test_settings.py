from pathlib import Path

import pytest

from skilldeck.server.settings import load_settings
from skilldeck.tools.errors import InvalidInputError


def test_flags_beat_environment_beat_toml(tmp_path):
    config = tmp_path / "skilldeck.toml"
    config.write_text("[skilldeck]\ncatalog_bytes = 3000\npage_size = 7\nwatch = false\nskills = ['/t']\n")
    env = {"SKILLDECK_PAGE_SIZE": "9", "SKILLDECK_SKILLS": "/e1:/e2", "SKILLDECK_WATCH": "true"}
    s = load_settings({"page_size": 11}, environ=env, config=config)
    assert (s.catalog_bytes, s.page_size, s.watch) == (3000, 11, True)
    assert s.skills == [Path("/e1"), Path("/e2")]


def test_missing_explicit_config_and_bad_values_are_named(tmp_path):
    with pytest.raises(InvalidInputError, match="does not exist"):
        load_settings({}, environ={}, config=tmp_path / "nope.toml")
    with pytest.raises(InvalidInputError, match="port"):
        load_settings({}, environ={"SKILLDECK_PORT": "99999"})
    (tmp_path / "bad.toml").write_text("this is = = not toml")
    with pytest.raises(InvalidInputError, match="cannot read config"):
        load_settings({}, environ={}, config=tmp_path / "bad.toml")


def test_unknown_setting_in_toml_is_rejected(tmp_path):
    (tmp_path / "c.toml").write_text("catalog_size = 1\n")
    with pytest.raises(InvalidInputError, match="catalog_size"):
        load_settings({}, environ={}, config=tmp_path / "c.toml")
