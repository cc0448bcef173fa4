"""The job functions a worker may run: an explicit registry, not any ``module:function`` a spec names.

A job folder's ``spec.json`` is data; the worker must not let it choose which code to import (a
spec naming ``os:system`` or a module planted on the path would otherwise run). Each engine job
entry is listed here; :func:`load_entry` refuses every other one before importing anything.

Tests register their own small job functions by module, through the environment of the process
that starts the workers (:data:`EXTRA_MODULES_ENV`, e.g. ``jobfuncs``) — never through a spec.

>>> check_entry("dptab_core.pipeline:run_job")
>>> check_entry("os:system")
Traceback (most recent call last):
...
dptab_core.errors.JobError: the job entry 'os:system' is not one this app runs (allowed: dptab_core.pipeline:run_job, dptab_core.eval.sweep:run_job)
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from typing import Any

from dptab_core.errors import JobError

JOB_ENTRIES: dict[str, str] = {
    "dptab_core.pipeline:run_job": "synthesis: the DP-TabImage pipeline (synth, demo, the app's Train page)",
    "dptab_core.eval.sweep:run_job": "ε sweep with baselines (sweep, the app's ε explorer)",
}
"""Every entry a worker runs, with what it is."""

EXTRA_MODULES_ENV = "DPTAB_EXTRA_JOB_MODULES"
"""Comma-separated module names whose functions may also run as jobs (the tests' ``jobfuncs``)."""


def check_entry(entry: Any) -> None:
    """Raise :class:`~dptab_core.errors.JobError` unless ``entry`` is registered (or in an extra module)."""
    if isinstance(entry, str) and entry in JOB_ENTRIES:
        return
    module = entry.partition(":")[0] if isinstance(entry, str) else None
    extra = {m.strip() for m in os.environ.get(EXTRA_MODULES_ENV, "").split(",") if m.strip()}
    if module and module in extra and entry.count(":") == 1:
        return
    raise JobError(f"the job entry {entry!r} is not one this app runs (allowed: {', '.join(JOB_ENTRIES)})")


def load_entry(entry: str) -> Callable[..., None]:
    """The job function of a registered ``entry``; nothing is imported for an unregistered one."""
    check_entry(entry)
    module_name, _, name = entry.partition(":")
    try:
        return getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError) as exc:
        raise JobError(f"the job function {entry!r} could not be loaded ({type(exc).__name__}: {exc})") from exc
