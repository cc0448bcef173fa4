"""Fréchet distance and k-NN precision/recall on feature clouds with known answers."""

import numpy as np
import pytest

from dptab_core.eval.image_metrics import frechet_distance, knn_precision_recall


def test_frechet_distance_of_identical_sets_is_zero():
    x = np.random.default_rng(0).normal(size=(400, 8))
    assert frechet_distance(x, x) == pytest.approx(0.0, abs=1e-6)


def test_frechet_distance_matches_the_closed_form_for_one_dimension():
    rng = np.random.default_rng(1)
    a, b = rng.normal(0.0, 1.0, size=(20000, 1)), rng.normal(3.0, 2.0, size=(20000, 1))
    # (μa − μb)² + (σa − σb)² = 9 + 1
    assert frechet_distance(a, b) == pytest.approx(10.0, rel=0.05)


def test_frechet_distance_grows_with_the_shift():
    x = np.random.default_rng(2).normal(size=(300, 4))
    assert frechet_distance(x, x + 0.5) < frechet_distance(x, x + 2.0)


def test_precision_and_recall_separate_mode_collapse_from_unrealistic_samples():
    rng = np.random.default_rng(3)
    real = rng.normal(size=(400, 2))
    collapsed = rng.normal(scale=0.05, size=(400, 2))  # realistic but no variety
    result = knn_precision_recall(real, collapsed, k=3)
    assert result["precision"] > 0.9, f"collapsed samples sit inside the real support: {result}"
    assert result["recall"] < 0.3, f"collapsed samples cover little of the real data: {result}"
