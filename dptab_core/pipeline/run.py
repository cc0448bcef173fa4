"""One run of a method: its typed state (:class:`Run`) and the loop that runs its steps (:func:`run_stages`).

A method (DP-TabImage, or a baseline of :mod:`dptab_core.pipeline.methods`) is a list of named
steps, each a function of the :class:`Run`. The run carries what the steps share in memory (the
plan, the real data, the image model); what a resumed job needs again is also left in checkpoint
files (:mod:`dptab_core.pipeline.checkpoints`). Importing this module pulls in neither torch nor jax.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import numpy as np
import pandas as pd

from dptab_core.data.schema import Schema
from dptab_core.pipeline.checkpoints import mark_done, resumable_ledger
from dptab_core.pipeline.spec import SynthSpec
from dptab_core.privacy.ledger import Ledger, LedgerEntry
from dptab_core.privacy.plan import BudgetPlan

if TYPE_CHECKING:
    import torch

    from dptab_core.image.encoder import RecordEncoder
    from dptab_core.image.family import RecordConditionedModel

log = logging.getLogger(__name__)

STAGE_WEIGHTS = {
    "load": 1.0,
    "schema": 0.2,
    "semantic_query": 1.5,
    "pretrain": 1.5,
    "mean_pairs": 0.5,
    "warmup": 1.5,
    "table": 3.0,
    "dpsgd": 6.0,
    "sample": 0.5,
    "release": 0.5,
    "evaluate": 2.0,
}
"""Rough share of a quick-preset run's time per stage: turns stage progress into a whole-job fraction."""
NOT_RESUMED = frozenset({"load"})
"""Steps never marked done: ``load`` holds the data in memory only, so every attempt reads it again."""


class ProgressFn(Protocol):
    """``progress(stage, whole-job fraction, message, ε spent, *, epsilon_planned, stage_fraction)``."""

    def __call__(
        self,
        stage: str,
        fraction: float,
        message: str = "",
        epsilon_spent: float | None = None,
        *,
        epsilon_planned: float | None = None,
        stage_fraction: float | None = None,
    ) -> None: ...


class StageOrderError(RuntimeError):
    """A step read something an earlier step should have set (a bug in a method's step list)."""


@dataclass
class Run:
    """The state of one run, passed from step to step.

    ``plan``, ``table`` and ``images`` are set by the ``load`` step; ``model`` and ``encoder`` by the
    first step that needs the image model; ``device`` on first use (:meth:`torch_device`). Read the
    first three through :meth:`planned`, :meth:`real_table` and :meth:`real_images`, which say which
    step is missing instead of failing later on a None.
    """

    spec: SynthSpec
    work_dir: Path
    out_dir: Path
    owner_dir: Path
    progress: ProgressFn
    should_stop: Callable[[], bool]
    ledger: Ledger
    noise_rng: np.random.Generator
    schema: Schema
    plan: BudgetPlan | None = None
    table: pd.DataFrame | None = None
    images: np.ndarray | None = None
    model: RecordConditionedModel | None = None
    """The image model: the preset's family (:class:`~dptab_core.image.family.RecordConditionedModel`)."""
    encoder: RecordEncoder | None = None
    device: torch.device | None = None
    done_message: str | None = None
    """What the step that just finished wants shown once it is marked done (else its time)."""
    timings: dict[str, float] = field(default_factory=dict)
    stage_names: tuple[str, ...] = ()

    @classmethod
    def start(
        cls,
        spec: SynthSpec,
        *,
        out_dir: Path,
        work_dir: Path,
        progress: ProgressFn | None = None,
        should_stop: Callable[[], bool] | None = None,
        resuming: bool = False,
        owner_dir: Path | None = None,
    ) -> Run:
        """A new run of ``spec``: its folders made, its ledger fresh (or resumed), its noise generator drawn."""
        work_dir.mkdir(parents=True, exist_ok=True)
        out_dir.mkdir(parents=True, exist_ok=True)
        return cls(
            spec=spec,
            work_dir=work_dir,
            out_dir=out_dir,
            owner_dir=owner_dir or work_dir.parent / "owner_view",
            progress=progress or log_progress,
            should_stop=should_stop or _never,
            ledger=resumable_ledger(work_dir, resuming=resuming),
            noise_rng=noise_rng(spec),
            schema=Schema.from_dict(spec.schema),
        )

    def planned(self) -> BudgetPlan:
        """The budget plan the run spends under (set by ``load``)."""
        return _required(self.plan, "the budget plan")

    def real_table(self) -> pd.DataFrame:
        """The sensitive table (set by ``load``)."""
        return _required(self.table, "the real table")

    def real_images(self) -> np.ndarray:
        """The sensitive images, one per row of :meth:`real_table` (set by ``load``)."""
        return _required(self.images, "the real images")

    def torch_device(self) -> torch.device:
        """The torch device for the spec's ``device`` (resolved once per run)."""
        if self.device is None:
            from dptab_core.image.device import resolve_device

            self.device = resolve_device(self.spec.device)
        return self.device

    def spent_epsilon(self, pending: list[LedgerEntry] | None = None) -> float:
        """ε spent so far at the plan's δ: the ledger plus ``pending`` work not yet recorded (DP-SGD steps)."""
        from dptab_core.privacy import compose_entries

        if self.plan is None:
            return 0.0
        return compose_entries(self.ledger.entries + list(pending or []), delta=self.plan.delta)

    def report(
        self, stage: str, fraction: float, message: str = "", *, pending: list[LedgerEntry] | None = None
    ) -> None:
        """Emit a progress event for ``stage`` at ``fraction`` of it; stop here if a cancel arrived."""
        if self.should_stop():
            from dptab_core.jobs.context import JobCancelled

            raise JobCancelled(f"cancelled during {stage}")
        weights = [STAGE_WEIGHTS.get(name, 1.0) for name in self.stage_names] or [1.0]
        index = self.stage_names.index(stage) if stage in self.stage_names else 0
        overall = (sum(weights[:index]) + fraction * weights[index]) / sum(weights)
        self.progress(
            stage,
            overall,
            message,
            self.spent_epsilon(pending),
            epsilon_planned=self.plan.epsilon if self.plan else None,
            stage_fraction=fraction,
        )


StageFn = Callable[[Run], None]
Step = tuple[str, StageFn]
"""One named step of a method: ``(stage name, function of the run)``."""


def run_stages(run: Run, steps: Sequence[Step]) -> dict[str, Any]:
    """Run ``steps`` in order on ``run``; return ``{"timings", "epsilon_spent", "out_dir"}``.

    Each finished step is marked done (but ``load``) before its end is reported, so whatever it
    released is shown only once a resumed job would skip it rather than draw its noise again.
    """
    run.stage_names = tuple(name for name, _ in steps)
    for name, stage_fn in steps:
        started = time.perf_counter()
        run.report(name, 0.0, "starting")
        stage_fn(run)
        run.timings[name] = time.perf_counter() - started
        if name not in NOT_RESUMED:  # done before anything the stage released is shown (and before a cancel is seen)
            mark_done(run.work_dir, name)
        message, run.done_message = run.done_message or f"done in {run.timings[name]:.1f} s", None
        run.report(name, 1.0, message)  # raises if a cancel arrived meanwhile
    return {"timings": run.timings, "epsilon_spent": run.spent_epsilon(), "out_dir": str(run.out_dir)}


def noise_rng(spec: SynthSpec) -> np.random.Generator:
    """Privacy noise: from OS entropy unless the user asked for reproducible noise."""
    return np.random.default_rng(spec.seed + 7919 if spec.reproducible_noise else None)


_T = TypeVar("_T")


def _required(value: _T | None, what: str) -> _T:
    if value is None:
        raise StageOrderError(f"{what} is not set yet: the method's step list must run 'load' first")
    return value


def _never() -> bool:
    return False


def log_progress(
    stage: str,
    fraction: float,
    message: str = "",
    epsilon_spent: float | None = None,
    *,
    epsilon_planned: float | None = None,
    stage_fraction: float | None = None,
) -> None:
    """The progress of a run nobody follows: one line in the log per event."""
    log.info("[%s %3.0f%%] %s", stage, 100 * fraction, message)
