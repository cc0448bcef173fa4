"""DP-TabImage, the method itself: which stages run for a spec, in which order, and the job entry.

Stages run in the order of DESIGN.md §2, each an accounted mechanism or pure post-processing::

    load → schema → semantic query → public pre-training → mean pairs → table → warm-up → DP-SGD → sample → release

The table comes before the warm-up so that the latent family's mean map can be regressed on the
synthetic rows (:meth:`~dptab_core.image.latent.LatentGaussian.warm_start`).

A stage that finished in an earlier attempt of the job is skipped (:func:`steps` wraps it in
:func:`~dptab_core.pipeline.checkpoints.skip_if_done`), except those in :data:`ALWAYS_RUN`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from dptab_core.pipeline import stages
from dptab_core.pipeline.checkpoints import skip_if_done
from dptab_core.pipeline.run import ProgressFn, Run, Step, run_stages
from dptab_core.pipeline.spec import SynthSpec

ALWAYS_RUN = frozenset({"load", "release", "evaluate"})
"""Stages a resumed job runs again even when done: ``load`` holds the data in memory only, and every
attempt starts with an empty output folder, so the release (cheap, no noise drawn) and the data
owner's view are written again from the checkpoints."""


def steps(spec: SynthSpec) -> list[Step]:
    """The stages this spec runs, in order (``load`` always, since later stages need the data)."""
    if spec.table_only:
        names = ["load", "schema", "table", "release"]
    else:
        names = ["load", "schema"]
        if spec.public_dir:
            names += ["semantic_query", "pretrain"]
        names += ["mean_pairs", "table", "warmup", "dpsgd", "sample", "release"]
    if spec.evaluate:  # table-only releases get the table half of the data owner's comparison
        names.append("evaluate")
    return [
        (name, stages.STAGES[name] if name in ALWAYS_RUN else skip_if_done(name, stages.STAGES[name])) for name in names
    ]


def run_pipeline(
    spec: SynthSpec,
    *,
    out_dir: Path,
    work_dir: Path,
    progress: ProgressFn | None = None,
    should_stop: Callable[[], bool] | None = None,
    resuming: bool = False,
    owner_dir: Path | None = None,
) -> dict[str, Any]:
    """Run every stage of ``spec``; write the release into ``out_dir``; return a summary dict.

    The data owner's view (``evaluate``) goes to ``owner_dir``, by default ``owner_view/`` next to
    ``work_dir``: never inside ``out_dir``, which is meant to be shared.
    """
    run = Run.start(
        spec,
        out_dir=out_dir,
        work_dir=work_dir,
        progress=progress,
        should_stop=should_stop,
        resuming=resuming,
        owner_dir=owner_dir,
    )
    return run_stages(run, steps(spec))


def run_job(spec: dict[str, Any], ctx: Any) -> None:
    """Job entry point: the worker calls this with the job's spec and its context."""
    owner = getattr(ctx, "owner_dir", None)
    run_pipeline(
        SynthSpec.from_job_spec(spec),
        out_dir=Path(ctx.output_dir),
        work_dir=Path(ctx.checkpoint_dir),
        progress=ctx.progress,
        should_stop=ctx.should_stop,
        resuming=bool(ctx.resuming),
        owner_dir=Path(owner) if owner else None,
    )
