"""What a running job function receives: progress reporting, cancellation, and where to write.

A job function has the signature ``fn(spec: dict, ctx: JobContext) -> None``. It reports progress
with :meth:`JobContext.progress`, checks :meth:`JobContext.should_stop` between steps (a cancel
arrives as a flag, never as an exception in the middle of a write), keeps what a resumed run needs
in ``ctx.checkpoint_dir`` and writes its results into ``ctx.output_dir`` — a ``.partial`` folder
that the runner renames into place only after the function returns, so half-written outputs never
look complete.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dptab_core.jobs.store import Job, now_iso


class JobCancelled(Exception):  # noqa: N818 - it is a signal that the job stopped, not an error
    """Raised (by :meth:`JobContext.raise_if_stopped`) to unwind a job that was asked to stop."""


ProgressCallback = Callable[[dict[str, Any]], None]


class JobContext:
    """The handle a job function gets: ``progress``, ``should_stop``, ``checkpoint_dir``, ``output_dir``, ``log``.

    ``owner_dir`` is where the data owner's view (real rows and images) goes: in the job folder,
    outside ``output_dir``, so sharing the outputs never shares it.

    ``resuming`` is True when the job was started again by ``resume`` after a failure or a cancel:
    the function should then continue from what it finds in ``checkpoint_dir``.
    """

    def __init__(
        self, job: Job, *, resuming: bool, log: logging.Logger, on_progress: ProgressCallback | None = None
    ) -> None:
        self.job = job
        self.job_id = job.id
        self.resuming = resuming
        self.log = log
        self.checkpoint_dir: Path = job.checkpoint_dir
        self.output_dir: Path = job.partial_output_path
        self.owner_dir: Path = job.owner_view_path
        self.stage: str | None = job.status().stage
        self._on_progress = on_progress
        self._stop = threading.Event()

    def progress(
        self,
        stage: str,
        fraction: float,
        message: str = "",
        epsilon_spent: float | None = None,
        *,
        epsilon_planned: float | None = None,
        stage_fraction: float | None = None,
    ) -> None:
        """Record where the job is: ``stage``, the whole job's ``fraction`` done (0–1), ε spent so far.

        ``stage_fraction`` (0–1) is how far the current stage is, for a progress bar per stage.

        Appends an event to ``progress.jsonl`` and updates ``status.json`` (one fsync each): report at
        most a few times a second, e.g. every N training steps, not every step of a fast loop.
        """
        if not stage or not isinstance(stage, str):
            raise ValueError(f"progress needs a stage name, got {stage!r}")
        fraction = float(fraction)
        if not math.isfinite(fraction):
            raise ValueError(f"progress fraction must be a finite number, got {fraction!r}")
        fraction = min(1.0, max(0.0, fraction))
        event: dict[str, Any] = {"t": now_iso(), "stage": stage, "fraction": fraction, "message": message}
        changes: dict[str, Any] = {"stage": stage, "fraction": fraction, "message": message}
        if epsilon_spent is not None:
            event["epsilon_spent"] = changes["epsilon_spent"] = float(epsilon_spent)
        if stage_fraction is not None:
            event["stage_fraction"] = min(1.0, max(0.0, float(stage_fraction)))
        if epsilon_planned is not None:
            event["epsilon_planned"] = changes["epsilon_planned"] = float(epsilon_planned)
        self.stage = stage
        with self.job.locked():
            self.job.append_progress(event)
            self.job.update_status_locked(**changes)
        if self._on_progress is not None:
            self._on_progress(event)

    def should_stop(self) -> bool:
        """True once someone asked this job to stop (``cancel``, SIGTERM, or Ctrl-C in the foreground)."""
        if not self._stop.is_set() and self.job.cancel_request_path.exists():
            self._stop.set()
        return self._stop.is_set()

    def raise_if_stopped(self) -> None:
        """Raise :class:`JobCancelled` if the job should stop: a one-line check deep inside a loop."""
        if self.should_stop():
            raise JobCancelled(f"job {self.job_id} was asked to stop")

    def request_stop(self) -> None:
        """Set the stop flag (the worker's SIGTERM handler calls this; safe from a signal handler)."""
        self._stop.set()
