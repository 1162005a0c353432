"""Test-wide settings: all skilldeck state goes to a temporary folder."""

import pytest


@pytest.fixture(autouse=True)
def skilldeck_home(tmp_path, monkeypatch):
    home = tmp_path / "skilldeck-home"
    monkeypatch.setenv("SKILLDECK_HOME", str(home))
    # Lexical search unless a test opts in: the embedding model takes seconds to load.
    monkeypatch.setenv("SKILLDECK_EMBEDDINGS", "off")
    return home
