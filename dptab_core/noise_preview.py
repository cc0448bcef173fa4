"""What a plan's noise looks like before any data is read: the numbers behind the Budget page's pictures.

Each preview reproduces the σ the stage itself will draw, from the plan and the public choices only
(n, number of columns, the table synthesizer, the image preset), so the picture a user judges is the
noise the run will add. The table preview depends on the synthesizer: MST spends a third of the
table's ρ on the 1-way marginals at once, AIM spreads its ρ over the rounds it plans (16 per column),
so at the same ρ AIM's 1-way counts are noisier (its later rounds then measure what matters more
finely). ``tests/test_noise_preview.py`` checks each preview against the σ a real table run records in
its ledger.

>>> round(table_one_way_sigma(1.0, n_columns=8, mechanism="mst"), 3)
3.464
>>> table_one_way_sigma(1.0, n_columns=8, mechanism="aim") > table_one_way_sigma(1.0, n_columns=8, mechanism="mst")
True
"""

from __future__ import annotations

import math
from typing import Any

from dptab_core.errors import InputError
from dptab_core.table.settings import PRESETS as TABLE_PRESETS
from dptab_core.table.settings import TableSettings

MECHANISMS = ("aim", "mst")


def table_one_way_sigma(
    rho: float, *, n_columns: int, mechanism: str, settings: TableSettings | str = "default"
) -> float:
    """Noise std (in rows) on one count of a 1-way marginal, as ``mechanism`` first measures it with ``rho``.

    MST: ρ·f₁ split evenly over the d columns (σ = √(d / (2ρf₁))). AIM: ρ over its planned round units
    (d for the 1-ways + 16·d, or its round cap), a share α measuring: σ = √(units / (2αρ)).
    """
    if mechanism not in MECHANISMS:
        raise InputError(f"unknown table synthesizer {mechanism!r}", hint=f"Choose one of {', '.join(MECHANISMS)}.")
    cfg = TABLE_PRESETS[settings] if isinstance(settings, str) else settings
    d = max(int(n_columns), 1)
    if mechanism == "mst":
        fraction = cfg.mst.budget_fractions[0] if d > 1 else 1.0
        return math.sqrt(d / (2.0 * rho * fraction))
    aim = cfg.aim
    planned = (
        aim.rounds_per_column * d if aim.max_rounds is None else min(aim.rounds_per_column * d, d + aim.max_rounds)
    )
    return math.sqrt(planned / (2.0 * aim.measure_fraction * rho))


def mean_pixel_sigma(
    mean_pairs_params: dict[str, Any], *, cell_rows: float, n_columns: int, count_weight: float
) -> float:
    """Noise std per pixel (in [0, 1]) of one released mean image averaging ``cell_rows`` rows.

    Each release adds noise of std z·S per coordinate, where S is the release's L2 sensitivity: a
    person's clipped image (bound C, pixels in [-1, 1]) and weighted count enter one cell per column,
    so S = C·√(A·(1 + κ²)). Dividing by the count and halving (to [0, 1]) gives the pixel noise.
    """
    from dptab_core.image.mean_pairs import mean_pair_sensitivity

    sensitivity = mean_pair_sensitivity(
        clip_norm=mean_pairs_params["clip_norm"], n_attributes=max(n_columns, 1), count_weight=count_weight
    )
    return mean_pairs_params["noise_multiplier"] * sensitivity / (2 * max(cell_rows, 1.0))


def plan_previews(
    plan: Any,
    *,
    n_columns: int,
    mechanism: str,
    cell_rows: float,
    count_weight: float,
    table_settings: TableSettings | str = "default",
) -> dict[str, float]:
    """Every enabled stage's preview number: table σ (rows per count), mean-image σ (per pixel), DP-SGD z."""
    out: dict[str, float] = {}
    if plan.stages["table"].enabled:
        out["table"] = table_one_way_sigma(
            plan.stages["table"].params["rho"], n_columns=n_columns, mechanism=mechanism, settings=table_settings
        )
    if plan.stages["mean_pairs"].enabled:
        out["mean_pairs"] = mean_pixel_sigma(
            plan.stages["mean_pairs"].params, cell_rows=cell_rows, n_columns=n_columns, count_weight=count_weight
        )
    if plan.stages["dpsgd"].enabled:
        out["dpsgd"] = float(plan.stages["dpsgd"].params["noise_multiplier"])
    return out
