"""One job mechanism for all long-running work (batch runs, training).

A job is a folder under ``$SKILLDECK_HOME/jobs/<id>/`` and a worker process:

    job.json       what to run: id, kind, entry ("package.module:function"), spec
    state.json     status, pid and its start time (a reused pid is not the worker), progress, error,
                   timestamps (rewritten atomically)
    events.jsonl   append-only progress and log events, one JSON object per line
    output.log     the worker's stdout and stderr
    cancel         present once cancellation was asked for
    .lock          flock'd while a start or resume checks the status and spawns the worker (one wins)
    ...            input files given to `JobManager.start(files=...)` (a batch run's inline tasks)

`JobManager` starts workers (``python -m skilldeck.tools.jobs.worker DIR``), reads their
state, cancels and resumes them. The worker imports the entry point and calls it with a
`JobContext`; the entry point reports progress, checks `ctx.cancelled()`, and keeps its own
durable files (journal, checkpoints) in ``ctx.dir`` so a resumed run can skip finished work.
"""

from skilldeck.tools.jobs.context import JobCancelled, JobContext, JobFailed
from skilldeck.tools.jobs.manager import JobInfo, JobManager, JobStatus

__all__ = ["JobCancelled", "JobContext", "JobFailed", "JobInfo", "JobManager", "JobStatus"]
