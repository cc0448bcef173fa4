"""A synthetic table a recipient would believe: DP bounds near the data, bins that follow it, integers
that stay integers, no blanks in a column without blanks, and every DP read on the ledger of the plan."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from dptab_core.data.encoding import decode_column, encode_column
from dptab_core.data.schema import Column, Schema
from dptab_core.privacy import (
    DPSGDSettings,
    Ledger,
    MeanPairSettings,
    SemanticQuerySettings,
    plan_budget,
    verify_ledger_matches_plan,
)
from dptab_core.privacy.domain import pay_for_domains
from dptab_core.table import synthesize_table


def _upload(n: int = 3000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "age": pd.array(rng.integers(1, 111, n), dtype="Int64"),
            "sex": rng.choice(["female", "male"], n).astype(object),
            "photo": [f"{i}.png" for i in range(n)],
        }
    )


def _proposed() -> Schema:
    """Nothing declared public: what the Data page proposes by default."""
    return Schema(
        columns=(
            Column(name="age", kind="numeric", dtype="int", bounds=(1, 200), binning="quantile", missing="learn"),
            Column(name="sex", kind="categorical", categories=("female", "male"), missing="learn"),
            Column(name="photo", kind="image"),
        ),
        image_column="photo",
    )


@pytest.fixture(scope="module")
def released():
    table, schema = _upload(), _proposed()
    plan = plan_budget(
        epsilon=10.0,
        delta=1e-6,
        n_rows=len(table),
        n_paid_columns=2,
        n_paid_categorical=1,
        semantic_query=SemanticQuerySettings(enabled=False),
        mean_pairs=MeanPairSettings(enabled=False),
        dpsgd=DPSGDSettings(enabled=False),
    )
    ledger, rng = Ledger(), np.random.default_rng(1)
    paid = pay_for_domains(
        table,
        schema,
        rho=plan.stages["schema"].params["rho"],
        rng=rng,
        ledger=ledger,
        delta_budget=plan.partition_delta,
    )
    synthetic = synthesize_table(
        table, paid, rho=plan.stages["table"].params["rho"], mechanism="mst", seed=2, rng=rng, ledger=ledger
    )
    return table, paid, synthetic, ledger, plan


def test_ages_1_to_110_at_eps_10_with_no_public_bounds_stay_in_0_130_with_the_median_within_10_percent(released):
    table, _, synthetic, _, _ = released
    ages = synthetic["age"].astype(float)
    assert ages.min() >= 0 and ages.max() <= 130, f"synthetic ages reach {ages.min()}–{ages.max()}"
    real, fake = float(table["age"].median()), float(ages.median())
    assert abs(fake - real) <= 0.1 * real, f"median {fake} vs real {real}"


def test_dp_bins_follow_the_data_not_equal_widths_over_the_proposed_range(released):
    _, paid, _, _, _ = released
    age = paid.column("age")
    assert age.edges is not None and age.edges[0] <= 5 and 100 <= age.edges[-1] <= 115, age.edges
    assert age.note.startswith("paid:") and not age.public


def test_integer_columns_come_back_as_integers_and_complete_columns_without_blanks(released):
    _, paid, synthetic, _, _ = released
    assert str(synthetic["age"].dtype) == "Int64"
    assert (synthetic["age"].dropna() % 1 == 0).all()
    assert paid.column("age").missing == "never" and paid.column("sex").missing == "never", "no blanks were seen"
    assert synthetic[["age", "sex"]].isna().sum().sum() == 0


def test_every_dp_read_of_the_schema_and_table_is_on_the_ledger_and_equals_the_plan(released):
    *_, ledger, plan = released
    verify_ledger_matches_plan(ledger, plan)
    assert {e.stage for e in ledger.entries} == {"schema", "table"}


def test_a_column_with_many_blanks_learns_that_blanks_are_allowed():
    rng = np.random.default_rng(3)
    values = rng.integers(20, 80, 3000).astype(float)
    values[:600] = np.nan
    table = pd.DataFrame({"x": values, "img": ["a"] * 3000})
    schema = Schema(
        columns=(
            Column(name="x", kind="numeric", dtype="int", bounds=(0, 100), public=True, missing="learn"),
            Column(name="img", kind="image"),
        ),
        image_column="img",
    )
    paid = pay_for_domains(table, schema, rho=0.01, rng=rng, ledger=Ledger(), delta_budget=0.0)
    assert paid.column("x").missing == "allowed"


def test_a_column_declared_complete_never_decodes_to_a_blank_even_when_the_model_draws_the_blank_code():
    column = Column(name="site", kind="categorical", categories=("arm", "leg"), public=True, missing="never")
    codes = np.array([0, 1, 2, 2, 0, 2])  # 2 = the blank code
    out = decode_column(codes, column, rng=np.random.default_rng(0))
    assert out.notna().all() and set(out) <= {"arm", "leg"}
    allowed = replace(column, missing="allowed")
    assert decode_column(codes, allowed, rng=np.random.default_rng(0)).isna().sum() == 3


def test_a_spike_value_gets_a_bin_of_its_own_and_comes_back_exact():
    column = Column(name="gain", kind="numeric", dtype="int", edges=(0.0, 1.0, 2.0, 16.0))
    codes = encode_column(pd.Series([0, 0, 1, 7, 15, 400]), column)
    assert codes.tolist() == [0, 0, 1, 2, 2, 2]
    values = decode_column(np.zeros(200, dtype=int), column, rng=np.random.default_rng(0))
    assert (values == 0).all(), "the bin [0, 1) of an integer column holds 0 only"
    top = decode_column(np.full(500, 2), column, rng=np.random.default_rng(0)).astype(int)
    assert top.min() >= 2 and top.max() <= 16, "values never leave the edges"


def test_float_values_are_drawn_inside_their_bin_and_never_past_the_edges():
    column = Column(name="mm", kind="numeric", dtype="float", edges=(1.5, 2.0, 4.0, 9.5))
    values = decode_column(np.array([0, 1, 2] * 300), column, rng=np.random.default_rng(1)).to_numpy()
    assert values.min() >= 1.5 and values.max() <= 9.5
    assert ((values[0::3] >= 1.5) & (values[0::3] < 2.0)).all()


@pytest.mark.parametrize(
    ("draw", "outer"),
    [
        (lambda rng: rng.integers(1, 111, 1000).astype(float), (0.0, 1000.0)),
        (lambda rng: rng.uniform(1e6, 2e6, 1000), (1e6, 1e7)),
        (lambda rng: rng.normal(-50, 10, 1000), (-1000.0, 0.0)),
    ],
)
def test_dp_bounds_are_never_absurd_at_1000_rows_and_eps_1(draw, outer):
    """The whole pipeline at ε = 1 leaves the schema stage ~1e-4 ρ per column: the bounds may be coarse,
    but they stay within the decades that hold the data."""
    from dptab_core.privacy.quantiles import dp_histogram, edges_from_histogram

    plan = plan_budget(epsilon=1.0, delta=1e-5, n_rows=1000, n_paid_columns=3, n_paid_categorical=1)
    rho = plan.stages["schema"].params["rho_per_column"]
    for seed in range(10):
        values = draw(np.random.default_rng(seed))
        hist = dp_histogram(
            values, rho=rho, integer=False, rng=np.random.default_rng(100 + seed), ledger=Ledger(), label="x"
        )
        edges = edges_from_histogram(hist, bins=16)
        assert outer[0] <= edges[0] < edges[-1] <= outer[1], f"seed {seed}: bounds {edges[0]}–{edges[-1]}"
