"""synthesize_table end to end on small tables: types, labels, domain, reproducibility, spend, utility."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from dptab_core.data.encoding import domain_size, encode_table
from dptab_core.data.schema import Column, Schema
from dptab_core.errors import DataError, InputError, PlanError
from dptab_core.privacy.ledger import Ledger
from dptab_core.table import synthesize_table, synthesize_table_result
from dptab_core.table.marginals import all_pairs, average_tvd

pytestmark = pytest.mark.slow

N = 600


def ledger_rho(ledger: Ledger) -> float:
    """Total zCDP spend of a ledger: gaussian entries count Δ²/(2σ²), zcdp entries their ρ."""
    return sum(e.rho if e.mechanism == "zcdp" else e.sensitivity**2 / (2 * e.sigma**2) for e in ledger.entries)


def make_table(n: int, seed: int) -> tuple[pd.DataFrame, Schema]:
    """A correlated table: age drives site and score; some values missing."""
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 90, size=n)
    site = np.where(
        age > 50,
        rng.choice(["arm", "leg"], size=n, p=[0.9, 0.1]),
        rng.choice(["arm", "leg", "head"], size=n, p=[0.1, 0.6, 0.3]),
    )
    score = np.clip(age / 100 + rng.normal(0, 0.05, size=n), 0, 1)
    table = pd.DataFrame(
        {
            "age": age,
            "site": site,
            "score": score,
            "smoker": rng.integers(0, 2, size=n),
            "image": [f"{i}.png" for i in range(n)],
        }
    )
    table.loc[::37, "site"] = None
    schema = Schema(
        columns=(
            Column(name="age", kind="numeric", dtype="int", bounds=(18, 89), bins=8, public=True),
            Column(name="site", kind="categorical", dtype="str", categories=("arm", "leg", "head"), public=True),
            Column(name="score", kind="numeric", dtype="float", bounds=(0.0, 1.0), bins=8, public=True),
            Column(name="smoker", kind="categorical", dtype="int", categories=("0", "1"), public=True),
            Column(name="image", kind="image"),
        ),
        image_column="image",
    )
    return table, schema


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, Schema]:
    return make_table(N, seed=1)


@pytest.fixture(scope="module")
def mst_run(data):
    table, schema = data
    ledger, events = Ledger(), []
    result = synthesize_table_result(
        table,
        schema,
        rho=0.5,
        mechanism="mst",
        n_rows=N,
        seed=3,
        rng=np.random.default_rng(4),
        ledger=ledger,
        progress=lambda f, m: events.append((f, m)),
        settings="fast",
    )
    return result, ledger, events


@pytest.fixture(scope="module")
def aim_run(data):
    table, schema = data
    ledger, events = Ledger(), []
    result = synthesize_table_result(
        table,
        schema,
        rho=0.5,
        mechanism="aim",
        seed=3,
        rng=np.random.default_rng(4),
        ledger=ledger,
        progress=lambda f, m: events.append((f, m)),
        settings="fast",
    )
    return result, ledger, events


def test_output_has_schema_columns_dtypes_and_requested_rows(mst_run, data):
    table, schema = data
    out = mst_run[0].table
    assert list(out.columns) == ["age", "site", "score", "smoker"], f"columns: {list(out.columns)}"
    assert len(out) == N, f"asked for {N} rows, got {len(out)}"
    assert str(out["age"].dtype) == "Int64", f"int column came back as {out['age'].dtype}"
    assert out["score"].dtype == float, f"float column came back as {out['score'].dtype}"
    assert str(out["smoker"].dtype) == "Int64", f"int-labelled category came back as {out['smoker'].dtype}"


def test_output_stays_inside_the_declared_domain(mst_run, aim_run):
    for result in (mst_run[0], aim_run[0]):
        out = result.table
        assert set(out["site"].dropna()) <= {"arm", "leg", "head"}, f"site labels {set(out['site'].dropna())}"
        assert out["age"].dropna().between(18, 89).all(), "age outside its bounds"
        assert out["score"].dropna().between(0.0, 1.0).all(), "score outside its bounds"
        assert set(out["smoker"].dropna()) <= {0, 1}, f"smoker values {set(out['smoker'].dropna())}"


@pytest.mark.parametrize("run", ["mst_run", "aim_run"])
def test_ledger_spend_equals_rho(run, request):
    result, ledger, _ = request.getfixturevalue(run)
    assert abs(ledger_rho(ledger) - 0.5) < 1e-9, f"ledger spent {ledger_rho(ledger)}, planned 0.5"
    assert abs(result.budget.spent - 0.5) < 1e-9, f"budget split sums to {result.budget.spent}"
    assert all(e.stage == "table" for e in ledger.entries), "a table release recorded under another stage"


def test_mst_budget_split_is_thirds(mst_run):
    lines = {line.label: line for line in mst_run[0].budget.lines}
    assert set(lines) == {"1-way marginals", "tree selection", "2-way marginals"}, f"lines: {set(lines)}"
    for line in lines.values():
        assert math.isclose(line.rho, 0.5 / 3, rel_tol=1e-12), f"{line.label} got ρ={line.rho}, expected a third"
    assert lines["2-way marginals"].count == 3, "a tree over 4 columns has 3 edges"


def test_progress_reports_rounds_and_rho_spent(mst_run, aim_run):
    for _, _, events in (mst_run, aim_run):
        fractions = [f for f, _ in events]
        assert fractions == sorted(fractions) and fractions[-1] == 1.0, f"progress not monotone to 1: {fractions}"
        assert all("ρ spent" in m for _, m in events), "a progress message does not say how much ρ was spent"
    assert any("round 2" in m for _, m in aim_run[2]), "AIM did not report its rounds"


def test_aim_respects_its_round_cap(aim_run):
    assert aim_run[0].info["rounds"] <= 24, f"AIM ran {aim_run[0].info['rounds']} rounds, the fast preset caps 24"


def test_same_seeds_give_the_same_table(mst_run, data):
    table, schema = data
    again = synthesize_table(
        table,
        schema,
        rho=0.5,
        mechanism="mst",
        n_rows=N,
        seed=3,
        rng=np.random.default_rng(4),
        ledger=Ledger(),
        settings="fast",
    )
    pd.testing.assert_frame_equal(mst_run[0].table, again)


def test_more_budget_gives_closer_marginals():
    table, schema = make_table(2000, seed=5)
    real = encode_table(table, schema)
    sizes = {c.name: domain_size(c) for c in schema.synthesized_columns()}
    tvd = {}
    for eps, rho in ((0.3, 0.3**2 / 8), (10.0, 2.0)):  # ρ roughly of ε=0.3 and ε=10 at δ≈1e-6
        out = synthesize_table(
            table, schema, rho=rho, n_rows=2000, seed=0, rng=np.random.default_rng(0), ledger=Ledger(), settings="fast"
        )
        synth = encode_table(out.assign(image=""), schema)
        tvd[eps] = average_tvd(real, synth, sizes, all_pairs(list(sizes)))
    assert tvd[10.0] < tvd[0.3], f"2-way TVD at ε=10 ({tvd[10.0]:.3f}) not below ε=0.3 ({tvd[0.3]:.3f})"


def test_unknown_rows_default_to_the_noisy_total(aim_run):
    assert abs(len(aim_run[0].table) - N) < 0.2 * N, f"{len(aim_run[0].table)} rows for a table of {N}"


def test_bad_inputs_raise_clear_errors(data):
    table, schema = data
    with pytest.raises(PlanError, match="rho > 0"):
        synthesize_table(table, schema, rho=0.0, ledger=Ledger())
    with pytest.raises(DataError, match="no rows"):
        synthesize_table(table.iloc[:0], schema, rho=1.0, ledger=Ledger())
    with pytest.raises(DataError, match="lacks"):
        synthesize_table(table.drop(columns=["site"]), schema, rho=1.0, ledger=Ledger())
    with pytest.raises(InputError, match="unknown table mechanism"):
        synthesize_table(table, schema, rho=1.0, mechanism="gan", ledger=Ledger())
