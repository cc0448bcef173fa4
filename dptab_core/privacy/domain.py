"""The schema stage: DP category lists and DP numeric bounds for columns whose domain is not public.

Reading the data to find a column's categories or range leaks (a rare category names its holder),
so every synthesized column whose domain the user did not declare public is paid for here, before
any other stage runs. The stage's ρ is split evenly over those columns.

* **Categories** (partition selection): Gaussian noise (std σ = 1/√(2ρ_col)) on the count of every
  *observed* value, and only values whose noisy count exceeds τ = 1 + σ·Φ⁻¹(1 − δ_col) are kept.
  One person adds 1 to one count (L2 sensitivity 1). A value only that person holds has no count
  without them and passes τ with probability δ_col: that is the δ the plan reserves
  (``partition_delta``), accounted in :mod:`dptab_core.privacy.accountant`.
* **Bounds**: the exponential mechanism picks a lower and an upper bound from a public log-scale
  grid, near the 1st and 99th percentiles (score −|#values below c − q·n|, sensitivity 1 under
  adding or removing one row), each with ρ_col / 2.

>>> b = schema_column_budget(rho=0.02, n_paid_columns=2, n_categorical=1, partition_delta=1e-6)
>>> round(b["category_noise_std"], 3), round(b["category_threshold"], 1), round(b["bound_selection_epsilon"], 3)
(7.071, 34.6, 0.2)
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from dptab_core.data.schema import MISSING_LABEL, Column, Schema
from dptab_core.privacy.ledger import Ledger
from dptab_core.privacy.mechanisms import exponential_select, gaussian_release
from dptab_core.privacy.settings import SCHEMA_STAGE, SchemaStageSettings

if TYPE_CHECKING:
    import pandas as pd

STAGE = "schema"


def schema_column_budget(*, rho: float, n_paid_columns: int, n_categorical: int,
                         partition_delta: float) -> dict[str, Any]:
    """Per-column parameters of the schema stage, shared by the plan (to show) and the mechanisms."""
    from scipy.special import ndtri  # scipy comes with dp-accounting

    rho_col = rho / max(1, n_paid_columns)
    sigma = 1.0 / math.sqrt(2.0 * rho_col)
    out: dict[str, Any] = {"rho_per_column": rho_col, "category_noise_std": sigma,
                           "bound_selection_epsilon": math.sqrt(8.0 * rho_col / 2.0)}
    if n_categorical > 0 and partition_delta > 0:
        delta_col = partition_delta / n_categorical
        out["partition_delta_per_column"] = delta_col
        out["category_threshold"] = 1.0 + sigma * float(-ndtri(delta_col))
    return out


def category_counts(values: pd.Series) -> dict[str, int]:
    """Count of each observed (non-missing) value, as text, labels sorted: the pre-noise query."""
    text = values.dropna().astype(str)
    text = text[text != MISSING_LABEL]
    counts = text.value_counts()
    return {str(label): int(counts[label]) for label in sorted(counts.index)}


def dp_categories(values: pd.Series, *, rho: float, partition_delta: float, rng: np.random.Generator,
                  ledger: Ledger, column_name: str) -> tuple[str, ...]:
    """Categories released by thresholded Gaussian counts (ρ-zCDP plus ``partition_delta``)."""
    budget = schema_column_budget(rho=rho, n_paid_columns=1, n_categorical=1, partition_delta=partition_delta)
    counts = category_counts(values)
    sigma, threshold = budget["category_noise_std"], budget["category_threshold"]
    noisy = gaussian_release(np.array(list(counts.values()), dtype=float), sensitivity=1.0, sigma=sigma, rng=rng,
                             ledger=ledger, stage=STAGE, label=f"categories of {column_name}",
                             details={"column": column_name, "partition_delta": partition_delta,
                                      "threshold": threshold})
    return tuple(label for label, value in zip(counts, noisy, strict=True) if value > threshold)


def bound_scores(values: np.ndarray, candidates: np.ndarray, *, quantile: float) -> np.ndarray:
    """−|#values below c − quantile·n| per candidate c: sensitivity 1 when one row is added or removed."""
    ordered = np.sort(values)
    below = np.searchsorted(ordered, candidates, side="left")
    return -np.abs(below - quantile * ordered.size)


def dp_bounds(values: pd.Series, *, rho: float, rng: np.random.Generator, ledger: Ledger, column_name: str,
              settings: SchemaStageSettings = SCHEMA_STAGE) -> tuple[float, float]:
    """(lower, upper) picked from the public grid by two exponential-mechanism selections, ρ/2 each."""
    import pandas as pd

    numbers = pd.to_numeric(values, errors="coerce").dropna().to_numpy(dtype=float)
    candidates = np.array(settings.bound_candidates)
    eps0 = math.sqrt(8.0 * rho / 2.0)
    picks = []
    for side, quantile in (("lower", settings.lower_quantile), ("upper", settings.upper_quantile)):
        picks.append(exponential_select(bound_scores(numbers, candidates, quantile=quantile), sensitivity=1.0,
                                        epsilon=eps0, rng=rng, ledger=ledger, stage=STAGE,
                                        label=f"{side} bound of {column_name}",
                                        details={"column": column_name, "quantile": quantile}))
    lo, hi = min(picks), max(picks)
    if lo == hi:  # post-processing: an empty range is useless, widen to the next grid point
        lo, hi = (lo, hi + 1) if hi + 1 < candidates.size else (lo - 1, hi)
    return float(candidates[lo]), float(candidates[hi])


def pay_for_domains(table: pd.DataFrame, schema: Schema, *, rho: float, rng: np.random.Generator, ledger: Ledger,
                    delta_budget: float) -> Schema:
    """The schema with a DP domain for every synthesized column whose domain is not public.

    Paid columns keep ``public=False`` and get a note starting with ``"paid:"``; a categorical column
    of which no category survives the threshold becomes ``excluded`` (nothing about it can be released).
    ``delta_budget`` is the plan's ``partition_delta``, split evenly over the categorical columns.
    """
    paid = schema.unpaid_domains()
    if not paid:
        return schema
    n_categorical = sum(1 for c in paid if c.kind == "categorical")
    budget = schema_column_budget(rho=rho, n_paid_columns=len(paid), n_categorical=n_categorical,
                                  partition_delta=delta_budget)
    rho_col = budget["rho_per_column"]
    if n_categorical and delta_budget <= 0:
        raise ValueError("categorical columns without public categories need a partition-selection δ > 0")
    for column in paid:
        schema = schema.replace_column(_paid_column(table, column, rho=rho_col, budget=budget, rng=rng, ledger=ledger))
    return schema


def _paid_column(table: pd.DataFrame, column: Column, *, rho: float, budget: dict[str, Any],
                 rng: np.random.Generator, ledger: Ledger) -> Column:
    if column.kind == "numeric":
        bounds = dp_bounds(table[column.name], rho=rho, rng=rng, ledger=ledger, column_name=column.name)
        return replace(column.with_domain(bounds=bounds, public=False),
                       note=f"paid: DP bounds from the public grid (ρ = {rho:.3g})")
    categories = dp_categories(table[column.name], rho=rho, partition_delta=budget["partition_delta_per_column"],
                               rng=rng, ledger=ledger, column_name=column.name)
    if not categories:
        return replace(column, kind="excluded", categories=None,
                       note=f"paid: no category was frequent enough to release (threshold "
                            f"{budget['category_threshold']:.0f} rows); excluded")
    return replace(column.with_domain(categories=categories, public=False),
                   note=f"paid: DP categories, noisy counts above {budget['category_threshold']:.0f} (ρ = {rho:.3g})")
