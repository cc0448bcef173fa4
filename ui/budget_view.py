"""The Budget page's pieces: the ε scale, the δ default, plan options ↔ planner, the accountant panel.

Planning uses only n and the schema; the noise pictures use a *public stand-in* (a fresh draw of the
demo generator, never the user's rows) scaled to the user's n, so the page reads no private data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from dptab_core.data.demo import demo_schema as _demo_schema
from dptab_core.data.demo import generate_table
from dptab_core.data.encoding import code_labels, encode_column
from dptab_core.image.presets import get_preset
from dptab_core.privacy.plan import BudgetPlan, plan_budget
from dptab_core.privacy.settings import DPSGDSettings, SemanticQuerySettings
from dptab_core.table.settings import MSTSettings
from ui import charts

EPSILON_STEPS = (0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.5, 2.0, 3.0, 5.0, 7.0, 10.0, 15.0, 20.0, 30.0, 50.0)
"""Round values on a roughly logarithmic scale: equal slider steps are equal *ratios* of ε."""
DEFAULT_EPSILON = 3.0
LARGE_EPSILON = 10.0
"""At or above this ε the page warns: published deployments rarely go beyond it."""
DELTA_STEPS = tuple(10.0 ** -k for k in range(12, 3, -1))
STAND_IN_SEED = 12_345
"""Seed of the public stand-in drawn from the demo generator (a different draw from the demo data)."""
STAND_IN_ROWS = 4000
PICTURE_COLUMN, PICTURE_VALUE = "age", "melanoma"
"""The histogram shows the demo's age column; the mean image is the demo's mean melanoma photo."""
STAGE_LABELS = {"schema": "Schema", "semantic_query": "Public-image query", "mean_pairs": "Mean images",
                "table": "Table", "dpsgd": "Image model (DP-SGD)"}


def default_delta(n_rows: int) -> float:
    """The largest power of ten at or below min(1e-5, 1/(10 n)).

    δ bounds the chance that the guarantee fails outright; it must sit well below 1/n, or a
    mechanism publishing one random person's row would qualify. 1/(10 n) keeps that margin, and
    1e-5 is the common ceiling in published deployments.
    """
    return 10.0 ** math.floor(math.log10(min(1e-5, 1.0 / (10 * n_rows))))


def plan_options(*, epsilon: float, delta: float, shares: dict[str, float], epochs: int, batch_size: int,
                 semantic_query: bool) -> dict[str, Any]:
    """The JSON-able plan options stored in the state and sent with the job spec."""
    return {"epsilon": epsilon, "delta": delta, "shares": shares,
            "dpsgd": {"epochs": epochs, "batch_size": batch_size}, "semantic_query": {"enabled": semantic_query}}


def make_plan(options: dict[str, Any], *, n_rows: int, n_paid_columns: int) -> BudgetPlan:
    """Call the planner with the stored options (the one engine call the page makes per redraw)."""
    return plan_budget(epsilon=options["epsilon"], delta=options["delta"], n_rows=n_rows, shares=options["shares"],
                       dpsgd=DPSGDSettings(**options["dpsgd"]),
                       semantic_query=SemanticQuerySettings(**options["semantic_query"]),
                       n_paid_columns=n_paid_columns)


@dataclass(frozen=True)
class StandIn:
    """Public pictures to put noise on: one column's shares, and one mean image in [0, 1]."""

    labels: list[str]
    shares: np.ndarray
    mean_image: np.ndarray
    value_share: float


@st.cache_resource(show_spinner=False)
def stand_in() -> StandIn:
    """Drawn once per server from the public demo generator (no user data involved)."""
    from dptab_core.data.demo_images import render_lesion_images

    rng = np.random.default_rng(STAND_IN_SEED)
    table = generate_table(STAND_IN_ROWS, rng=rng)
    column = _demo_schema().column(PICTURE_COLUMN)
    codes = encode_column(table[PICTURE_COLUMN], column)
    labels = code_labels(column)
    shares = np.bincount(codes, minlength=len(labels)) / len(codes)
    rows = table[table["diagnosis"] == PICTURE_VALUE].head(200)
    mean = render_lesion_images(pd.DataFrame(rows), rng=rng).astype(float).mean(axis=0) / 255
    return StandIn(labels=labels[:-1], shares=shares[:-1], mean_image=mean, value_share=len(rows) / STAND_IN_ROWS)


def one_way_sigma(plan: BudgetPlan, *, n_columns: int) -> float:
    """Noise std (rows) on one count of a 1-way marginal as MST measures it: ρ·f₁ split over d columns."""
    rho_one = plan.stages["table"].params["rho"] * MSTSettings().budget_fractions[0] / n_columns
    return math.sqrt(1.0 / (2 * rho_one))


def mean_pixel_sigma(plan: BudgetPlan, *, cell_rows: float, preset: str = "quick") -> float:
    """Noise std per pixel (in [0, 1]) of one released mean image averaging ``cell_rows`` rows.

    The sum of clipped images gets noise of std z·C per coordinate, C the preset's L2 clip bound on
    images in [-1, 1]; dividing by the count and halving (to [0, 1]) gives the pixel noise.
    """
    p = get_preset(preset)
    clip = p.mean_pair_clip_norm(3)
    return plan.stages["mean_pairs"].params["noise_multiplier"] * clip / (2 * max(cell_rows, 1.0))


def stage_table(plan: BudgetPlan) -> pd.DataFrame:
    """One row per stage: share, standalone ε, the noise parameter that matters, in plain words."""
    rows = []
    for name, stage in plan.stages.items():
        noise = ("—" if not stage.enabled else f"ρ = {stage.params['rho']:.4g}" if "rho" in stage.params
                 else f"σ = {stage.params['noise_multiplier']:.3g} × clip")
        rows.append({"stage": STAGE_LABELS[name], "on": "yes" if stage.enabled else "off",
                     "share": f"{stage.share:.0%}", "standalone ε": f"{stage.standalone_epsilon:.3g}",
                     "noise": noise, "what it means": " ".join(stage.plain_words)})
    return pd.DataFrame(rows)


def noise_pictures(plan: BudgetPlan, *, n_rows: int, n_columns: int) -> None:
    """A column histogram and a mean image with this plan's noise (fixed seed, fixed axes)."""
    public = stand_in()
    left, right = st.columns([3, 2])
    with left:
        if plan.stages["table"].enabled:
            sigma = one_way_sigma(plan, n_columns=n_columns)
            st.plotly_chart(charts.noisy_histogram(labels=public.labels, proportions=public.shares, n_rows=n_rows,
                                                   sigma=sigma), key="noise_hist")
            st.caption(f"The demo's *{PICTURE_COLUMN}* column for {n_rows:,} rows, before and after the table "
                       f"stage's noise (±{sigma:,.1f} rows per bar).")
    with right:
        if plan.stages["mean_pairs"].enabled:
            cell = public.value_share * n_rows
            pixel = mean_pixel_sigma(plan, cell_rows=cell)
            a, b = st.columns(2)
            a.image(public.mean_image, caption="mean image, no noise", width="stretch", clamp=True)
            b.image(charts.noisy_image(public.mean_image, pixel_sigma=pixel), caption=f"with noise (±{pixel:.2f})",
                    width="stretch", clamp=True)
            st.caption(f"A public stand-in: the mean of ~{cell:,.0f} demo *{PICTURE_VALUE}* photos, as the "
                       "mean-image stage releases it.")
