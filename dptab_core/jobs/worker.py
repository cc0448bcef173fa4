"""The background worker: ``python -m dptab_core.jobs.worker <job dir>``.

Started by :func:`dptab_core.jobs.runner.submit` in its own session, with stdout and stderr going to
the job's log. It runs the job through the same code path as the foreground CLI, then starts the
next queued job, so a queue drains even when nobody has the app open.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

from dptab_core.jobs.execute import execute
from dptab_core.jobs.runner import start_next
from dptab_core.jobs.store import RUNNING, SUCCEEDED, JobStore
from dptab_core.workspace import private_umask


def main(argv: Sequence[str] | None = None) -> int:
    """Run the job in the given folder; exit 0 if it succeeded, 1 otherwise."""
    private_umask()  # checkpoints, owner views and outputs: 0600 files, 0700 folders
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: python -m dptab_core.jobs.worker JOB_DIR", file=sys.stderr)
        return 2
    job_dir = Path(args[0]).resolve()
    store = JobStore(job_dir.parent)
    job = store.get(job_dir.name)
    with job.locked():  # waits until the launcher has recorded our PID
        status = job.status()
    if status.state != RUNNING or status.pid != os.getpid():
        print(
            f"worker {os.getpid()}: job {job.id} is {status.state} for pid {status.pid}; not running it",
            file=sys.stderr,
        )
        return 1
    final = execute(job)
    start_next(store)
    return 0 if final.state == SUCCEEDED else 1


if __name__ == "__main__":
    sys.exit(main())
