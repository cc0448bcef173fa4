"""Baselines and the ε sweep: the same data through DP-TabImage and simpler methods, at several ε.

A privacy officer judges a number by what the alternatives give. Most baselines are a named change
to the run's :class:`~dptab_core.pipeline.SynthSpec` (data, not code paths), so each is the real
pipeline with one ingredient removed, spends the same (ε, δ), and is evaluated by the same
:func:`~dptab_core.eval.evaluate.evaluate_arrays`:

* ``dp-tabimage`` — the full method;
* ``independent`` — the same release with images re-paired to rows at random: what generating the
  table and the images independently keeps (all the marginals, none of the links). It is
  post-processing of the full run, so it costs no extra run and no extra ε;
* ``no-warmup`` — no DP mean pairs (hence no warm-up): DP-SGD alone must learn the conditioning;
* ``no-pretrain`` — no public data (no semantic query, no public pre-training);
* ``table-only`` — the table synthesizer (AIM or MST) alone, no images: the table-fidelity reference;
* ``image-first`` — the opposite order: record-free DP images first, then MST rows paired with them
  by a DP attribute reader (:mod:`dptab_core.pipeline.methods.image_first`; its own method, same (ε, δ));
* ``non-private`` — NOT PRIVATE (ε = ∞): the conditional model trained without DP, the real rows as
  the table (:mod:`dptab_core.pipeline.methods.non_private`). Run once per sweep, not per ε: its row has
  ``epsilon`` None and ``guarantee`` saying it is not private.

:func:`run_sweep` writes ``sweep.json`` (one row per method and ε: the headline metrics) that
:func:`dptab_core.eval.figures.metric_vs_epsilon_figure` draws; :func:`run_job` is its job entry.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dptab_core.data.schema import Schema
from dptab_core.errors import InputError
from dptab_core.eval.evaluate import (
    DEFAULT_EVAL_CONFIG,
    HEADLINE_METRICS,
    EvalConfig,
    evaluate_arrays,
    headline,
    load_synthetic_run,
)
from dptab_core.pipeline.baselines import BASELINES as BASELINES  # re-exported: the sweep's public name
from dptab_core.pipeline.baselines import Baseline as Baseline
from dptab_core.pipeline.methods import METHODS, MethodRun
from dptab_core.pipeline.spec import SWEEP_KIND, SynthSpec

SWEEP_FILE = "sweep.json"
"""The rows file an ε sweep writes into its output folder (what the ε explorer reads)."""


DP_GUARANTEE = "(ε, δ)-DP"
NO_GUARANTEE = "NOT PRIVATE (ε = ∞)"
"""The ``guarantee`` of a sweep row: every row says whether its method is private at all."""

UTILITY_METRICS = (
    "image.tstr_accuracy",
    "cross_modal.agreement_normalised",
    "table.tvd_2way",
    "image.recall",
    "table.tvd_1way",
    "image.fd",
)
"""Metrics that say how *useful* the synthetic data is, most telling first: the ε explorer opens on the
first one a sweep measured (ε spent is the cost axis, never the default metric)."""
MINUTES_PER_RUN = {"quick": 4.5, "standard": 30.0}
"""One pipeline run's wall time per preset on 2 CPU cores: quick measured end to end on the 2,000-row demo
with the defaults of 2026-11-23 (MST, Opacus hooks: 213 s pipeline + evaluation; not re-timed with today's
defaults), standard predicted from timed steps (benchmarks/bench_preset_cost.py)."""


def baseline_spec(spec: SynthSpec, baseline: Baseline, *, epsilon: float | None) -> SynthSpec:
    """The spec of ``baseline`` at ``epsilon`` (evaluation off: the sweep evaluates every run itself).

    ``epsilon`` None (the non-private baseline) leaves the spec's plan options as they are.
    """
    plan_options = {**spec.plan_options, **baseline.plan_changes}
    if epsilon is not None:
        plan_options["epsilon"] = float(epsilon)
    return dataclasses.replace(spec, plan_options=plan_options, evaluate=False, **baseline.spec_changes)


def run_tag(method: str, epsilon: float | None) -> str:
    """The folder name of one run of a sweep: ``dp-tabimage_eps1``; ``non-private`` (run once, no ε).

    >>> run_tag("no-warmup", 10.0), run_tag("non-private", None)
    ('no-warmup_eps10', 'non-private')
    """
    return method if epsilon is None else f"{method}_eps{epsilon:g}"


def baseline_runner(baseline: Baseline, default: MethodRun | None = None) -> MethodRun:
    """The run function of ``baseline``: its method's, or ``default`` (when given) for DP-TabImage's variants."""
    if default is not None and baseline.method == "dp-tabimage":
        return default
    return METHODS[baseline.method].run


def run_sweep(
    spec: SynthSpec,
    *,
    epsilons: Sequence[float],
    baselines: Sequence[str],
    out_root: Path,
    real_table: pd.DataFrame,
    real_images: np.ndarray,
    run_fn: MethodRun | None = None,
    progress: Callable[[str, float, str], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    config: EvalConfig = DEFAULT_EVAL_CONFIG,
    cache_dir: Path | None = None,
    runners: dict[str, MethodRun] | None = None,
) -> list[dict[str, Any]]:
    """Run every (baseline, ε), evaluate each against the real data, write and return the sweep rows.

    ``run_fn`` runs the pipeline baselines; ``runners`` (method → run function) replaces a baseline's
    own runner (tests). A non-private baseline runs once, its row with ``epsilon`` None.
    """
    unknown = [b for b in baselines if b not in BASELINES]
    if unknown:
        raise InputError(f"unknown baseline(s) {unknown}", where="--baselines", hint=f"Choose from {list(BASELINES)}.")
    chosen = [BASELINES[b] for b in baselines]
    runs: list[tuple[float | None, Baseline]] = [
        (eps, b) for eps in epsilons for b in chosen if b.private and not b.shuffle_pairs
    ]
    if any(b.shuffle_pairs for b in chosen) and "dp-tabimage" not in baselines:
        runs += [(eps, BASELINES["dp-tabimage"]) for eps in epsilons]  # the shuffled baseline reads its release
    runs += [(None, b) for b in chosen if not b.private]
    rows: list[dict[str, Any]] = []
    for i, (eps, baseline) in enumerate(runs):
        tag = run_tag(baseline.name, eps)
        if progress:
            at = "once, NOT PRIVATE" if eps is None else f"at ε = {eps:g}"
            progress("sweep", i / len(runs), f"running {baseline.name} {at}")
        fn = (runners or {}).get(baseline.name) or baseline_runner(baseline, run_fn)
        fn(
            baseline_spec(spec, baseline, epsilon=eps),
            out_dir=out_root / tag,
            work_dir=out_root / "work" / tag,
            progress=None,
            should_stop=should_stop,
        )
        syn_table, syn_images, schema, report = _load_run(out_root / tag, table_only=baseline.name == "table-only")
        variants = [(baseline.name, syn_table)]
        if baseline.name == "dp-tabimage" and any(BASELINES[b].shuffle_pairs for b in baselines):
            order = np.random.default_rng(config.seed).permutation(len(syn_table))
            variants.append(("independent", syn_table.iloc[order].reset_index(drop=True)))
        for name, table in variants:
            if name not in baselines:
                continue
            metrics = (
                _table_only_metrics(real_table, table, schema)
                if syn_images is None
                else evaluate_arrays(
                    real_table, real_images, table, syn_images, schema, config=config, cache_dir=cache_dir
                ).metrics
            )
            rows.append(
                {
                    "method": name,
                    "epsilon": None if eps is None else float(eps),
                    "epsilon_spent": (report.get("spent") or {}).get("epsilon") if baseline.private else None,
                    "guarantee": DP_GUARANTEE if baseline.private else NO_GUARANTEE,
                    **headline(metrics),
                }
            )
    out_root.mkdir(parents=True, exist_ok=True)
    (out_root / SWEEP_FILE).write_text(
        json.dumps({"metrics": HEADLINE_METRICS, "rows": rows}, indent=2), encoding="utf-8"
    )
    if progress:
        progress("sweep", 1.0, f"{len(rows)} results")
    return rows


def _load_run(out_dir: Path, *, table_only: bool) -> tuple[pd.DataFrame, np.ndarray | None, Schema, dict[str, Any]]:
    """(synthetic table, images or None, released schema, privacy report) of one finished run."""
    if not table_only:
        table, images, schema, report, _ = load_synthetic_run(out_dir)
        return table, images, schema, report
    report = json.loads((out_dir / "privacy_report.json").read_text(encoding="utf-8"))
    return pd.read_csv(out_dir / "synthetic.csv"), None, Schema.load(out_dir / "schema.json"), report


def _table_only_metrics(
    real_table: pd.DataFrame, synthetic_table: pd.DataFrame, schema: Schema
) -> dict[str, dict[str, float]]:
    from dptab_core.data.encoding import domain_size, encode_table
    from dptab_core.eval.table_metrics import tvd_1way, tvd_2way

    sizes = {c.name: domain_size(c) for c in schema.synthesized_columns()}
    real, syn = encode_table(real_table, schema), encode_table(synthetic_table, schema)
    return {"table": {"tvd_1way": tvd_1way(real, syn, sizes)["mean"], "tvd_2way": tvd_2way(real, syn, sizes)["mean"]}}


def run_job(spec: dict[str, Any], ctx: Any) -> None:
    """Job entry: ``spec`` = ``{"synth": <SynthSpec dict>, "epsilons": [...], "baselines": [...]}``."""
    from dptab_core.data.ingest import load_paired_dataset
    from dptab_core.workspace import workspace_dir

    synth = SynthSpec.from_job_spec(spec["synth"])
    real = load_paired_dataset(Path(synth.csv_path), Path(synth.images_path), Schema.from_dict(synth.schema))
    run_sweep(
        synth,
        epsilons=spec["epsilons"],
        baselines=spec["baselines"],
        out_root=Path(ctx.output_dir),
        real_table=real.table,
        real_images=real.images,
        progress=ctx.progress,
        should_stop=ctx.should_stop,
        cache_dir=workspace_dir("cache", "eval"),
    )


def sweep_job_spec(
    synth: dict[str, Any], *, epsilons: Sequence[float], baselines: Sequence[str], dataset_name: str | None = None
) -> dict[str, Any]:
    """The job spec of an ε sweep over ``synth`` (a :func:`dptab_core.pipeline.make_synth_spec` dict), as
    ``python -m dptab_core sweep`` submits it; the app's explorer sends the same."""
    unknown = [b for b in baselines if b not in BASELINES]
    if unknown or not baselines:
        raise InputError(
            f"unknown or no method(s): {', '.join(unknown) or 'none chosen'}",
            hint=f"Choose from: {', '.join(BASELINES)}.",
        )
    if not epsilons or any(not 0 < float(e) < 1e3 for e in epsilons):
        raise InputError("choose at least one ε above 0", where="sweep")
    synth = {**synth, "evaluate": False}
    return {
        "entry": SWEEP_KIND,
        "kind": SWEEP_KIND,
        "synth": synth,
        "epsilons": [float(e) for e in epsilons],
        "baselines": list(baselines),
        **({"dataset_name": dataset_name} if dataset_name else {}),
    }


@dataclass(frozen=True)
class SweepEstimate:
    """What a sweep will cost before it starts: runs, wall time, and the ε its private runs spend."""

    runs: int
    private_runs: int
    epsilon_total: float
    minutes: float | None

    def sentence(self) -> str:
        time = f"about {self.minutes:,.0f} min on 2 CPU cores" if self.minutes is not None else "time not measured"
        return (
            f"{self.runs} training run(s), {time}; its {self.private_runs} private run(s) read your data "
            f"again and spend ε = {self.epsilon_total:g} in total (basic composition), charged to this "
            "dataset's budget — none of them is a release"
        )


def estimate_sweep(spec: dict[str, Any]) -> SweepEstimate:
    """The cost of a sweep job spec: its runs (as the per-dataset budget counts them), time and Σ ε."""
    from dptab_core.privacy.dataset_budget import planned_runs

    runs = planned_runs(spec)
    private = [r for r in runs if r.private]
    per_run = MINUTES_PER_RUN.get(spec["synth"].get("preset", "quick"))
    return SweepEstimate(
        runs=len(runs),
        private_runs=len(private),
        epsilon_total=sum(r.epsilon for r in private),
        minutes=None if per_run is None else per_run * len(runs),
    )


def default_metric(rows: list[dict[str, Any]]) -> str | None:
    """The explorer's first metric: the first utility metric the sweep measured."""
    measured = {k for r in rows for k, v in r.items() if isinstance(v, int | float) and v is not None}
    return next((m for m in UTILITY_METRICS if m in measured), None)


def load_sweep(folder: Path) -> list[dict[str, Any]]:
    """The rows of a finished sweep (what the ε explorer page draws)."""
    rows: list[dict[str, Any]] = json.loads((Path(folder) / SWEEP_FILE).read_text(encoding="utf-8"))["rows"]
    return rows
