"""The NumPy junction-tree fit AIM refits with: same answer as mbi's MirrorDescent, warm starts, deadlines."""

from __future__ import annotations

import time

import numpy as np
import pytest

from dptab_core.privacy.ledger import Ledger
from dptab_core.table.marginals import (
    ModelMarginals,
    all_pairs,
    estimate,
    load_mbi,
    make_domain,
    marginal_counts,
    measure,
    sample_codes,
    total_variation,
)
from dptab_core.table.tree_fit import calibrate, fit_tree

SIZES = {"a": 3, "b": 4, "c": 2, "d": 5, "e": 3}
CYCLE = [("a",), ("b",), ("c",), ("d",), ("e",), ("a", "b"), ("b", "c"), ("a", "c"), ("c", "d"), ("a", "d")]


def correlated_codes(n: int = 2000, seed: int = 0) -> dict[str, np.ndarray]:
    """a drives b and d, b drives c; e is independent of everything."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 3, n)
    b = (a + rng.integers(0, 2, n)) % 4
    c = (b > 1).astype(int) ^ (rng.random(n) < 0.1)
    d = (a + c + rng.integers(0, 3, n)) % 5
    return {"a": a, "b": b, "c": c, "d": d, "e": rng.integers(0, 3, n)}


def noisy(cliques, *, sigma: float = 5.0, seed: int = 1, codes=None, sizes=SIZES) -> list:
    rng, ledger = np.random.default_rng(seed), Ledger()
    codes = correlated_codes() if codes is None else codes
    return [measure(codes, sizes, cl, sigma=sigma, rng=rng, ledger=ledger, label=str(cl)) for cl in cliques]


def test_fit_equals_mbi_mirror_descent_on_a_model_with_a_cycle():
    measurements = noisy(CYCLE)
    theirs = estimate(make_domain(SIZES), measurements, iters=50)
    ours = fit_tree(SIZES, measurements, iters=50)
    assert ours.total == pytest.approx(float(theirs.total)), "the total estimate differs from mbi's"
    for clique in CYCLE:
        gap = np.abs(ours.marginal(clique) - np.asarray(theirs.project(clique).datavector())).max()
        assert gap < 1e-6, f"{clique}: our marginal is {gap:.2g} counts away from mbi's after the same 50 steps"


def test_fit_equals_mbi_on_compressed_weighted_measurements():
    merge = np.array([0, 0, 1, 1, 2])  # d's five codes merged into three, as MST's compression does
    small = {**SIZES, "d": 3}
    codes = correlated_codes()
    measurements = [m.compress({"d": merge}, make_domain(SIZES)) for m in noisy([("d",), ("a", "d")])]
    measurements += noisy([("a",)], codes={**codes, "d": merge[codes["d"]]}, sizes=small)
    theirs = estimate(make_domain(small), measurements, iters=50)
    ours = fit_tree(small, measurements, iters=50)
    gap = np.abs(ours.marginal(("a", "d")) - np.asarray(theirs.project(("a", "d")).datavector())).max()
    assert gap < 1e-6, f"weighted (compressed) measurements: {gap:.2g} counts away from mbi's"


def test_calibrated_nodes_agree_on_shared_attributes_and_sum_to_the_total():
    model = fit_tree(SIZES, noisy(CYCLE), iters=100)
    for node, table in model.marginals.items():
        assert table.sum() == pytest.approx(model.total), f"node {node} sums to {table.sum()}, not the total"
    for attr in SIZES:
        tables = [
            model.marginals[n].sum(axis=tuple(i for i, v in enumerate(n) if v != attr))
            for n in model.tree.nodes
            if attr in n
        ]
        assert all(np.allclose(t, tables[0]) for t in tables), f"nodes disagree on the marginal of {attr}"


def test_calibrate_matches_brute_force_on_a_forest():
    rng = np.random.default_rng(5)
    model = fit_tree(SIZES, noisy([("a", "b"), ("b", "c"), ("d", "e")]), iters=0)
    potentials = {n: rng.normal(size=[SIZES[v] for v in n]) for n in model.tree.nodes}
    got = calibrate(model.tree, potentials, 10.0)
    joint = sum(potentials[n].reshape([SIZES[v] if v in n else 1 for v in SIZES]) for n in model.tree.nodes)
    joint = np.exp(joint - joint.max())
    joint *= 10.0 / joint.sum()
    for node, table in got.items():
        exact = joint.sum(axis=tuple(i for i, v in enumerate(SIZES) if v not in node))
        assert np.allclose(table, exact), f"node {node}: belief propagation differs from the brute-force marginal"


def test_warm_start_with_no_steps_returns_the_previous_model():
    measurements = noisy(CYCLE)
    first = fit_tree(SIZES, measurements[:7], iters=100)
    again = fit_tree(SIZES, measurements[:7], iters=0, warm_start=first)
    assert np.allclose(again.marginal(("a", "b")), first.marginal(("a", "b"))), "a warm start lost the fit"
    grown = fit_tree(SIZES, measurements, iters=0, warm_start=first)
    assert np.allclose(grown.marginal(("a", "b")) / grown.total, first.marginal(("a", "b")) / first.total), (
        "adding cliques with zero potentials changed the warm-started distribution"
    )


def test_a_passed_deadline_stops_the_descent():
    measurements = noisy(CYCLE)
    started = time.perf_counter()
    model = fit_tree(SIZES, measurements, iters=100_000, deadline=time.perf_counter() + 0.3)
    assert time.perf_counter() - started < 5.0, "the fit ran past its deadline"
    assert not np.allclose(model.marginal(("a", "b")), np.full(12, model.total / 12)), "the fit made no progress"


@pytest.mark.slow
def test_converted_model_samples_rows_matching_its_own_marginals():
    model = fit_tree(SIZES, noisy(CYCLE, sigma=1.0), iters=300)
    synth = sample_codes(model.to_mbi(), rows=20000, seed=2)
    exact = ModelMarginals(model)
    for pair in all_pairs(list(SIZES)):
        tvd = total_variation(marginal_counts(synth, SIZES, pair), exact(pair))
        assert tvd < 0.02, f"pair {pair}: sampled rows are {tvd:.3f} off the fitted model"


def test_model_marginals_of_a_tree_model_match_mbi_variable_elimination():
    model = fit_tree(SIZES, noisy(CYCLE), iters=100)
    converted = model.to_mbi()
    mbi = load_mbi()
    for pair in [("b", "d"), ("b", "e"), ("c", "e")]:
        theirs = np.asarray(
            mbi.marginal_oracles.variable_elimination(converted.potentials, pair, model.total).datavector()
        )
        assert np.allclose(ModelMarginals(model)(pair), theirs, atol=1e-6), f"{pair}: marginal differs from mbi's"
