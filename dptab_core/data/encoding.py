"""Integer codes for table values: the one discretization shared by the table model and the image model.

Each synthesized column maps to codes ``0 … size-1`` from its *public* schema domain alone (never
from the data), so the mapping leaks nothing:

* categorical: one code per listed category, in schema order, then one for :data:`MISSING_LABEL`;
  a value outside the declared categories also maps to the missing code (it was not declared, so
  it cannot be released).
* numeric: one code per bin of the column's edges (declared public, or DP quantiles paid by the
  schema stage; equal widths between the bounds only when the schema says ``binning="equal"``),
  values outside clipped to the end bins, then one code for missing. Bins are ``[e_i, e_{i+1})``,
  the last one closed.

Decoding goes back to values: categories to their labels, bins to a value drawn uniformly inside
the bin (for an integer column, a whole number of the bin: a bin [0, 1) is exactly 0), never outside
the edges; the missing code to a missing value, except in a column declared complete
(``missing="never"``), where a missing code takes the value of another synthetic row of the column,
so the release has no blank there.

>>> from dptab_core.data.schema import Column
>>> import pandas as pd, numpy as np
>>> age = Column(name="age", kind="numeric", dtype="int", bounds=(0, 100), bins=4)
>>> encode_column(pd.Series([0, 30, 99, None, 250]), age).tolist()
[0, 1, 3, 4, 3]
>>> domain_size(age)
5
>>> site = Column(name="site", kind="categorical", categories=("arm", "leg"))
>>> encode_column(pd.Series(["leg", "arm", None, "toe"]), site).tolist()
[1, 0, 2, 2]
>>> decode_column(np.array([1, 2]), site, rng=np.random.default_rng(0)).tolist()
['leg', None]
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from dptab_core.data.schema import MISSING_LABEL, Column, Schema
from dptab_core.errors import DataError


def domain_size(column: Column) -> int:
    """Number of codes of a synthesized column, the missing code included."""
    if column.kind == "categorical":
        return len(_categories(column)) + 1
    if column.kind == "numeric":
        return column.bins + 1
    raise DataError(f"column {column.name!r} is {column.kind}, not a synthesized column")


def code_labels(column: Column) -> list[str]:
    """Human-readable label of each code, e.g. ``['arm', 'leg', '<missing>']`` or ``['0–25', …]``."""
    if column.kind == "categorical":
        return [*_categories(column), MISSING_LABEL]
    edges = bin_edges(column)
    if column.dtype == "int":  # the whole numbers each bin holds: [0, 1) is "0", [1, 5) is "1–4"
        labels = []
        for i, (lo, hi) in enumerate(zip(edges[:-1], edges[1:], strict=True)):
            first, last = math.ceil(lo), (math.floor(hi) if i == edges.size - 2 else math.ceil(hi) - 1)
            labels.append(f"{first}" if last <= first else f"{first}–{last}")
        return [*labels, MISSING_LABEL]
    return [f"{lo:.3g}–{hi:.3g}" for lo, hi in zip(edges[:-1], edges[1:], strict=True)] + [MISSING_LABEL]


def bin_edges(column: Column) -> np.ndarray:
    """The ``bins + 1`` edges of a numeric column: its ``edges``, else equal widths between its bounds."""
    if column.edges is not None:
        return np.asarray(column.edges, dtype=float)
    if column.bounds is None:
        raise DataError(
            f"numeric column {column.name!r} has no bounds yet",
            hint="Declare public bounds, or let the schema stage pay for DP bounds first.",
        )
    lo, hi = column.bounds
    return np.linspace(lo, hi, column.bins + 1)


def encode_column(values: pd.Series, column: Column) -> np.ndarray:
    """Codes (int64) of ``values`` under ``column``'s public domain."""
    missing_code = domain_size(column) - 1
    if column.kind == "categorical":
        lookup = {label: code for code, label in enumerate(_categories(column))}
        as_text = values.astype("string")
        return np.array(
            [lookup.get(v, missing_code) if not pd.isna(v) else missing_code for v in as_text], dtype=np.int64
        )
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    edges = bin_edges(column)
    codes = np.clip(np.searchsorted(edges, numbers, side="right") - 1, 0, column.bins - 1)
    return np.where(np.isnan(numbers), missing_code, codes).astype(np.int64)


def decode_column(codes: np.ndarray, column: Column, *, rng: np.random.Generator) -> pd.Series:
    """Values for ``codes``: labels, or a draw inside each bin; missing code → missing value (or, in a
    column declared complete, the value of a random other row of the column)."""
    codes = np.asarray(codes, dtype=np.int64)
    missing = codes == domain_size(column) - 1
    if column.missing == "never" and missing.any() and not missing.all():
        present = codes[~missing]
        codes = codes.copy()
        codes[missing] = present[rng.integers(0, present.size, size=int(missing.sum()))]
        missing = np.zeros(codes.shape, dtype=bool)
    if column.kind == "categorical":
        labels = np.array(_categories(column), dtype=object)
        out = np.where(missing, None, labels[np.clip(codes, 0, len(labels) - 1)])
        return pd.Series(out, dtype=object, name=column.name)
    edges = bin_edges(column)
    bins = edges.size - 1
    safe = np.clip(codes, 0, bins - 1)
    if column.dtype == "int":
        low = np.ceil(edges[safe])
        last = safe == bins - 1
        high = np.where(last, np.floor(edges[safe + 1]), np.ceil(edges[safe + 1]) - 1)
        high = np.maximum(high, low)  # a bin narrower than one whole number: its lower end
        values = rng.integers(low.astype(np.int64), high.astype(np.int64) + 1)
        values = np.clip(values, np.ceil(edges[0]), np.floor(edges[-1]))
        series = pd.Series(values, name=column.name).astype("Int64")
        series[missing] = pd.NA
        return series
    values = rng.uniform(edges[safe], edges[safe + 1])
    values[missing] = np.nan
    return pd.Series(values, name=column.name, dtype=float)


def encode_table(table: pd.DataFrame, schema: Schema) -> dict[str, np.ndarray]:
    """Codes of every synthesized column, keyed by column name."""
    return {c.name: encode_column(table[c.name], c) for c in schema.synthesized_columns()}


def decode_table(codes: dict[str, np.ndarray], schema: Schema, *, rng: np.random.Generator) -> pd.DataFrame:
    """A DataFrame of values from per-column codes, columns in schema order."""
    return pd.DataFrame({c.name: decode_column(codes[c.name], c, rng=rng) for c in schema.synthesized_columns()})


def _categories(column: Column) -> tuple[str, ...]:
    if column.categories is None:
        raise DataError(
            f"categorical column {column.name!r} has no category list yet",
            hint="Declare its categories as public, or let the schema stage pay for them first.",
        )
    return column.categories
