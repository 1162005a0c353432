"""Evidence files read through the one confined, non-blocking reader (`skilldeck.tools.fs`)."""

import os

import pytest

from skilldeck.tools.verify import load_evidence
from skilldeck.tools.verify.errors import EvidenceReadError


@pytest.fixture
def tree(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.md").write_text("The secret is 42.\n")
    proj = tmp_path / "proj"
    (proj / "docs").mkdir(parents=True)
    (proj / "docs" / "a.md").write_text("Paris is in France.\n")
    (proj / "docs" / "link.md").symlink_to(outside / "secret.md")
    (proj / "docs" / "loop").symlink_to(tmp_path, target_is_directory=True)  # "**" must not walk into it
    os.link(outside / "secret.md", proj / "docs" / "hard.md")
    os.mkfifo(proj / "docs" / "pipe.md")
    return proj


@pytest.mark.parametrize("pattern", ["docs/*.md", "**/*.md", "docs/**"])
def test_glob_matches_leading_outside_are_skipped_not_read(tree, pattern):
    ev = load_evidence(paths=[pattern], base_dir=tree, within=[tree])
    assert [i.text for i in ev.items] == ["Paris is in France.\n"]
    assert {os.path.basename(p) for p in ev.skipped} == {"link.md", "hard.md"}


def test_literal_links_and_fifos_are_refused_inside_the_allowed_folder(tree):
    for name, why in (("link.md", "leads outside"), ("hard.md", "hard link")):
        with pytest.raises(EvidenceReadError, match=why):
            load_evidence(paths=[f"docs/{name}"], base_dir=tree, within=[tree])
    with pytest.raises(Exception, match="not a regular file"):  # a FIFO is never opened, so nothing blocks
        load_evidence(paths=["docs/pipe.md"], base_dir=tree)


def test_without_within_the_cli_still_reads_links(tree):
    ev = load_evidence(paths=["docs/link.md"], base_dir=tree)
    assert ev.items[0].text == "The secret is 42.\n" and ev.skipped == []


def test_a_folder_path_skips_what_leads_outside_and_never_enters_a_linked_folder(tree):
    ev = load_evidence(paths=["docs"], base_dir=tree, within=[tree])
    assert [i.text for i in ev.items] == ["Paris is in France.\n"]
    assert {os.path.basename(p) for p in ev.skipped} == {"link.md", "hard.md"}
