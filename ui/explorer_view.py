"""The ε explorer's data: the planner run at every ε of the scale, and the newest ε-sweep job's rows.

Rows use the ``{"method", "epsilon", <metric>: value}`` shape of
:func:`dptab_core.eval.figures.metric_vs_epsilon_figure`, so planner and sweep share one chart.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import streamlit as st

from dptab_core.errors import PlanError
from dptab_core.eval.evaluate import HEADLINE_METRICS
from dptab_core.jobs.store import SUCCEEDED, JobStore
from dptab_core.pipeline.spec import SWEEP_KIND
from dptab_core.pipeline.sweep import BASELINES, SWEEP_FILE, default_metric, estimate_sweep, sweep_job_spec
from ui import budget_view as bv
from ui.state import StudioState

NOISE_MEASURES = {
    "table noise (rows per count)": "Noise on one column count of the synthetic table's model.",
    "mean-image noise (per pixel)": "Noise per pixel on a mean image of the demo's typical cell size.",
    "DP-SGD noise multiplier": "Noise on each training step of the image model, relative to one person's gradient.",
}


@st.cache_data(show_spinner="Planning every ε on the scale…", max_entries=16)
def plan_each_epsilon(
    options: dict[str, Any], key: str, _state: StudioState, mechanism: str = "aim"
) -> list[dict[str, Any]]:
    """The plan at each ε of the scale with the other options unchanged (rejected ε values skipped).

    ``key`` (from :func:`state_key`) names what of the state the plans depend on, for the cache.
    """
    n_columns = len(_state.schema.synthesized_columns())
    cell = bv.stand_in().value_share * _state.n_rows
    rows = []
    for epsilon in bv.EPSILON_STEPS:
        try:
            plan = bv.make_plan({**options, "epsilon": epsilon}, _state)
        except PlanError:
            continue
        row: dict[str, Any] = {"method": "this plan", "epsilon": epsilon}
        if plan.stages["table"].enabled:
            row["table noise (rows per count)"] = bv.one_way_sigma(plan, n_columns=n_columns, mechanism=mechanism)
        if plan.stages["mean_pairs"].enabled:
            row["mean-image noise (per pixel)"] = bv.mean_pixel_sigma(
                plan, cell_rows=cell, n_columns=n_columns, preset=_state.preset
            )
        if plan.stages["dpsgd"].enabled:
            row["DP-SGD noise multiplier"] = plan.stages["dpsgd"].params["noise_multiplier"]
        rows.append(row)
    return rows


def state_key(state: StudioState) -> str:
    """What a plan depends on besides the options: the dataset, its size and schema, the preset."""
    return f"{state.dataset_name}|{state.n_rows}|{state.preset}|{state.public_dir}|{hash(state.schema)}"


def as_table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The planner rows as a readable table (ε first, three significant digits)."""
    frame = pd.DataFrame(rows).drop(columns="method")
    return frame.map(lambda v: float(f"{v:.3g}") if isinstance(v, float) else v)


def latest_sweep() -> list[dict[str, Any]] | None:
    """Rows of the newest finished ε-sweep job in the workspace, or None when there is none."""
    for job in JobStore().list():
        try:
            if job.spec.get("kind") != SWEEP_KIND or job.status().state != SUCCEEDED:
                continue
            data = json.loads((job.output_path / SWEEP_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        return data["rows"] if isinstance(data, dict) else data
    return None


def sweep_metrics(rows: list[dict[str, Any]]) -> list[str]:
    """The metrics one can plot, a utility metric first (the default); ε spent (the cost) last."""
    names = [
        k for k in dict.fromkeys(k for r in rows for k, v in r.items() if isinstance(v, int | float)) if k != "epsilon"
    ]
    first = default_metric(rows)
    ordered = ([first] if first else []) + [n for n in names if n != first and n != "epsilon_spent"]
    return ordered + (["epsilon_spent"] if "epsilon_spent" in names else [])


def metric_label(key: str) -> str:
    """A sweep metric in words (the sweep's own labels)."""
    return {**HEADLINE_METRICS, "epsilon_spent": "ε spent (the cost, not a quality)"}.get(key, key)


def running_sweep() -> Any:
    """The newest ε-sweep job that is still queued or running, or None."""
    for job in JobStore().list():
        try:
            if job.spec.get("kind") == SWEEP_KIND and not job.status().finished:
                return job
        except (OSError, ValueError):
            continue
    return None


SWEEP_EPSILONS = (0.5, 1.0, 3.0, 10.0)
DEFAULT_SWEEP = {"epsilons": [1.0, 3.0, 10.0], "baselines": ["dp-tabimage", "independent"]}


def sweep_form(state: StudioState, spec_of_state: Any) -> dict[str, Any] | None:
    """The start-a-sweep form: ε values, methods, the cost estimate; returns the job spec when started."""
    epsilons = st.multiselect("ε values", SWEEP_EPSILONS, default=DEFAULT_SWEEP["epsilons"], key="sweep_eps")
    methods = st.multiselect(
        "Methods",
        list(BASELINES),
        default=DEFAULT_SWEEP["baselines"],
        key="sweep_methods",
        format_func=lambda n: f"{n} — {BASELINES[n].description}",
    )
    if not epsilons or not methods:
        st.caption("Choose at least one ε and one method.")
        return None
    spec = sweep_job_spec(
        spec_of_state(), epsilons=sorted(epsilons), baselines=methods, dataset_name=state.dataset_name
    )
    estimate = estimate_sweep(spec)
    st.markdown(f"**Cost:** {estimate.sentence()}.")
    spent = dataset_spend(state)
    if spent is not None:
        st.caption(f"So far {spent.sentence()}.")
    if st.button("Start the sweep", type="primary", key="start_sweep"):
        return spec
    return None


def dataset_spend(state: StudioState) -> Any:
    """This dataset's privacy spend so far (the per-dataset budget), or None when nothing was charged."""
    from dptab_core.privacy.dataset_budget import spend_of

    try:
        return spend_of(state.csv_path, state.images_path)
    except (OSError, ValueError):
        return None
