"""Files a job starts with (inline inputs) go into its folder under plain names."""

import pytest

from skilldeck.tools.errors import InvalidInputError
from skilldeck.tools.jobs import JobManager


@pytest.mark.parametrize("name", ["state.json", "../escape.jsonl", ".hidden", ""])
def test_job_files_must_be_plain_names_that_do_not_clash_with_the_job_s_own(tmp_path, name):
    jobs = JobManager(tmp_path / "jobs")
    with pytest.raises(InvalidInputError, match="plain file name"):
        jobs.start("test", "skilldeck.tools.batch.job:run", {}, files={name: "data"})
    assert jobs.list() == []
