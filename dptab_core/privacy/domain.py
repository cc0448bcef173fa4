"""The schema stage: DP category lists, DP numeric bounds and bin edges, DP missingness.

Reading the data to find a column's categories, range, bins or blanks leaks (a rare category names
its holder, a maximum often identifies a person), so every fact of a synthesized column that the user
did not declare public is paid for here, before any other stage runs. The stage's ρ is split evenly
over the columns with a paid fact; within a column one release answers all of them.

* **Categories** (partition selection): Gaussian noise (std σ = 1/√(2ρ_col)) on the count of every
  *observed* value and of blanks, and only values whose noisy count exceeds τ = 1 + σ·Φ⁻¹(1 − δ_col)
  are kept. One person adds 1 to one count (L2 sensitivity 1). A value only that person holds has no
  count without them and passes τ with probability δ_col: that is the δ the plan reserves
  (``partition_delta``), accounted in :mod:`dptab_core.privacy.accountant`. Blanks are a public
  candidate (every column may have them), so their count needs no δ.
* **Numeric range and bins**: a coarse-to-fine noisy histogram over the public grid (or the declared
  public range), see :mod:`dptab_core.privacy.quantiles`; the bounds are its 1st and 99th
  percentiles and the bin edges its quantiles (or equal widths between the bounds).
* **Missingness** (``missing="learn"``): "blanks allowed" when the noisy count of blanks passes
  4σ, else the column is complete and never gets a blank in the synthetic table.

>>> b = schema_column_budget(rho=0.02, n_paid_columns=2, n_categorical=1, partition_delta=1e-6)
>>> round(b["category_noise_std"], 3), round(b["category_threshold"], 1), round(b["histogram_noise_std"], 1)
(7.071, 34.6, 14.1)
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from dptab_core.data.schema import MISSING_LABEL, Column, MissingRule, Schema
from dptab_core.privacy.ledger import Ledger
from dptab_core.privacy.mechanisms import gaussian_release
from dptab_core.privacy.quantiles import HISTOGRAM, dp_histogram, edges_from_histogram, histogram_sigma

if TYPE_CHECKING:
    import pandas as pd

STAGE = "schema"


def schema_column_budget(
    *, rho: float, n_paid_columns: int, n_categorical: int, partition_delta: float
) -> dict[str, Any]:
    """Per-column parameters of the schema stage, shared by the plan (to show) and the mechanisms."""
    from scipy.special import ndtri  # scipy comes with dp-accounting

    rho_col = rho / max(1, n_paid_columns)
    sigma = 1.0 / math.sqrt(2.0 * rho_col)
    out: dict[str, Any] = {
        "rho_per_column": rho_col,
        "category_noise_std": sigma,
        "histogram_noise_std": histogram_sigma(rho_col),
        "histogram_threshold": HISTOGRAM.threshold_z * histogram_sigma(rho_col),
        "missing_threshold": HISTOGRAM.threshold_z * sigma,
    }
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


def dp_categories(
    values: pd.Series, *, rho: float, partition_delta: float, rng: np.random.Generator, ledger: Ledger, column_name: str
) -> tuple[str, ...]:
    """Categories released by thresholded Gaussian counts (ρ-zCDP plus ``partition_delta``)."""
    return dp_categories_and_blanks(
        values, rho=rho, partition_delta=partition_delta, rng=rng, ledger=ledger, column_name=column_name
    )[0]


def dp_categories_and_blanks(
    values: pd.Series, *, rho: float, partition_delta: float, rng: np.random.Generator, ledger: Ledger, column_name: str
) -> tuple[tuple[str, ...], bool]:
    """Released categories, and whether blanks are allowed, from one Gaussian release of the counts of
    every observed value and of blanks (each row adds 1 to exactly one count: sensitivity 1)."""
    budget = schema_column_budget(rho=rho, n_paid_columns=1, n_categorical=1, partition_delta=partition_delta)
    counts = category_counts(values)
    blanks = int(_is_blank(values).sum())
    sigma, threshold = budget["category_noise_std"], budget["category_threshold"]
    noisy = gaussian_release(
        np.array([*counts.values(), blanks], dtype=float),
        sensitivity=1.0,
        sigma=sigma,
        rng=rng,
        ledger=ledger,
        stage=STAGE,
        label=f"categories of {column_name}",
        details={"column": column_name, "partition_delta": partition_delta, "threshold": threshold},
    )
    kept = tuple(label for label, value in zip(counts, noisy[:-1], strict=True) if value > threshold)
    return kept, bool(noisy[-1] > budget["missing_threshold"])


def dp_blanks(values: pd.Series, *, rho: float, rng: np.random.Generator, ledger: Ledger, column_name: str) -> bool:
    """Whether blanks are allowed, from one noisy count of blanks (ρ-zCDP, sensitivity 1)."""
    sigma = 1.0 / math.sqrt(2.0 * rho)
    noisy = gaussian_release(
        np.array([float(_is_blank(values).sum())]),
        sensitivity=1.0,
        sigma=sigma,
        rng=rng,
        ledger=ledger,
        stage=STAGE,
        label=f"blanks of {column_name}",
        details={"column": column_name},
    )
    return bool(noisy[0] > HISTOGRAM.threshold_z * sigma)


def _is_blank(values: pd.Series) -> pd.Series:
    return values.isna() | (values.astype("string") == MISSING_LABEL).fillna(False)


def pay_for_domains(
    table: pd.DataFrame, schema: Schema, *, rho: float, rng: np.random.Generator, ledger: Ledger, delta_budget: float
) -> Schema:
    """The schema with every paid fact filled in under DP (see the module docstring).

    Paid columns keep ``public=False`` (or their declared public domain) and get a note starting with
    ``"paid:"``; a categorical column of which no category survives the threshold becomes ``excluded``
    (nothing about it can be released). ``missing="learn"`` becomes ``allowed`` or ``never``.
    ``delta_budget`` is the plan's ``partition_delta``, split evenly over the paid categorical columns.
    """
    paid = schema.unpaid_domains()
    if not paid:
        return schema
    n_categorical = sum(1 for c in paid if c.kind == "categorical")
    budget = schema_column_budget(
        rho=rho, n_paid_columns=len(paid), n_categorical=n_categorical, partition_delta=delta_budget
    )
    rho_col = budget["rho_per_column"]
    if any(c.kind == "categorical" and not c.public for c in paid) and delta_budget <= 0:
        raise ValueError("categorical columns without public categories need a partition-selection δ > 0")
    for column in paid:
        schema = schema.replace_column(_paid_column(table, column, rho=rho_col, budget=budget, rng=rng, ledger=ledger))
    return schema


def _paid_column(
    table: pd.DataFrame, column: Column, *, rho: float, budget: dict[str, Any], rng: np.random.Generator, ledger: Ledger
) -> Column:
    import pandas as pd

    values = table[column.name]
    learn = column.missing == "learn"
    if column.kind == "numeric" and (not column.public or column.binning == "quantile"):
        numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
        hist = dp_histogram(
            numbers,
            rho=rho,
            integer=column.dtype == "int",
            rng=rng,
            ledger=ledger,
            label=column.name,
            public_range=column.bounds if column.public else None,
        )
        edges = edges_from_histogram(hist, bins=column.bins, equal=column.binning != "quantile")
        if column.binning == "edges" and column.edges is not None:
            edges = column.edges  # declared public edges stay; only the range was paid
        bounds = column.bounds if column.public else (edges[0], edges[-1])
        keep_edges = column.binning != "equal" or not column.public
        paid_what = ("bounds and " if not column.public else "") + (
            "quantile bins" if column.binning == "quantile" else "equal-width bins"
        )
        return replace(
            column,
            bounds=bounds,
            edges=edges if keep_edges else None,
            missing=_missing_rule(column, hist.has_missing) if learn else column.missing,
            note=f"paid: DP {paid_what} from a coarse-to-fine noisy histogram (ρ = {rho:.3g})",
        )
    if column.kind == "categorical" and not column.public:
        categories, blanks = dp_categories_and_blanks(
            values,
            rho=rho,
            partition_delta=budget["partition_delta_per_column"],
            rng=rng,
            ledger=ledger,
            column_name=column.name,
        )
        if not categories:
            return replace(
                column,
                kind="excluded",
                categories=None,
                note=f"paid: no category was frequent enough to release (threshold "
                f"{budget['category_threshold']:.0f} rows); excluded",
            )
        return replace(
            column.with_domain(categories=categories, public=False),
            missing=_missing_rule(column, blanks) if learn else column.missing,
            note=f"paid: DP categories, noisy counts above {budget['category_threshold']:.0f} (ρ = {rho:.3g})",
        )
    blanks = dp_blanks(values, rho=rho, rng=rng, ledger=ledger, column_name=column.name)
    return replace(
        column,
        missing=_missing_rule(column, blanks),
        note=f"paid: DP missingness, a noisy count of blanks (ρ = {rho:.3g})",
    )


def _missing_rule(column: Column, blanks_seen: bool) -> MissingRule:
    return "allowed" if blanks_seen else "never"
