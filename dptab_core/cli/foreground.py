"""Running a pipeline job in the foreground with a terminal progress bar, for ``synth`` and ``demo``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from dptab_core.cli.progress_bar import ProgressBar


def run_with_progress(spec: dict[str, Any], *, out: Path, epsilon: float, what: str) -> int:
    """Run ``spec`` here (same code path as a background worker); return the CLI's exit code.

    A job that failed on bad input exits 2 with its message (which names the file or row); an
    internal error or a cancel exits 1.
    """
    from dptab_core.jobs import run_in_foreground

    bar = ProgressBar(sys.stderr)
    job = run_in_foreground(spec, on_progress=bar.update)
    bar.close()
    status = job.status()
    if status.state != "succeeded":
        print(f"{what} job {job.id} {status.state}: {status.error or status.message}", file=sys.stderr)
        return 2 if status.state == "failed" and status.error and "internal error" not in status.error else 1
    print(f"wrote the {what} to {out} (ε spent {status.epsilon_spent:.3f} of {epsilon:g})")
    return 0
