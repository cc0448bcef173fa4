"""Odd columns and tiny tables: a single value, 500 categories, all missing, one row."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dptab_core.data.schema import Column, Schema
from dptab_core.privacy.ledger import Ledger
from dptab_core.table import synthesize_table

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def odd():
    rng = np.random.default_rng(0)
    n = 800
    many = [f"c{i}" for i in range(500)]
    table = pd.DataFrame(
        {
            "const": ["x"] * n,
            "many": rng.choice(many[:5] + many, size=n),
            "empty": [None] * n,
            "age": rng.integers(0, 100, size=n),
            "image": ["a.png"] * n,
        }
    )
    schema = Schema(
        columns=(
            Column(name="const", kind="categorical", categories=("x",), public=True),
            Column(name="many", kind="categorical", categories=tuple(many), public=True),
            Column(name="empty", kind="numeric", dtype="float", bounds=(0.0, 1.0), public=True),
            Column(name="age", kind="numeric", dtype="int", bounds=(0, 99), public=True),
            Column(name="image", kind="image"),
        ),
        image_column="image",
    )
    out = synthesize_table(
        table, schema, rho=1.0, n_rows=n, seed=0, rng=np.random.default_rng(1), ledger=Ledger(), settings="fast"
    )
    return table, out


def test_a_single_valued_column_stays_mostly_that_value(odd):
    _, out = odd
    assert set(out["const"].dropna()) == {"x"}, f"const column got {set(out['const'].dropna())}"
    assert out["const"].notna().mean() > 0.8, "a column never missing came back mostly missing"


def test_a_500_category_column_keeps_declared_labels_and_frequent_values(odd):
    table, out = odd
    assert set(out["many"].dropna()) <= {f"c{i}" for i in range(500)}, "undeclared label in the output"
    frequent = set(table["many"].value_counts().index[:5])
    assert frequent & set(out["many"].value_counts().index[:10]), "the frequent categories were lost"


def test_an_all_missing_column_comes_back_mostly_missing(odd):
    _, out = odd
    assert out["empty"].isna().mean() > 0.8, f"all-missing column is {out['empty'].isna().mean():.0%} missing"


@pytest.mark.parametrize("mechanism", ["mst", "aim"])
def test_a_one_row_table_gives_rows_in_the_domain(mechanism):
    table = pd.DataFrame({"sex": ["f"], "age": [40], "image": ["a.png"]})
    schema = Schema(
        columns=(
            Column(name="sex", kind="categorical", categories=("f", "m"), public=True),
            Column(name="age", kind="numeric", dtype="int", bounds=(0, 99), public=True),
            Column(name="image", kind="image"),
        ),
        image_column="image",
    )
    out = synthesize_table(
        table,
        schema,
        rho=0.1,
        mechanism=mechanism,
        n_rows=5,
        seed=0,
        rng=np.random.default_rng(0),
        ledger=Ledger(),
        settings="fast",
    )
    assert len(out) == 5 and list(out.columns) == ["sex", "age"], f"got {out.shape} {list(out.columns)}"
    assert set(out["sex"].dropna()) <= {"f", "m"} and out["age"].dropna().between(0, 99).all()
