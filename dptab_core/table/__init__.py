"""Table synthesis: MST and AIM on private-pgm (mbi), from a DataFrame and its public schema to synthetic rows.

:func:`synthesize_table` encodes the synthesized columns with the public-domain codes of
:mod:`dptab_core.data.encoding` (missing as its own code, numeric columns in equal-width bins),
runs the chosen mechanism on the codes spending exactly ``rho`` (zCDP) through the ledger, and
decodes back to the original labels and dtypes, never outside the declared domain.

Neighbouring tables differ by one individual (one row added or removed); see
:mod:`dptab_core.table.marginals`. Importing this package needs neither JAX nor mbi; running a
mechanism imports them.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import pandas as pd

from dptab_core.data.encoding import decode_table, domain_size, encode_table
from dptab_core.data.schema import Column, Schema
from dptab_core.errors import DataError, PlanError
from dptab_core.privacy.ledger import Ledger
from dptab_core.table.base import (
    SYNTHESIZERS,
    BudgetLine,
    BudgetSplit,
    TableSynthesisResult,
    TableSynthesizer,
    get_synthesizer,
)
from dptab_core.table.marginals import Progress
from dptab_core.table.settings import PRESETS, AIMSettings, MSTSettings, TableSettings

__all__ = [
    "PRESETS",
    "SYNTHESIZERS",
    "AIMSettings",
    "BudgetLine",
    "BudgetSplit",
    "MSTSettings",
    "TableSettings",
    "TableSynthesisResult",
    "TableSynthesizer",
    "get_synthesizer",
    "synthesize_table",
    "synthesize_table_result",
]


def synthesize_table(
    table: pd.DataFrame,
    schema: Schema,
    *,
    rho: float,
    mechanism: Literal["mst", "aim"] = "mst",
    n_rows: int | None = None,
    seed: int = 0,
    rng: np.random.Generator | None = None,
    ledger: Ledger,
    progress: Progress | None = None,
    settings: TableSettings | str | None = None,
) -> pd.DataFrame:
    """A synthetic table with the schema's synthesized columns, spending exactly ``rho`` from ``ledger``.

    ``n_rows``: rows to draw; None draws as many as the model's noisy estimate of the row count
    (the exact count is not public under add/remove-one neighbours). ``rng`` draws the privacy
    noise: None uses fresh OS entropy (a real release); pass a seeded one only for reproducible
    tests and demos. ``seed`` drives everything that is not privacy noise (sampling rows, decoding),
    so the same ``seed`` with an equally seeded ``rng`` gives the same table. ``progress`` receives
    (fraction done, message with ρ spent so far). ``settings``: a :class:`TableSettings` or a
    preset name (``default``, ``fast``).
    """
    return synthesize_table_result(
        table,
        schema,
        rho=rho,
        mechanism=mechanism,
        n_rows=n_rows,
        seed=seed,
        rng=rng,
        ledger=ledger,
        progress=progress,
        settings=settings,
    ).table


def synthesize_table_result(
    table: pd.DataFrame,
    schema: Schema,
    *,
    rho: float,
    mechanism: Literal["mst", "aim"] = "mst",
    n_rows: int | None = None,
    seed: int = 0,
    rng: np.random.Generator | None = None,
    ledger: Ledger,
    progress: Progress | None = None,
    settings: TableSettings | str | None = None,
) -> TableSynthesisResult:
    """As :func:`synthesize_table`, returning the whole :class:`TableSynthesisResult` (budget split, cliques)."""
    columns = schema.synthesized_columns()
    _validate(table, columns, rho=rho, n_rows=n_rows)
    preset = _settings(settings)
    codes = encode_table(table, schema)
    sizes = {c.name: domain_size(c) for c in columns}
    result = get_synthesizer(mechanism).run(
        codes,
        sizes,
        rho=float(rho),
        n_rows=n_rows,
        rng=rng if rng is not None else np.random.default_rng(),
        seed=seed,
        ledger=ledger,
        progress=progress,
        settings=preset,
    )
    decoded = decode_table(result.codes, schema, rng=np.random.default_rng([seed, 2]))
    result.table = pd.DataFrame({c.name: _restore_dtype(decoded[c.name], c) for c in columns})
    return result


def _validate(table: pd.DataFrame, columns: list[Column], *, rho: float, n_rows: int | None) -> None:
    if not (isinstance(rho, int | float) and math.isfinite(rho) and rho > 0):
        raise PlanError(
            f"the table stage needs a budget rho > 0, got {rho!r}",
            where="table stage",
            hint="Give the table stage a positive share of the budget.",
        )
    if not columns:
        raise DataError(
            "the schema has no categorical or numeric column to synthesize",
            where="schema",
            hint="Mark at least one column as categorical or numeric.",
        )
    absent = [c.name for c in columns if c.name not in table.columns]
    if absent:
        raise DataError(
            f"the table lacks the schema's column(s) {', '.join(map(repr, absent))}",
            where="table",
            hint="Use the schema made for this table, or add the missing columns.",
        )
    if len(table) == 0:
        raise DataError("the table has no rows", where="table", hint="Upload a table with at least one row.")
    if n_rows is not None and (not isinstance(n_rows, int | np.integer) or n_rows < 1):
        raise DataError(f"n_rows must be a positive integer, got {n_rows!r}", where="n_rows")


def _settings(settings: TableSettings | str | None) -> TableSettings:
    if settings is None:
        return PRESETS["default"]
    if isinstance(settings, str):
        if settings not in PRESETS:
            raise DataError(
                f"unknown table preset {settings!r}", where="settings", hint=f"Choose one of: {', '.join(PRESETS)}."
            )
        return PRESETS[settings]
    return settings


def _restore_dtype(values: pd.Series, column: Column) -> pd.Series:
    """Categorical labels back in the column's declared dtype (codes decode to text labels)."""
    if column.kind != "categorical" or column.dtype == "str":
        return values
    if column.dtype == "bool":
        return values.map({"True": True, "False": False, "true": True, "false": False}).astype("boolean")
    numbers = pd.to_numeric(values, errors="coerce")
    return numbers.astype("Int64") if column.dtype == "int" else numbers.astype(float)
