"""One run of the pipeline: the state passed from stage to stage, and the loop that runs the stages."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from dptab_core.data.schema import Schema
from dptab_core.pipeline.spec import SynthSpec
from dptab_core.privacy.ledger import Ledger, LedgerEntry

log = logging.getLogger(__name__)

STAGE_WEIGHTS = {"load": 1.0, "schema": 0.2, "semantic_query": 1.5, "pretrain": 1.5, "mean_pairs": 0.5,
                 "warmup": 1.5, "table": 3.0, "dpsgd": 6.0, "sample": 0.5, "release": 0.5, "evaluate": 2.0}
"""Rough share of a quick-preset run's time per stage: turns stage progress into a whole-job fraction."""


class ProgressFn(Protocol):
    """``progress(stage, whole-job fraction, message, ε spent, *, epsilon_planned, stage_fraction)``."""

    def __call__(self, stage: str, fraction: float, message: str = "", epsilon_spent: float | None = None, *,
                 epsilon_planned: float | None = None, stage_fraction: float | None = None) -> None: ...


def run_job(spec: dict[str, Any], ctx: Any) -> None:
    """Job entry point: the worker calls this with the job's spec and its context."""
    owner = getattr(ctx, "owner_dir", None)
    run_pipeline(SynthSpec.from_job_spec(spec), out_dir=Path(ctx.output_dir), work_dir=Path(ctx.checkpoint_dir),
                 progress=ctx.progress, should_stop=ctx.should_stop, resuming=bool(ctx.resuming),
                 owner_dir=Path(owner) if owner else None)

@dataclass
class _Run:
    """Mutable state of one pipeline run, passed from stage to stage."""

    spec: SynthSpec
    work_dir: Path
    out_dir: Path
    owner_dir: Path
    progress: ProgressFn
    should_stop: Callable[[], bool]
    ledger: Ledger
    noise_rng: np.random.Generator
    schema: Schema
    plan: Any = None
    table: pd.DataFrame | None = None
    images: np.ndarray | None = None
    n_dropped: dict[str, int] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)

    def spent_epsilon(self, pending: list[LedgerEntry] | None = None) -> float:
        """ε spent so far at the plan's δ: the ledger plus ``pending`` work not yet recorded (DP-SGD steps)."""
        from dptab_core.privacy import compose_entries
        if self.plan is None:
            return 0.0
        return compose_entries(self.ledger.entries + list(pending or []), delta=self.plan.delta)

    stage_names: tuple[str, ...] = ()

    def report(self, stage: str, fraction: float, message: str = "", *,
               pending: list[LedgerEntry] | None = None) -> None:
        """Emit a progress event for ``stage`` at ``fraction`` of it; stop here if a cancel arrived."""
        if self.should_stop():
            from dptab_core.jobs.context import JobCancelled
            raise JobCancelled(f"cancelled during {stage}")
        weights = [STAGE_WEIGHTS.get(name, 1.0) for name in self.stage_names] or [1.0]
        index = self.stage_names.index(stage) if stage in self.stage_names else 0
        overall = (sum(weights[:index]) + fraction * weights[index]) / sum(weights)
        self.progress(stage, overall, message, self.spent_epsilon(pending),
                      epsilon_planned=self.plan.epsilon if self.plan else None, stage_fraction=fraction)


def run_pipeline(spec: SynthSpec, *, out_dir: Path, work_dir: Path, progress: ProgressFn | None = None,
                 should_stop: Callable[[], bool] | None = None, resuming: bool = False,
                 owner_dir: Path | None = None) -> dict[str, Any]:
    """Run every stage of ``spec``; write the release into ``out_dir``; return a summary dict.

    The data owner's view (``evaluate``) goes to ``owner_dir``, by default ``owner_view/`` next to
    ``work_dir``: never inside ``out_dir``, which is meant to be shared.
    """
    from dptab_core.pipeline import stages  # heavy imports (torch, jax) stay behind this line

    work_dir.mkdir(parents=True, exist_ok=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    run = _Run(spec=spec, work_dir=work_dir, out_dir=out_dir, owner_dir=owner_dir or work_dir.parent / "owner_view",
               progress=progress or _quiet,
               should_stop=should_stop or (lambda: False),
               ledger=stages.resumable_ledger(work_dir, resuming=resuming),
               noise_rng=_noise_rng(spec), schema=Schema.from_dict(spec.schema))
    plan = stages.stage_functions(spec)
    run.stage_names = tuple(name for name, _ in plan)
    for name, stage_fn in plan:
        started = time.perf_counter()
        run.report(name, 0.0, "starting")
        stage_fn(run)
        run.timings[name] = time.perf_counter() - started
        if name != "load":  # done before anything the stage released is shown (and before a cancel is seen)
            stages.mark_done(run, name)
        message = run.notes.pop("done_message", None) or f"done in {run.timings[name]:.1f} s"
        run.report(name, 1.0, message)  # raises if a cancel arrived meanwhile
    return {"timings": run.timings, "epsilon_spent": run.spent_epsilon(), "out_dir": str(out_dir)}


def _noise_rng(spec: SynthSpec) -> np.random.Generator:
    """Privacy noise: from OS entropy unless the user asked for reproducible noise."""
    return np.random.default_rng(spec.seed + 7919 if spec.reproducible_noise else None)


def _quiet(stage: str, fraction: float, message: str = "", epsilon_spent: float | None = None,
           **_: Any) -> None:
    log.info("[%s %3.0f%%] %s", stage, 100 * fraction, message)
