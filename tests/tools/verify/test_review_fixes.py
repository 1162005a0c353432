"""Regressions found in review: device files and unbounded globs as evidence."""

import pytest

from skilldeck.tools.errors import InvalidInputError
from skilldeck.tools.verify.evidence import EvidenceLimits, load_evidence


def test_a_device_file_is_refused_as_evidence():
    with pytest.raises(InvalidInputError, match="not a regular file"):
        load_evidence(paths=["/dev/zero"])


def test_a_glob_matching_too_many_files_stops_at_the_limit(tmp_path):
    for i in range(30):
        (tmp_path / f"note{i}.md").write_text(f"Fact {i}.")
    with pytest.raises(InvalidInputError, match="more than 5 files"):
        load_evidence(paths=["**/*.md"], base_dir=tmp_path, limits=EvidenceLimits(max_files=5))
