"""The sensitivities the table mechanisms claim, checked by adding, removing or changing one row."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from dptab_core.privacy.ledger import Ledger
from dptab_core.table.aim import workload_candidates
from dptab_core.table.compression import Compression
from dptab_core.table.marginals import MARGINAL_SENSITIVITY, marginal_counts

SIZES = {"a": 3, "b": 4, "c": 2}


def random_codes(n: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {c: rng.integers(0, s, size=n) for c, s in SIZES.items()}


def drop_row(codes: dict[str, np.ndarray], i: int) -> dict[str, np.ndarray]:
    return {c: np.delete(v, i) for c, v in codes.items()}


CLIQUES = [cl for k in (1, 2, 3) for cl in itertools.combinations(SIZES, k)]


@pytest.mark.parametrize("clique", CLIQUES)
def test_removing_one_row_moves_every_marginal_by_exactly_the_claimed_l2_sensitivity(clique):
    codes = random_codes(50, seed=0)
    for i in (0, 17, 49):
        change = np.linalg.norm(
            marginal_counts(codes, SIZES, clique) - marginal_counts(drop_row(codes, i), SIZES, clique)
        )
        assert math.isclose(change, MARGINAL_SENSITIVITY), f"{clique}: removing row {i} moved L2 by {change}"


def test_replacing_one_row_would_need_sqrt2_which_is_why_we_use_add_remove():
    codes = random_codes(50, seed=1)
    changed = {c: v.copy() for c, v in codes.items()}
    changed["a"][0] = (changed["a"][0] + 1) % SIZES["a"]
    change = np.linalg.norm(marginal_counts(codes, SIZES, ("a",)) - marginal_counts(changed, SIZES, ("a",)))
    assert math.isclose(change, math.sqrt(2)), f"replace-one moved a 1-way marginal by {change}, expected √2"


def test_mst_edge_score_moves_by_at_most_one_when_a_row_is_removed():
    codes = random_codes(80, seed=2)
    estimate = np.full(SIZES["a"] * SIZES["b"], 80 / 12)  # any estimate fixed by earlier releases
    score = np.abs(marginal_counts(codes, SIZES, ("a", "b")) - estimate).sum()
    for i in range(80):
        other = np.abs(marginal_counts(drop_row(codes, i), SIZES, ("a", "b")) - estimate).sum()
        assert abs(score - other) <= 1.0 + 1e-12, f"removing row {i} moved the score by {abs(score - other)}"


def test_aim_weighted_scores_move_by_at_most_the_largest_weight():
    codes = random_codes(60, seed=3)
    weights = workload_candidates(list(SIZES))
    for clique, weight in weights.items():
        estimate = np.full(math.prod(SIZES[c] for c in clique), 1.0)
        full = weight * np.abs(marginal_counts(codes, SIZES, clique) - estimate).sum()
        less = weight * np.abs(marginal_counts(drop_row(codes, 5), SIZES, clique) - estimate).sum()
        assert abs(full - less) <= max(weights.values()) + 1e-12, f"{clique}: score moved by {abs(full - less)}"


def test_a_measurement_records_its_gaussian_spend_in_the_ledger():
    from dptab_core.table.marginals import measure

    ledger = Ledger()
    measure(
        random_codes(10, seed=4),
        SIZES,
        ("a", "b"),
        sigma=2.0,
        rng=np.random.default_rng(0),
        ledger=ledger,
        label="test",
    )
    (entry,) = ledger.entries
    assert (entry.stage, entry.mechanism, entry.sensitivity, entry.sigma) == ("table", "gaussian", 1.0, 2.0)
    assert entry.details["clique"] == ["a", "b"], f"ledger entry does not name its clique: {entry.details}"


def test_compression_merges_only_codes_whose_noisy_count_is_below_the_threshold():
    noisy = {"a": np.array([100.0, 2.0, 50.0, -1.0, 0.5])}
    comp = Compression.from_noisy_counts(noisy, sigma=10.0, threshold=3.0)
    assert comp.mapping["a"].tolist() == [0, 2, 1, 2, 2], f"mapping {comp.mapping['a'].tolist()}"
    restored = comp.decompress({"a": np.array([2] * 400)}, rng=np.random.default_rng(0))["a"]
    assert set(restored) <= {1, 3, 4}, f"merged code restored outside its members: {set(restored)}"
    assert 0.7 < (restored == 1).mean() < 0.9, "merged code not restored in proportion to the clipped noisy counts"
