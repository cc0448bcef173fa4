"""The job runner: submit, schedule, cancel, resume, and repair jobs whose worker died.

One *heavy* job (``spec["heavy"]``, default True: it trains models and wants every core) runs at a
time; later ones wait in ``queued`` and the next starts when the running one ends — its worker
starts the next job on its way out, and so do :func:`submit`, :func:`resume` and :func:`refresh`, so
a queue never stalls because one process died. Scheduling decisions hold the store lock, so two
processes submitting at once cannot start two heavy jobs.

A job runs in a detached worker process (``python -m dptab_core.jobs.worker <job dir>``, its own
session, its output going to ``job.log``), never in the caller: the app's process never imports
torch, and closing the app or the terminal does not stop the job.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from dptab_core.jobs.process import is_alive, send_signal, start_token
from dptab_core.jobs.store import (
    CANCELLED,
    FAILED,
    QUEUED,
    RUNNING,
    SUCCEEDED,
    Job,
    JobStateError,
    JobStatus,
    JobStore,
    now_iso,
)
from dptab_core.privacy.dataset_budget import admitting, void

_PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # the folder holding dptab_core/


@dataclass(frozen=True)
class RunnerConfig:
    """The runner's tunable numbers, each with its reason."""

    # How long a job may take to reach its next should_stop() check after a cancel before it is
    # killed: a DP-SGD step or a checkpoint write on 2 cores takes a few seconds.
    cancel_grace_s: float = 10.0
    # How often cancel(wait=True) looks at the status while it waits: fast enough to feel instant.
    poll_interval_s: float = 0.1
    # Log lines kept in status.json when a worker dies: enough for a traceback or the last messages.
    log_tail_lines: int = 20


CONFIG = RunnerConfig()

# Workers this process started and has not yet seen exit. Polling them reaps their exit status, so a
# long-lived submitter (the app) does not collect zombies; is_alive() treats a zombie as dead anyway.
_children: list[subprocess.Popen] = []


def submit(spec: dict, *, store: JobStore | None = None) -> Job:
    """Create a job and start its worker now, or leave it queued behind the running heavy job.

    A job that reads a dataset is first charged to that dataset's privacy budget
    (:mod:`dptab_core.privacy.dataset_budget`); one that would pass the owner's cap is refused with
    :class:`~dptab_core.privacy.dataset_budget.BudgetCapError` and no job is created.
    """
    store = store or JobStore()
    with admitting(spec) as charge:
        job = store.create(spec)
        charge(job.id)
    start_next(store)
    return job


def start_next(store: JobStore) -> list[Job]:
    """Start queued jobs that may run now (oldest first; at most one heavy job at a time)."""
    started = []
    _children[:] = [proc for proc in _children if proc.poll() is None]
    with store.locked():
        jobs = store.list()
        _reap(jobs)
        statuses = {job.id: job.status() for job in jobs}
        heavy_running = any(s.state == RUNNING and s.heavy for s in statuses.values())
        for job in sorted(
            (j for j in jobs if statuses[j.id].state == QUEUED), key=lambda j: (statuses[j.id].queued_at, j.id)
        ):
            if statuses[job.id].heavy and heavy_running:
                continue
            if _launch(job):
                started.append(job)
                heavy_running = heavy_running or statuses[job.id].heavy
    return started


def _launch(job: Job) -> bool:
    """Start a detached worker for a queued job and record who runs it. False if it could not start."""
    with job.locked():
        status = job.status()
        if status.state != QUEUED:
            return False
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_PACKAGE_ROOT), env.get("PYTHONPATH")) if p)
        env["PYTHONUNBUFFERED"] = "1"  # prints reach job.log at once, so a log tail after a crash is current
        try:
            log_fd = os.open(job.log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)  # 0600 whatever the umask
            with os.fdopen(log_fd, "ab") as log:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "dptab_core.jobs.worker", str(job.dir)],
                    cwd=job.dir,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    close_fds=True,
                )
        except OSError as exc:
            job.update_status_locked(
                state=FAILED, finished_at=now_iso(), error=f"the worker process could not be started: {exc}"
            )
            return False
        _children.append(proc)
        claim_locked(job, pid=proc.pid, pgid=proc.pid)  # its own session: the group id is its PID
    return True


def claim_locked(job: Job, *, pid: int, pgid: int | None) -> JobStatus:
    """Mark a queued job running in process ``pid`` (caller holds the job lock)."""
    status = job.status()
    return job.update_status_locked(
        state=RUNNING,
        pid=pid,
        pgid=pgid,
        start_token=start_token(pid),
        started_at=now_iso(),
        finished_at=None,
        attempt=status.attempt + 1,
        error=None,
        log_tail=None,
    )


def refresh(store: JobStore | None = None) -> list[Job]:
    """Repair what the files say against the processes that exist; return the jobs whose state changed.

    A running job whose worker is gone (killed, out of memory, machine restarted) is marked failed with
    the stage it was in and the log tail; a cancel past its grace period is enforced with SIGKILL;
    then queued jobs that may run are started. The CLI and the app call this before showing jobs.
    """
    store = store or JobStore()
    with store.locked():
        changed = _reap(store.list())
    start_next(store)  # the dead job may have held up the queue
    return changed


def _reap(jobs: list[Job]) -> list[Job]:
    """Finish running jobs whose worker died or overstayed a cancel (caller holds the store lock)."""
    changed = []
    for job in jobs:
        with job.locked():
            status = job.status()
            if status.state != RUNNING:
                continue
            alive = is_alive(status.pid, status.start_token)
            overdue = (
                status.cancel_requested_at is not None and _age_s(status.cancel_requested_at) > CONFIG.cancel_grace_s
            )
            if alive and overdue and status.pid is not None:
                send_signal(status.pid, status.pgid, signal.SIGKILL)
                alive = False
            if not alive:
                _finish_dead_locked(job, status)
                changed.append(job)
    return changed


def _finish_dead_locked(job: Job, status: JobStatus) -> None:
    """Record the end of a job whose process is gone: cancelled if that was asked, else failed."""
    job.discard_partial_outputs()
    if status.cancel_requested_at is not None:
        job.update_status_locked(state=CANCELLED, finished_at=now_iso(), message="cancelled")
        return
    where = f"during stage {status.stage!r}" if status.stage else "before its first stage"
    job.update_status_locked(
        state=FAILED,
        finished_at=now_iso(),
        log_tail=job.log_tail(CONFIG.log_tail_lines),
        error=f"the worker process stopped unexpectedly (killed or out of memory) {where}. "
        "The last lines of its log are below; `jobs resume` continues from the last checkpoint.",
    )


def _age_s(iso_time: str) -> float:
    return time.time() - datetime.fromisoformat(iso_time).timestamp()


def cancel(job_id: str, *, store: JobStore | None = None, wait: bool = True, grace_s: float | None = None) -> JobStatus:
    """Stop a job: a queued one at once; a running one at its next ``should_stop()`` check.

    A running job's worker gets a ``cancel.request`` file and SIGTERM (its handler only sets the
    stop flag). With ``wait``, this returns once the job has stopped, killing it (SIGKILL to its
    process group) after ``grace_s``; without, it returns at once and :func:`refresh` enforces the
    grace period later (what the app does, so a button click never blocks the page).
    """
    store = store or JobStore()
    job = store.get(job_id)
    with job.locked():
        status = job.status()
        if status.finished:
            raise JobStateError(f"job {job_id} has already {status.state}: there is nothing to cancel")
        if status.state == QUEUED and status.attempt == 0:
            cancelled = job.update_status_locked(
                state=CANCELLED, finished_at=now_iso(), message="cancelled before it started"
            )
            void(job.spec, job.id)  # it never read the data: its reservation no longer counts
            return cancelled
        if status.state == QUEUED:  # queued to resume: it read the data before, its charge stays
            return job.update_status_locked(
                state=CANCELLED, finished_at=now_iso(), message="cancelled before it resumed"
            )
        job.cancel_request_path.write_text(now_iso() + "\n", encoding="utf-8")
        status = job.update_status_locked(cancel_requested_at=now_iso(), message="stopping: cancel requested")
        if status.pid is not None and is_alive(status.pid, status.start_token):
            send_signal(status.pid, status.pgid, signal.SIGTERM)
    if not wait:
        return status
    deadline = time.monotonic() + (CONFIG.cancel_grace_s if grace_s is None else grace_s)
    while time.monotonic() < deadline:
        status = job.status()
        if status.finished or not is_alive(status.pid, status.start_token):
            break
        time.sleep(CONFIG.poll_interval_s)
    with job.locked():
        status = job.status()
        if status.state == RUNNING:
            if status.pid is not None and is_alive(status.pid, status.start_token):
                send_signal(status.pid, status.pgid, signal.SIGKILL)
            _finish_dead_locked(job, status)
    start_next(store)
    return job.status()


def resume(job_id: str, *, store: JobStore | None = None) -> Job:
    """Queue a failed or cancelled job again; its function runs with ``ctx.resuming = True``."""
    store = store or JobStore()
    refresh(store)  # a job whose worker just died must read failed before it can be resumed
    job = store.get(job_id)
    with job.locked():
        status = job.status()
        if status.state not in (FAILED, CANCELLED):
            hint = "it has already succeeded" if status.state == SUCCEEDED else f"it is {status.state}"
            raise JobStateError(
                f"job {job_id} cannot be resumed: {hint}", hint="Only a failed or cancelled job can be resumed."
            )
        job.cancel_request_path.unlink(missing_ok=True)
        job.update_status_locked(
            state=QUEUED,
            queued_at=now_iso(),
            resuming=True,
            pid=None,
            pgid=None,
            start_token=None,
            finished_at=None,
            cancel_requested_at=None,
            error=None,
            log_tail=None,
            message="queued to resume",
        )
    start_next(store)
    return job
