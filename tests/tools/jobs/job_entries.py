"""Entry points for job tests (imported by the worker process via PYTHONPATH)."""

import json
import time


def count(ctx):
    """Count to spec['n'], one durable line per step; a resumed run skips what is done."""
    done_path = ctx.dir / "done.txt"
    done = len(done_path.read_text().splitlines()) if done_path.exists() else 0
    n = ctx.spec["n"]
    for i in range(done, n):
        ctx.check_cancelled()
        time.sleep(ctx.spec.get("delay", 0))
        with open(done_path, "a") as fh:
            fh.write(f"{i}\n")
        ctx.progress(i + 1, n, f"step {i + 1}")
    return {"counted": n, "resumed": ctx.resume}


def boom(ctx):
    raise ValueError("bad spec: " + json.dumps(ctx.spec))


def environment(ctx):
    """The worker's view of the variables named in spec['names']; fails on the first run if spec['fail']."""
    import os

    if ctx.spec.get("fail") and not ctx.resume:
        raise RuntimeError("first run fails")
    return {name: os.environ.get(name) for name in ctx.spec["names"]}
