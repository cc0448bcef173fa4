"""The job functions a worker may run: an explicit registry, not any ``module:function`` a spec names.

A job folder's ``spec.json`` is data; the worker must not let it choose which code to import (a
spec naming ``os:system`` or a module planted on the path would otherwise run). Each engine job is
listed here by name (``spec["entry"]``) with the function that imports it; :func:`load_entry`
refuses every other name before importing anything.

Tests register their own small job functions by module, through the environment of the process
that starts the workers (:data:`EXTRA_MODULES_ENV`, e.g. ``jobfuncs``) — never through a spec.

>>> check_entry("synth")
>>> check_entry("os:system")
Traceback (most recent call last):
...
dptab_core.errors.JobError: the job entry 'os:system' is not one this app runs (allowed: synth, sweep)
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dptab_core.errors import JobError
from dptab_core.pipeline.spec import SWEEP_KIND, SYNTH_KIND

if TYPE_CHECKING:
    from dptab_core.jobs.context import JobContext

JobFunction = Callable[[dict[str, Any], "JobContext"], None]
"""``fn(spec, ctx)``: ``spec`` the job's dict, ``ctx`` what the job reports to and reads its folders from."""


def _synthesis() -> JobFunction:
    from dptab_core.pipeline.methods.dp_tabimage import run_job

    return run_job


def _sweep() -> JobFunction:
    from dptab_core.pipeline.sweep import run_job

    return run_job


@dataclass(frozen=True)
class JobEntry:
    """One registered job: what it is, and how to get its function (imported only when a worker runs it)."""

    description: str
    load: Callable[[], JobFunction]


JOB_ENTRIES: dict[str, JobEntry] = {
    SYNTH_KIND: JobEntry("synthesis: the DP-TabImage pipeline (synth, demo, the app's Train page)", _synthesis),
    SWEEP_KIND: JobEntry("ε sweep with baselines (sweep, the app's ε explorer)", _sweep),
}
"""Every entry a worker runs, by the name a spec gives in ``spec["entry"]``."""

FORMER_NAMES = {"dptab_core.pipeline:run_job": SYNTH_KIND, "dptab_core.eval.sweep:run_job": SWEEP_KIND}
"""Entries as job folders written before the registry named them (a queued or resumed old job still runs)."""

EXTRA_MODULES_ENV = "DPTAB_EXTRA_JOB_MODULES"
"""Comma-separated module names whose functions may also run as jobs (the tests' ``jobfuncs``)."""


def check_entry(entry: Any) -> None:
    """Raise :class:`~dptab_core.errors.JobError` unless ``entry`` is registered (or in an extra module)."""
    if isinstance(entry, str) and (entry in JOB_ENTRIES or entry in FORMER_NAMES):
        return
    module = entry.partition(":")[0] if isinstance(entry, str) else None
    extra = {m.strip() for m in os.environ.get(EXTRA_MODULES_ENV, "").split(",") if m.strip()}
    if module and module in extra and entry.count(":") == 1:
        return
    raise JobError(f"the job entry {entry!r} is not one this app runs (allowed: {', '.join(JOB_ENTRIES)})")


def load_entry(entry: str) -> JobFunction:
    """The job function of a registered ``entry``; nothing is imported for an unregistered one."""
    check_entry(entry)
    try:
        registered = JOB_ENTRIES.get(FORMER_NAMES.get(entry, entry))
        if registered is not None:
            return registered.load()
        module_name, _, name = entry.partition(":")  # a test module allowed by EXTRA_MODULES_ENV
        fn: JobFunction = getattr(importlib.import_module(module_name), name)
        return fn
    except (ImportError, AttributeError) as exc:
        raise JobError(f"the job function {entry!r} could not be loaded ({type(exc).__name__}: {exc})") from exc
