"""Running one job: the single code path shared by the detached worker and the foreground CLI.

:func:`execute` imports ``spec["entry"]`` (only a registered one, :mod:`.registry`), calls ``fn(spec, ctx)`` and turns how it ended into a
final state: returned → outputs renamed into place, *succeeded*; stopped on request → *cancelled*
(partial outputs removed, checkpoints kept for ``resume``); raised → *failed* with a message a user
can act on (a :class:`~dptab_core.errors.DPTabError`'s own text; for anything else a plain sentence,
with the traceback in the job log only).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from dptab_core.errors import DPTabError
from dptab_core.jobs.context import JobCancelled, JobContext, ProgressCallback
from dptab_core.jobs.registry import JobFunction, load_entry
from dptab_core.jobs.runner import claim_locked, start_next
from dptab_core.jobs.store import CANCELLED, FAILED, SUCCEEDED, Job, JobStatus, JobStore, now_iso
from dptab_core.privacy.dataset_budget import admitting, settle


def run_in_foreground(
    spec: dict[str, Any], *, store: JobStore | None = None, on_progress: ProgressCallback | None = None
) -> Job:
    """Create a job and run it in this process, exactly as a worker would; return it when it ends.

    It runs now even if a background job is running (the user asked for it in their terminal); queued
    jobs wait for it like for any heavy job. Ctrl-C cancels the job, then re-raises KeyboardInterrupt.
    """
    store = store or JobStore()
    with admitting(spec) as charge, store.locked():  # charged to its dataset; no one launches it before our claim
        job = store.create(spec)
        with job.locked():
            claim_locked(job, pid=os.getpid(), pgid=None)
        charge(job.id)
    try:
        execute(job, on_progress=on_progress)
    finally:
        start_next(store)
    return job


def execute(job: Job, *, on_progress: ProgressCallback | None = None) -> JobStatus:
    """Run a job already claimed by this process and record its final state."""
    with _job_logger(job) as log:
        ctx = JobContext(job, resuming=job.status().resuming, log=log, on_progress=on_progress)
        job.discard_partial_outputs()  # a previous attempt's half-written outputs are never reused
        ctx.output_dir.mkdir(parents=True, exist_ok=True)
        ctx.checkpoint_dir.mkdir(parents=True, exist_ok=True)
        with _stop_on_sigterm(ctx):  # until the final state is written, a SIGTERM only sets the flag
            return _run(job, ctx, log)


def _run(job: Job, ctx: JobContext, log: logging.Logger) -> JobStatus:
    spec = job.spec
    log.info(
        "job %s: attempt %d%s, entry %s, pid %d",
        job.id,
        job.status().attempt,
        " (resuming)" if ctx.resuming else "",
        spec["entry"],
        os.getpid(),
    )
    try:
        _load_entry(spec["entry"])(spec, ctx)
    except JobCancelled:
        return _finish(job, CANCELLED, log, message="cancelled")
    except KeyboardInterrupt:
        _finish(job, CANCELLED, log, message="cancelled (interrupted)")
        raise
    except DPTabError as exc:
        log.exception("the job stopped with an error")
        return _finish(job, FAILED, log, error=str(exc))
    except MemoryError:
        log.exception("out of memory")
        return _finish(
            job,
            FAILED,
            log,
            error=f"the job ran out of memory {_where(ctx)}. Try a smaller preset, or fewer rows or images.",
        )
    except (Exception, SystemExit) as exc:
        log.exception("the job function raised")
        return _finish(
            job,
            FAILED,
            log,
            error=f"an internal error stopped the job {_where(ctx)} "
            f"({type(exc).__name__}: {exc}). This is a bug; "
            "the traceback is in the job log.",
        )
    if ctx.should_stop():
        return _finish(job, CANCELLED, log, message="cancelled")
    final = job.output_path
    try:
        os.replace(ctx.output_dir, final)  # atomic: the output folder appears complete or not at all
    except OSError as exc:
        return _finish(job, FAILED, log, error=f"the outputs could not be moved into {final}: {exc}")
    _settle(job, spec, log)
    return _finish(job, SUCCEEDED, log, fraction=1.0, output_dir=str(final), message="done")


def _settle(job: Job, spec: dict[str, Any], log: logging.Logger) -> None:
    """Book what the job's runs actually spent on its dataset (else its reservation, never less, stays)."""
    try:
        if not settle(spec, job.id, [job.dir, job.output_path]):
            log.info("job %s: the dataset keeps this job's reserved (planned) spend", job.id)
    except Exception:  # noqa: BLE001 - the release is complete; the larger reservation stays on the books
        log.exception("could not settle the dataset's privacy budget; the reservation stays")


def _where(ctx: JobContext) -> str:
    return f"during stage {ctx.stage!r}" if ctx.stage else "before its first stage"


def _finish(job: Job, state: str, log: logging.Logger, **changes: Any) -> JobStatus:
    if state != SUCCEEDED:
        job.discard_partial_outputs()
    log.info("job %s %s%s", job.id, state, f": {changes['error']}" if changes.get("error") else "")
    return job.update_status(state=state, finished_at=now_iso(), **changes)


def _load_entry(entry: str) -> JobFunction:
    """The registered job function (imported only here, in the worker: the entry may import torch)."""
    return load_entry(entry)


@contextmanager
def _job_logger(job: Job) -> Iterator[logging.Logger]:
    """A logger writing to the job's log file for the duration of the run."""
    log = logging.getLogger(f"dptab_core.jobs.run.{job.id}")
    log.setLevel(logging.INFO)
    handler = logging.FileHandler(job.log_path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    try:
        yield log
    finally:
        log.removeHandler(handler)
        handler.close()


@contextmanager
def _stop_on_sigterm(ctx: JobContext) -> Iterator[None]:
    """Turn SIGTERM (sent by ``cancel``) into the stop flag, so the job ends at a clean point."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set handlers; should_stop() still sees cancel.request
        return
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: ctx.request_stop())
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
