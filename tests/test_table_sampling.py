"""mbi 2.0's sampling keeps every pair close to the model, including pairs no measurement covered.

mbi 1.1's "round" method assigned values by position inside parent groups and created false links
between columns that were not neighbours in the model (FINDINGS.md); 2.0 shuffles within groups.
"""

from __future__ import annotations

import numpy as np
import pytest

from dptab_core.privacy.ledger import Ledger
from dptab_core.table.marginals import (
    ModelMarginals,
    all_pairs,
    estimate,
    make_domain,
    marginal_counts,
    measure,
    sample_codes,
    total_variation,
)

pytestmark = pytest.mark.slow
SIZES = {"a": 3, "b": 4, "c": 3, "d": 2}


def fit(cliques: list[tuple[str, ...]]):
    """A model fitted to nearly noise-free marginals of correlated data over a–b–c–d."""
    rng = np.random.default_rng(0)
    n = 5000
    a = rng.integers(0, 3, size=n)
    b = np.where(rng.random(n) < 0.8, a, rng.integers(0, 4, size=n))
    c = np.where(rng.random(n) < 0.8, b % 3, rng.integers(0, 3, size=n))
    d = np.where(rng.random(n) < 0.8, c % 2, rng.integers(0, 2, size=n))
    codes = {"a": a, "b": b, "c": c, "d": d}
    ledger = Ledger()
    measurements = [measure(codes, SIZES, cl, sigma=1.0, rng=rng, ledger=ledger, label=str(cl)) for cl in cliques]
    return estimate(make_domain(SIZES), measurements, iters=300)


@pytest.fixture(scope="module")
def chain_model():
    return fit([("a",), ("b",), ("c",), ("d",), ("a", "b"), ("b", "c"), ("c", "d")])


def test_numpy_marginals_match_mbi_projection_on_measured_and_unmeasured_pairs(chain_model):
    exact = ModelMarginals(chain_model)
    for pair in [("a", "b"), ("a", "d"), ("b", "d")]:
        ours, theirs = exact(pair), np.asarray(chain_model.project(pair).datavector())
        assert np.allclose(ours, theirs, rtol=1e-6, atol=1e-6), f"{pair}: numpy marginal differs from mbi's"


def test_numpy_marginals_match_mbi_projection_when_the_model_has_a_cycle():
    model = fit([("a", "b"), ("b", "c"), ("a", "c"), ("c", "d")])
    exact = ModelMarginals(model)
    for pair in all_pairs(list(SIZES)):
        ours, theirs = exact(pair), np.asarray(model.project(pair).datavector())
        assert np.allclose(ours, theirs, rtol=1e-6, atol=1e-6), f"{pair}: numpy marginal differs from mbi's"


@pytest.mark.parametrize("method", ["round", "sample"])
def test_sampled_rows_match_the_model_on_every_pair(chain_model, method):
    synth = sample_codes(chain_model, rows=20000, seed=1, method=method)
    exact = ModelMarginals(chain_model)
    for pair in all_pairs(list(SIZES)):
        tvd = total_variation(marginal_counts(synth, SIZES, pair), exact(pair))
        assert tvd < 0.02, f"{method}: pair {pair} is {tvd:.3f} off the model (false links?)"


def test_sampling_is_reproducible_and_leaves_global_numpy_state_alone(chain_model):
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    first = sample_codes(chain_model, rows=500, seed=7)
    assert np.array_equal(np.random.get_state()[1], before), "sampling changed the global np.random state"
    second = sample_codes(chain_model, rows=500, seed=7)
    assert all(np.array_equal(first[c], second[c]) for c in SIZES), "same seed gave different rows"
