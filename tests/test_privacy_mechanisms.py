"""Each mechanism's stated sensitivity holds (changing one individual moves the pre-noise output by at
most that much), noise has the stated scale, and the schema stage spends exactly its plan."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dptab_core.data.schema import Column, Schema
from dptab_core.privacy import (
    DPSGDSettings,
    Ledger,
    MeanPairSettings,
    SemanticQuerySettings,
    plan_budget,
    verify_ledger_matches_plan,
)
from dptab_core.privacy.domain import category_counts, dp_categories, pay_for_domains
from dptab_core.privacy.mechanisms import exponential_select, gaussian_release
from dptab_core.privacy.quantiles import _count, level0_cells

LABELS = st.sampled_from(["a", "b", "c", "rare", "zz", None])


@settings(max_examples=60, deadline=None)
@given(st.lists(LABELS, max_size=40), LABELS)
def test_adding_one_person_moves_the_category_counts_by_at_most_one_in_l2(values, extra):
    before = category_counts(pd.Series(values, dtype=object))
    after = category_counts(pd.Series([*values, extra], dtype=object))
    keys = set(before) | set(after)
    moved = math.sqrt(sum((after.get(k, 0) - before.get(k, 0)) ** 2 for k in keys))
    assert moved <= 1.0, f"counts moved by {moved}"


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6), max_size=40), st.floats(-1e6, 1e6), st.booleans())
def test_adding_one_person_moves_the_histogram_counts_by_at_most_one_in_l2(values, extra, split):
    lows, highs = level0_cells(None)
    if split:  # a refined level: some cells split in parts, the rest absent
        lows, highs = np.linspace(-1e3, 1e3, 9)[:-1], np.linspace(-1e3, 1e3, 9)[1:]
    before = _count(np.array(values, dtype=float), lows, highs)
    after = _count(np.array([*values, extra], dtype=float), lows, highs)
    assert np.sqrt(np.sum((after - before) ** 2)) <= 1.0 + 1e-9, "one row moved the counts by more than 1"


def test_gaussian_release_adds_noise_of_the_stated_std_and_records_it():
    ledger = Ledger()
    noisy = gaussian_release(
        np.zeros(20_000),
        sensitivity=2.0,
        sigma=3.0,
        rng=np.random.default_rng(1),
        ledger=ledger,
        stage="table",
        label="test",
    )
    assert abs(noisy.std() - 3.0) < 0.1, f"noise std {noisy.std()} instead of 3"
    assert ledger.entries[0].noise_multiplier == 1.5


def test_exponential_select_prefers_higher_scores_at_the_stated_rate():
    ledger = Ledger()
    rng = np.random.default_rng(2)
    picks = [
        exponential_select(
            np.array([0.0, 1.0]), sensitivity=1.0, epsilon=2.0, rng=rng, ledger=ledger, stage="schema", label="t"
        )
        for _ in range(4000)
    ]
    ratio = picks.count(1) / max(1, picks.count(0))
    assert 2.4 < ratio < 3.1, f"odds {ratio}, expected e^(ε/2) ≈ 2.72"
    assert math.isclose(ledger.entries[0].rho, 0.5), "ε = 2 must be accounted as ρ = ε²/8"


def test_a_category_held_by_one_person_is_not_released_but_a_common_one_is():
    ledger = Ledger()
    values = pd.Series(["common"] * 3000 + ["mine"])
    released = dp_categories(
        values, rho=0.5, partition_delta=1e-8, rng=np.random.default_rng(3), ledger=ledger, column_name="site"
    )
    assert released == ("common",), released
    assert ledger.entries[0].details["partition_delta"] == 1e-8


@pytest.fixture
def private_table():
    rng = np.random.default_rng(5)
    return pd.DataFrame(
        {
            "age": rng.integers(18, 90, 3000),
            "site": rng.choice(["arm", "leg", "back"], 3000),
            "image": [f"{i}.png" for i in range(3000)],
        }
    )


def test_pay_for_domains_fills_private_domains_and_spends_exactly_the_plan(private_table):
    schema = Schema(
        columns=(
            Column(name="age", kind="numeric", dtype="int"),
            Column(name="site", kind="categorical", categories=("arm", "leg", "back", "toe")),
            Column(name="image", kind="image"),
        ),
        image_column="image",
    )
    plan = plan_budget(
        epsilon=4.0,
        delta=1e-6,
        n_rows=3000,
        n_paid_columns=2,
        n_paid_categorical=1,
        semantic_query=SemanticQuerySettings(enabled=False),
        mean_pairs=MeanPairSettings(enabled=False),
        dpsgd=DPSGDSettings(enabled=False),
        table_enabled=False,
    )
    ledger = Ledger()
    paid = pay_for_domains(
        private_table,
        schema,
        rho=plan.stages["schema"].params["rho"],
        rng=np.random.default_rng(6),
        ledger=ledger,
        delta_budget=plan.partition_delta,
    )
    site, age = paid.column("site"), paid.column("age")
    assert set(site.categories) == {"arm", "leg", "back"}, "the proposal's unseen 'toe' must not survive"
    assert age.bounds[0] <= 20 and age.bounds[1] >= 85, f"bounds {age.bounds} clip most of the ages"
    assert not site.public and site.note.startswith("paid:") and age.note.startswith("paid:")
    verify_ledger_matches_plan(ledger, plan)


def test_public_domains_are_not_paid_for(private_table):
    schema = Schema(
        columns=(
            Column(name="age", kind="numeric", dtype="int", bounds=(0, 100), public=True),
            Column(name="image", kind="image"),
        ),
        image_column="image",
    )
    ledger = Ledger()
    assert (
        pay_for_domains(private_table, schema, rho=0.1, rng=np.random.default_rng(0), ledger=ledger, delta_budget=0.0)
        == schema
    )
    assert ledger.entries == []
