"""Tiny job functions for the job tests (each exercises one way a job can run or end), and helpers.

They take their orders from the spec and coordinate with the test through files (``release`` to let
a waiting job go on), never through sleeps of a guessed length.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

from dptab_core.errors import InputError
from dptab_core.jobs import Job, JobContext, JobStatus, JobStore
from dptab_core.jobs.process import is_alive

# A job that waits for its release file gives up after this long, so a broken test never leaves a
# worker behind for longer than this.
WAIT_LIMIT_S = 60.0


def _wait_for(path: Path, ctx: JobContext, *, honour_stop: bool = True) -> None:
    deadline = time.monotonic() + WAIT_LIMIT_S
    while not path.exists():
        if honour_stop:
            ctx.raise_if_stopped()
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} never appeared")
        time.sleep(0.02)


def write_outputs(spec: dict, ctx: JobContext) -> None:
    """Two stages with progress and ε, then one output file."""
    ctx.progress("prepare", 0.25, "reading", epsilon_spent=0.0, epsilon_planned=2.0)
    ctx.log.info("halfway there")
    ctx.progress("train", 0.75, "training", epsilon_spent=1.5)
    (ctx.output_dir / "result.txt").write_text(spec.get("text", "ok"), encoding="utf-8")


def fail_with_input_error(spec: dict, ctx: JobContext) -> None:
    ctx.progress("schema", 0.1)
    raise InputError("column 'age' has no values", where="table.csv", hint="Fill the column or drop it.")


def fail_with_bug(spec: dict, ctx: JobContext) -> None:
    ctx.progress("table", 0.4)
    raise ValueError("secret internals")


def wait_for_release(spec: dict, ctx: JobContext) -> None:
    """Report stage 'waiting', write a partial output, then wait for spec['release'] (or a stop)."""
    ctx.progress("waiting", 0.5, "waiting for the release file")
    (ctx.output_dir / "half.txt").write_text("half", encoding="utf-8")
    print("worker is waiting", flush=True)
    _wait_for(Path(spec["release"]), ctx, honour_stop=not spec.get("ignore_stop", False))
    (ctx.output_dir / "done.txt").write_text("done", encoding="utf-8")


def resumable(spec: dict, ctx: JobContext) -> None:
    """First run: checkpoint step 1, then fail. Resumed run: continue from the checkpoint."""
    checkpoint = ctx.checkpoint_dir / "step.json"
    if not ctx.resuming:
        checkpoint.write_text(json.dumps({"step": 1}), encoding="utf-8")
        ctx.progress("train", 0.5, "step 1 done")
        raise RuntimeError("simulated crash after step 1")
    step = json.loads(checkpoint.read_text(encoding="utf-8"))["step"]
    ctx.progress("train", 1.0, f"continued after step {step}")
    (ctx.output_dir / "resumed.json").write_text(
        json.dumps({"resuming": ctx.resuming, "from_step": step}), encoding="utf-8"
    )


def rapid_progress(spec: dict, ctx: JobContext) -> None:
    """Report progress as fast as possible, spec['events'] times."""
    n = int(spec["events"])
    for i in range(n):
        ctx.progress("train", (i + 1) / n, f"step {i + 1}", epsilon_spent=i / n)


# --- helpers for the tests that run real workers ------------------------------------------------

TESTS_DIR = Path(__file__).resolve().parent


def isolated_store(tmp_path: Path, monkeypatch) -> JobStore:
    """A job store in tmp_path whose workers can import and run this module (``jobfuncs:...`` entries)."""
    monkeypatch.setenv("DPTAB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DPTAB_EXTRA_JOB_MODULES", "jobfuncs")  # the registry lets tests add their own module
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (str(TESTS_DIR), os.environ.get("PYTHONPATH")) if p))
    return JobStore(tmp_path / "home" / "jobs")


def kill_leftover_workers(store: JobStore) -> None:
    """After a test, SIGKILL any worker of this store still running, so no test leaves a process behind."""
    for job in store.list():
        status = job.status()
        if status.state == "running" and status.pgid and is_alive(status.pid, status.start_token):
            os.killpg(status.pgid, signal.SIGKILL)


def wait_until(predicate, *, timeout_s: float = 30.0, what: str = "the condition") -> None:
    """Poll ``predicate`` until it holds; fail the test with ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(0.02)


def wait_for_state(job: Job, *states: str, timeout_s: float = 30.0) -> JobStatus:
    """Wait until the job is in one of ``states`` and return its status."""
    wait_until(
        lambda: job.status().state in states,
        timeout_s=timeout_s,
        what=f"job {job.id} to reach {states} (it is {job.status().state}; log: {job.log_tail(5)!r})",
    )
    return job.status()


def wait_for_stage(job: Job, stage: str, timeout_s: float = 30.0) -> JobStatus:
    wait_until(
        lambda: job.status().stage == stage,
        timeout_s=timeout_s,
        what=f"job {job.id} to reach stage {stage!r} (log: {job.log_tail(5)!r})",
    )
    return job.status()
