"""Background jobs: a store of job folders, a runner that starts detached workers, and the context a job gets.

>>> from dptab_core.jobs import JobStore, submit, refresh  # imports without torch or streamlit

* :class:`JobStore` / :class:`Job` / :class:`JobStatus` — the files of each job (``store``).
* :func:`submit`, :func:`cancel`, :func:`resume`, :func:`refresh` — scheduling (``runner``).
* :func:`run_in_foreground` — the worker's code path in this process (``execute``).
* :class:`JobContext` — what a job function ``fn(spec, ctx)`` receives (``context``).
"""

from dptab_core.jobs.context import JobCancelled, JobContext
from dptab_core.jobs.execute import run_in_foreground
from dptab_core.jobs.runner import cancel, refresh, resume, submit
from dptab_core.jobs.store import (
    CANCELLED,
    FAILED,
    FINISHED_STATES,
    QUEUED,
    RUNNING,
    STATES,
    SUCCEEDED,
    Job,
    JobCorruptError,
    JobNotFoundError,
    JobStateError,
    JobStatus,
    JobStore,
)

__all__ = [
    "CANCELLED",
    "FAILED",
    "FINISHED_STATES",
    "QUEUED",
    "RUNNING",
    "STATES",
    "SUCCEEDED",
    "Job",
    "JobCancelled",
    "JobContext",
    "JobCorruptError",
    "JobNotFoundError",
    "JobStateError",
    "JobStatus",
    "JobStore",
    "cancel",
    "refresh",
    "resume",
    "run_in_foreground",
    "submit",
]
