"""The one-run audit's ε lower bound against hand-computed values, and the memorisation check."""

import math

import numpy as np
import pandas as pd
import pytest
from eval_fakes import fake_pairs, fake_schema

from dptab_core.eval import privacy_checks as pc


def _tail(r: int, v: int, eps: float) -> float:
    """P[Binomial(r, e^ε/(1+e^ε)) ≥ v] written out term by term."""
    q = math.exp(eps) / (1 + math.exp(eps))
    return sum(math.comb(r, j) * q**j * (1 - q) ** (r - j) for j in range(v, r + 1))


def test_all_ten_guesses_right_give_the_closed_form_bound():
    # q^10 = β  ⇒  ε̂ = ln(q / (1 − q)) with q = 0.05^(1/10)
    q = 0.05**0.1
    got = pc.epsilon_lower_bound(n_canaries=10, n_guesses=10, n_correct=10, beta=0.05)
    assert got == pytest.approx(math.log(q / (1 - q)), abs=1e-5)


def test_the_bound_sits_where_the_binomial_tail_equals_beta():
    eps = pc.epsilon_lower_bound(n_canaries=100, n_guesses=40, n_correct=34, beta=0.05)
    assert eps > 0
    assert _tail(40, 34, eps) == pytest.approx(0.05, abs=1e-5), "ε̂ must be where P[≥ v correct] crosses β"


def test_too_few_guesses_cannot_reject_any_epsilon():
    # two right guesses happen with probability 1/4 even at ε = 0
    assert pc.epsilon_lower_bound(n_canaries=2, n_guesses=2, n_correct=2, beta=0.05) == 0.0


def test_chance_level_guessing_gives_zero():
    assert pc.epsilon_lower_bound(n_canaries=200, n_guesses=100, n_correct=52, beta=0.05) == 0.0


def test_delta_term_matches_hand_computation_and_weakens_the_bound():
    # m = r = v = 1, ε = 0: tail 0.5, α = P[B = 0] = 0.5  ⇒  p = 0.5 + 2·1·0.1·0.5
    assert pc.p_value(n_canaries=1, n_guesses=1, n_correct=1, epsilon=0.0, delta=0.1) == pytest.approx(0.6)
    without = pc.epsilon_lower_bound(n_canaries=100, n_guesses=50, n_correct=50, beta=0.05)
    with_delta = pc.epsilon_lower_bound(n_canaries=100, n_guesses=50, n_correct=50, beta=0.05, delta=1e-4)
    assert 0 < with_delta < without


def test_audit_from_perfect_scores_counts_every_guess_right():
    included = np.array([True, False] * 20)
    result = pc.audit_from_scores(included.astype(float), included, k_in=10, k_out=10)
    assert (result["n_guesses"], result["n_correct"]) == (20, 20)
    assert result["epsilon_lower_bound"] == pytest.approx(
        pc.epsilon_lower_bound(n_canaries=40, n_guesses=20, n_correct=20), abs=1e-9
    )


def test_audit_of_a_run_that_copies_its_training_images_finds_a_large_epsilon():
    table, images = fake_pairs(60, seed=0)
    config = pc.AuditConfig(n_canaries=100)
    result = pc.audit_one_run(lambda t, imgs: imgs, table, images, fake_schema(), config=config, seed=1)
    # 50 guesses all right: the most 100 canaries can show, ln(q/(1-q)) with q = 0.05^(1/50) ≈ 2.78
    assert result["n_correct"] == result["n_guesses"] == 50
    assert result["epsilon_lower_bound"] > 2.7, result


def test_audit_of_a_run_that_ignores_its_input_finds_nothing():
    table, images = fake_pairs(60, seed=0)
    rng = np.random.default_rng(7)

    def unrelated(t: pd.DataFrame, imgs: np.ndarray) -> np.ndarray:
        return rng.integers(0, 256, size=(60, *imgs.shape[1:]), dtype=np.uint8)

    result = pc.audit_one_run(unrelated, table, images, fake_schema(), config=pc.AuditConfig(n_canaries=100), seed=1)
    assert result["epsilon_lower_bound"] == 0.0, result


def test_canaries_carry_schema_valid_rows_and_distinct_file_names():
    table, _ = pc.make_canaries(fake_schema(), (16, 16, 3), n=20, rng=np.random.default_rng(0))
    assert set(table["colour"].dropna()) <= {"red", "green", "blue"}
    assert table["image"].is_unique


def test_memorisation_check_flags_copies_and_passes_fresh_samples():
    _, reference = fake_pairs(80, seed=0)
    _, heldout = fake_pairs(40, seed=1)
    _, fresh = fake_pairs(40, seed=2)
    copies = pc.memorisation_check(reference, heldout, reference[:40].copy())
    normal = pc.memorisation_check(reference, heldout, fresh)
    assert copies["nn_distance_ratio"] < 0.05, copies["nn_distance_ratio"]
    assert copies["share_closer_than_real"] == 1.0
    assert 0.7 < normal["nn_distance_ratio"] < 1.3, normal["nn_distance_ratio"]
    assert copies["closest_pairs"][0][2] == pytest.approx(0.0, abs=1e-3)
