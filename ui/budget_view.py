"""The Budget page's pieces: the ε scale, the δ default, plan options ↔ planner, the accountant panel.

Planning uses only n and the schema; the noise pictures use a *public stand-in* (a fresh draw of the
demo generator, never the user's rows) scaled to the user's n, so the page reads no private data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from dptab_core.data.demo import demo_schema as _demo_schema
from dptab_core.data.demo import generate_table
from dptab_core.data.encoding import code_labels, encode_column
from dptab_core.image.presets import get_preset
from dptab_core.noise_preview import mean_pixel_sigma as _mean_pixel_sigma
from dptab_core.noise_preview import table_one_way_sigma
from dptab_core.pipeline.planning import count_public_labels, plan_kwargs
from dptab_core.privacy.plan import BudgetPlan, plan_budget
from dptab_core.privacy.settings import DPSGDSettings
from ui import charts
from ui.state import StudioState

EPSILON_STEPS = (0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.5, 2.0, 3.0, 5.0, 7.0, 10.0, 15.0, 20.0, 30.0, 50.0)
"""Round values on a roughly logarithmic scale: equal slider steps are equal *ratios* of ε."""
LARGE_EPSILON = 10.0
"""Above this ε the page warns: published deployments rarely go beyond it."""
DEFAULT_PRESET = "quick"
"""The preset the Budget page plans with until the Train page picks one (the demo's)."""
DELTA_STEPS = tuple(10.0**-k for k in range(12, 3, -1))
STAND_IN_SEED = 12_345
"""Seed of the public stand-in drawn from the demo generator (a different draw from the demo data)."""
STAND_IN_ROWS = 4000
STAND_IN_IMAGES = 200
"""Photos averaged for the noise-free mean image: enough for a smooth mean, drawn in well under a second."""
PICTURE_COLUMN, PICTURE_VALUE = "age", "melanoma"
"""The histogram shows the demo's age column; the mean image is the demo's mean melanoma photo."""
STAGE_LABELS = {
    "schema": "Schema",
    "semantic_query": "Public-image query",
    "mean_pairs": "Mean images",
    "table": "Table",
    "dpsgd": "Image model (DP-SGD)",
}


def plan_options(
    *, epsilon: float, delta: float, shares: dict[str, float], epochs: int, batch_size: int, semantic_query: bool
) -> dict[str, Any]:
    """The JSON-able plan options stored in the state and sent with the job spec."""
    return {
        "epsilon": epsilon,
        "delta": delta,
        "shares": shares,
        "dpsgd": {"epochs": epochs, "batch_size": batch_size},
        "semantic_query": {"enabled": semantic_query},
    }


def _kwargs(options: dict[str, Any], state: StudioState) -> dict[str, Any]:
    paid = state.schema.unpaid_domains()
    return plan_kwargs(
        options,
        preset=state.preset or DEFAULT_PRESET,
        n_rows=state.n_rows,
        channels=1 if state.schema.image_mode == "L" else 3,
        n_paid_columns=len(paid),
        n_paid_categorical=sum(1 for c in paid if c.kind == "categorical"),
        n_public_labels=count_public_labels(state.public_dir),
    )


def preset_dpsgd(state: StudioState) -> DPSGDSettings:
    """The DP-SGD epochs and batch size the image preset would choose for this n (the inputs' defaults)."""
    return _kwargs({}, state)["dpsgd"]


def automatic_shares(state: StudioState, epsilon: float) -> dict[str, float]:
    """The split the plan makes by itself for this job's image model at ``epsilon`` (the sliders' start)."""
    return dict(_kwargs({"epsilon": epsilon}, state)["shares"])


AUTOMATIC_SPLIT_WORDS = (
    "The plan splits the budget by itself, and the split follows ε: with a public image folder, the mean "
    "images (what ties each synthetic image to its row) get a larger share as ε gets smaller — 15 % at "
    "ε = 10, 30 % at ε = 1 — and the image model's fine-tuning a smaller one. Turn this off to set the "
    "shares yourself."
)
"""What the automatic split does, in words (planning.default_shares)."""


def make_plan(options: dict[str, Any], state: StudioState) -> BudgetPlan:
    """The one engine call per redraw: the same plan the job will run (``dptab_core.pipeline.planning``)."""
    return plan_budget(**_kwargs(options, state))


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
    holders = table["diagnosis"] == PICTURE_VALUE
    mean = render_lesion_images(table[holders].head(STAND_IN_IMAGES), rng=rng).astype(float).mean(axis=0) / 255
    return StandIn(labels=labels[:-1], shares=shares[:-1], mean_image=mean, value_share=float(holders.mean()))


LATENT_MEAN_PAIRS_WORDS = (
    "With a public image folder, the mean images are released as 32 numbers each (the public autoencoder's "
    "main directions), not as pixels, together with how photos vary around them; the noisiest ones are pulled "
    "towards the overall mean. The picture shows the same noise in pixels, for intuition. This stage is what "
    "ties each synthetic image to its row, so the automatic split keeps it on even at ε = 1 and gives it "
    "more as ε shrinks (30 % at ε = 1, 15 % at ε = 10): on the demo at ε = 1, without it the images ignored "
    "their rows (read-back 0.00, like shuffled images); with a 15 % share they barely showed the skin type "
    "(0.06-0.07); with 30 %, 0.17-0.50."
)
"""Why the mean-image stage stays on at small ε, in words (benchmarks/README.md, bench_image_quality.py, ε = 1)."""


def one_way_sigma(plan: BudgetPlan, *, n_columns: int, mechanism: str = "aim") -> float:
    """Noise std (rows) on one 1-way count as the chosen table synthesizer will measure it (engine's preview)."""
    return table_one_way_sigma(plan.stages["table"].params["rho"], n_columns=n_columns, mechanism=mechanism)


def mean_pixel_sigma(plan: BudgetPlan, *, cell_rows: float, n_columns: int, preset: str | None = None) -> float:
    """Noise std per pixel (in [0, 1]) of one released mean image averaging ``cell_rows`` rows (engine's preview)."""
    return _mean_pixel_sigma(
        plan.stages["mean_pairs"].params,
        cell_rows=cell_rows,
        n_columns=n_columns,
        count_weight=get_preset(preset or DEFAULT_PRESET).count_weight,
    )


def stage_table(plan: BudgetPlan) -> pd.DataFrame:
    """One row per stage: on/off, share, standalone ε and the noise parameter that matters."""
    rows = []
    for name, stage in plan.stages.items():
        noise = (
            "—"
            if not stage.enabled
            else f"ρ = {stage.params['rho']:.4g}"
            if "rho" in stage.params
            else f"σ = {stage.params['noise_multiplier']:.3g} × clip"
        )
        rows.append(
            {
                "stage": STAGE_LABELS[name],
                "on": "yes" if stage.enabled else "off",
                "share": f"{stage.share:.0%}",
                "standalone ε": f"{stage.standalone_epsilon:.3g}",
                "noise": noise,
            }
        )
    return pd.DataFrame(rows)


LATENT_DPSGD_WORDS = (
    "With a public image folder, part of the DP-SGD steps fine-tune the small model of how each row's "
    "images vary, and the rest ({decoder:.0%} with this preset) teach the public autoencoder's decoder to "
    "draw the private photos (their textures and colours, which public images lack). Every step has the "
    "same noise, so the split changes "
    "what the steps learn, not what they cost. On real skin photos (HAM10000, ε = 10, three runs) the "
    "synthetic images came much closer to real ones (distance 7.9 → 4.4) and showed their diagnosis more "
    "clearly (0.26 → 0.43 on a 0-1 scale)."
)
"""What DP-SGD trains in the latent family, in words (benchmarks/README.md, session 6); ``{decoder}`` is
the preset's ``decoder_dpsgd_share``."""


def stage_words(plan: BudgetPlan, *, preset: str | None = None) -> None:
    """Each enabled stage's noise in plain words (from the planner), and what DP-SGD trains."""
    for name, stage in plan.stages.items():
        if stage.enabled:
            st.markdown(f"**{STAGE_LABELS[name]}.** " + " ".join(stage.plain_words))
            image = get_preset(preset or DEFAULT_PRESET)
            if name == "dpsgd" and image.family == "latent":
                st.caption(LATENT_DPSGD_WORDS.format(decoder=image.decoder_dpsgd_share))


def noise_pictures(
    plan: BudgetPlan, *, n_rows: int, n_columns: int, preset: str | None = None, mechanism: str = "aim"
) -> None:
    """A column histogram and a mean image with this plan's noise (fixed seed, fixed axes)."""
    public = stand_in()
    left, right = st.columns([3, 2])
    with left:
        if plan.stages["table"].enabled:
            sigma = one_way_sigma(plan, n_columns=n_columns, mechanism=mechanism)
            st.plotly_chart(
                charts.noisy_histogram(labels=public.labels, proportions=public.shares, n_rows=n_rows, sigma=sigma),
                key="noise_hist",
            )
            st.caption(
                f"The demo's *{PICTURE_COLUMN}* column for {n_rows:,} rows, before and after the noise "
                f"{mechanism.upper()} puts on its first count of a column (±{sigma:,.1f} rows per bar)."
            )
    with right:
        if plan.stages["mean_pairs"].enabled:
            cell = public.value_share * n_rows
            pixel = mean_pixel_sigma(plan, cell_rows=cell, n_columns=n_columns, preset=preset)
            a, b = st.columns(2)
            a.image(public.mean_image, caption="mean image, no noise", width="stretch", clamp=True)
            b.image(
                charts.noisy_image(public.mean_image, pixel_sigma=pixel),
                caption=f"with noise (±{pixel:.2f})",
                width="stretch",
                clamp=True,
            )
            st.caption(
                f"A public stand-in: the mean of ~{cell:,.0f} demo *{PICTURE_VALUE}* photos, as the "
                "mean-image stage releases it."
            )
            if get_preset(preset or DEFAULT_PRESET).family == "latent":
                st.caption(LATENT_MEAN_PAIRS_WORDS)
