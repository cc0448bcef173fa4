"""Table fidelity metrics on constructed cases whose answers are known."""

import numpy as np
import pytest

from dptab_core.eval import table_metrics as tm

SIZES = {"a": 3, "b": 2, "c": 2}


def _codes(seed: int, n: int = 300) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 3, n)
    return {"a": a, "b": (a > 0).astype(int), "c": rng.integers(0, 2, n)}


def test_identical_data_has_zero_tvd_everywhere():
    codes = _codes(0)
    assert tm.tvd_1way(codes, codes, SIZES)["max"] == 0.0, "1-way TVD of identical data must be 0"
    assert tm.tvd_2way(codes, codes, SIZES)["max"] == 0.0, "2-way TVD of identical data must be 0"
    assert tm.association_difference(codes, codes, SIZES) == 0.0


def test_disjoint_supports_have_tvd_one():
    real = {"a": np.zeros(10, int), "b": np.zeros(10, int), "c": np.zeros(10, int)}
    syn = {"a": np.full(10, 2), "b": np.ones(10, int), "c": np.ones(10, int)}
    assert tm.tvd_1way(real, syn, SIZES)["mean"] == 1.0
    assert tm.tvd_2way(real, syn, SIZES)["mean"] == 1.0


def test_two_way_tvd_sees_a_lost_link_that_one_way_tvd_misses():
    real = _codes(1)
    broken = dict(real, b=np.random.default_rng(2).permutation(real["b"]))  # same marginal, link a→b gone
    assert tm.tvd_1way(real, broken, SIZES)["per_column"]["b"] == 0.0
    two = tm.tvd_2way(real, broken, SIZES)
    assert two["worst_pairs"][0][:2] == ["a", "b"], f"the worst pair should be (a, b), got {two['worst_pairs'][0]}"
    assert two["worst_pairs"][0][2] > 0.2


def test_hand_computed_two_way_tvd():
    real = {"x": np.array([0, 0, 1, 1]), "y": np.array([0, 1, 0, 1])}
    syn = {"x": np.array([0, 0, 1, 1]), "y": np.array([0, 0, 1, 1])}
    # real joint: 0.25 each cell; synthetic: 0.5 on (0,0) and (1,1) → ½·(4·0.25) = 0.5
    assert tm.tvd_2way(real, syn, {"x": 2, "y": 2})["mean"] == pytest.approx(0.5)


def test_cramers_v_is_zero_for_independent_and_one_for_determined_columns():
    x = np.repeat([0, 1], 50)
    y = np.tile([0, 1], 50)
    assert tm.cramers_v(x, y, 2, 2) == pytest.approx(0.0, abs=1e-12)
    assert tm.cramers_v(x, x, 2, 2) == pytest.approx(1.0)


def test_tstr_on_real_copy_matches_train_on_real():
    codes = _codes(3, 400)
    train = {k: v[:300] for k, v in codes.items()}
    test = {k: v[300:] for k, v in codes.items()}
    result = tm.tstr_table(train, test, train, SIZES, target="b")
    assert result["synthetic"] == result["real"] == 1.0, f"b is a function of a: {result}"


def test_tstr_on_unlinked_synthetic_falls_to_the_majority_rate():
    codes = _codes(4, 400)
    train = {k: v[:300] for k, v in codes.items()}
    test = {k: v[300:] for k, v in codes.items()}
    unlinked = dict(train, b=np.random.default_rng(5).permutation(train["b"]))
    result = tm.tstr_table(train, test, unlinked, SIZES, target="b")
    assert result["synthetic"] <= result["majority"] + 0.05 < result["real"], result
