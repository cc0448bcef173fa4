"""Cross-modal agreement and its normalisation between shuffled pairs (0) and real pairs (1)."""

import numpy as np
import pytest

from dptab_core.eval.cross_modal import chance_agreement, conditioned_mean_images, cross_modal_scores

SIZES = {"shown": 3, "hidden": 2}


def _rows(seed: int, n: int = 2000) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"shown": rng.integers(0, 3, n), "hidden": rng.integers(0, 2, n)}


def _read_back(rows: dict[str, np.ndarray], seed: int) -> dict[str, np.ndarray]:
    """A classifier that reads 'shown' right 90 % of the time and guesses 'hidden'."""
    rng = np.random.default_rng(seed)
    shown = np.where(rng.random(len(rows["shown"])) < 0.9, rows["shown"], rng.integers(0, 3, len(rows["shown"])))
    return {"shown": shown, "hidden": rng.integers(0, 2, len(rows["hidden"]))}


def test_synthetic_pairs_as_linked_as_real_pairs_score_one():
    real, syn = _rows(0), _rows(1)
    result = cross_modal_scores(_read_back(syn, 2), syn, _read_back(real, 3), real, SIZES)
    assert result["agreement_normalised"] == pytest.approx(1.0, abs=0.05), result


def test_shuffled_pairs_score_zero():
    real, syn = _rows(0), _rows(1)
    predicted = _read_back(syn, 2)
    shuffled = {k: np.random.default_rng(4).permutation(v) for k, v in syn.items()}
    result = cross_modal_scores(predicted, shuffled, _read_back(real, 3), real, SIZES)
    assert result["agreement_normalised"] == pytest.approx(0.0, abs=0.05), result


def test_attributes_the_images_do_not_show_are_left_out_of_the_averages():
    real = _rows(0)
    result = cross_modal_scores(_read_back(real, 2), real, _read_back(real, 3), real, SIZES)
    assert result["expressed_attributes"] == ["shown"]
    assert result["per_attribute"]["hidden"]["normalised"] is None


def test_chance_agreement_is_the_dot_product_of_the_two_histograms():
    predicted = np.array([0, 0, 0, 1])  # 0.75 / 0.25
    rows = np.array([0, 1, 1, 1])  # 0.25 / 0.75
    assert chance_agreement(predicted, rows, 2) == pytest.approx(0.75 * 0.25 + 0.25 * 0.75)


def test_conditioned_means_average_the_images_of_each_value():
    images = np.stack([np.full((2, 2, 3), v, dtype=np.uint8) for v in (10, 30, 100)])
    means, counts = conditioned_mean_images(images, np.array([0, 0, 1]), 2)
    assert means[0, 0, 0, 0] == 20.0 and means[1, 0, 0, 0] == 100.0
    assert counts.tolist() == [2, 1]
