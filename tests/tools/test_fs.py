"""`under_any`: the one test of "this path is a changed folder or below one" that hot reload uses."""

import time
from pathlib import Path

from skilldeck.tools.fs import under_any


def test_a_path_is_under_a_folder_of_the_set_or_is_one_and_nothing_else_counts():
    folders = {Path("/r/skills/pdf"), Path("/r/skills/group/sql")}
    assert under_any(Path("/r/skills/pdf"), folders)
    assert under_any(Path("/r/skills/pdf/references/forms.md"), folders)
    assert under_any(Path("/r/skills/group/sql/SKILL.md"), folders)
    assert not under_any(Path("/r/skills/pdf-extra/SKILL.md"), folders)  # a longer name is another folder
    assert not under_any(Path("/r/skills"), folders) and not under_any(Path("/r/skills/group"), folders)
    assert not under_any(Path("/r/skills/pdf"), set())


def test_a_burst_of_changed_files_against_many_subscriptions_costs_a_lookup_per_level():
    """5,000 new files against 1,000 subscriptions compared pairwise froze the event loop 38 s."""
    changed = {Path(f"/r/skills/pack/junk/f{i:05d}.md") for i in range(5000)}
    subscribed = [Path(f"/r/skills/many/sub{i}.md") for i in range(1000)] + [Path("/r/skills/pack/junk/f00042.md")]
    started = time.monotonic()
    hits = [p for p in subscribed if under_any(p, changed)]
    assert hits == [Path("/r/skills/pack/junk/f00042.md")]
    assert time.monotonic() - started < 2  # pairwise: about 5 million comparisons
