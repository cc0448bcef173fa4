"""The DP-TabImage pipeline: one run from a CSV + images to a released synthetic dataset.

Stages run in the order of DESIGN.md §2, each an accounted mechanism or pure post-processing::

    load → schema → semantic query → public pre-training → mean pairs → warm-up → table → DP-SGD → sample → release

Every noisy read of the sensitive data records a ledger entry where the noise is drawn; before
anything is written to the output folder the ledger is compared with the plan
(:func:`~dptab_core.privacy.verify_ledger_matches_plan`), and a mismatch stops the run.

Each finished stage leaves a checkpoint, so a resumed job (after a crash, a kill or a cancel)
continues from the last finished stage. The ledger entries of an unfinished stage are dropped on
resume: that stage runs again from scratch and nothing it computed the first time was released.

The same spec runs from the CLI (foreground or background) and from the app (background job).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import pandas as pd

from dptab_core.data.schema import Schema
from dptab_core.privacy.ledger import Ledger, LedgerEntry

log = logging.getLogger(__name__)

JOB_ENTRY = "dptab_core.pipeline:run_job"
STAGE_WEIGHTS = {"load": 1.0, "schema": 0.2, "semantic_query": 1.5, "pretrain": 1.5, "mean_pairs": 0.5,
                 "warmup": 1.5, "table": 3.0, "dpsgd": 6.0, "sample": 0.5, "release": 0.5, "evaluate": 2.0}
"""Rough share of a quick-preset run's time per stage: turns stage progress into a whole-job fraction."""


class ProgressFn(Protocol):
    """``progress(stage, whole-job fraction, message, ε spent, *, epsilon_planned, stage_fraction)``."""

    def __call__(self, stage: str, fraction: float, message: str = "", epsilon_spent: float | None = None, *,
                 epsilon_planned: float | None = None, stage_fraction: float | None = None) -> None: ...


@dataclass(frozen=True)
class SynthSpec:
    """Everything one synthesis run needs; JSON-able so a job folder can hold it as ``spec.json``.

    ``plan_options``: keyword arguments of :func:`dptab_core.privacy.plan_budget` beyond n_rows
    (epsilon, delta, shares, dpsgd, …); the preset fills what is left out. ``reproducible_noise``:
    draw the privacy noise from ``seed`` (tests, demos) instead of OS entropy — the report says so,
    because anyone who knows the seed could subtract the noise. ``preset_overrides``: numeric
    preset fields to change for this run (tests and benchmarks shrink runs this way; checked by
    :func:`dptab_core.planning.resolve_preset`). ``table_settings``: the table synthesizer's preset
    (``default``; ``fast`` for demos and tests, see :mod:`dptab_core.table.settings`).
    """

    csv_path: str
    images_path: str
    schema: dict[str, Any]
    plan_options: dict[str, Any]
    preset: str = "quick"
    public_dir: str | None = None
    seed: int = 0
    device: str = "auto"
    table_mechanism: Literal["mst", "aim"] = "aim"
    table_only: bool = False
    reproducible_noise: bool = False
    policy: dict[str, Any] = field(default_factory=dict)
    evaluate: bool = True
    preset_overrides: dict[str, Any] = field(default_factory=dict)
    table_settings: str = "default"

    def to_job_spec(self) -> dict[str, Any]:
        """The dict :func:`dptab_core.jobs.submit` takes."""
        return {"entry": JOB_ENTRY, "kind": "synth", **asdict(self)}

    @classmethod
    def from_job_spec(cls, spec: dict[str, Any]) -> SynthSpec:
        known = {k: v for k, v in spec.items() if k in cls.__dataclass_fields__}
        return cls(**known)


def make_synth_spec(*, csv_path: Path | str, images_path: Path | str, schema: Schema, plan_options: dict[str, Any],
                    preset: str = "quick", public_dir: Path | str | None = None, seed: int = 0,
                    device: str = "auto", **extra: Any) -> dict[str, Any]:
    """A job spec for :func:`dptab_core.jobs.submit` (what the app and ``synth --background`` send)."""
    spec = SynthSpec(csv_path=str(csv_path), images_path=str(images_path), schema=schema.to_dict(),
                     plan_options=dict(plan_options), preset=preset,
                     public_dir=str(public_dir) if public_dir else None, seed=seed, device=device, **extra)
    return spec.to_job_spec()


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
    from dptab_core import stages  # heavy imports (torch, jax) stay behind this line

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
