"""Image fidelity in the evaluation CNN's feature space, and train-on-synthetic / test-on-real accuracy.

* Fréchet distance (the FID formula, with the project's own extractor instead of Inception): the
  distance between two Gaussians fitted to the feature clouds; 0 for identical clouds.
* k-NN precision and recall (Kynkäänniemi et al., 2019): precision is the share of synthetic samples
  that fall inside the real data's k-NN balls (are they realistic?), recall the share of real samples
  inside the synthetic data's balls (is the variety covered?). FD alone cannot tell a blurry
  per-class prototype from a diverse generator; recall can.
* TSTR: a fresh attribute CNN trained on synthetic images with their synthetic rows' values as
  labels, tested on held-out real images — does a model learnt from the release work on real data?

>>> rng = np.random.default_rng(0)
>>> x = rng.normal(size=(500, 4))
>>> round(frechet_distance(x, x), 6)
0.0
>>> frechet_distance(x, x + 10.0) > 300
True
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import linalg


def frechet_distance(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """‖μa − μb‖² + Tr(Σa + Σb − 2(ΣaΣb)^½) between Gaussians fitted to two feature sets."""
    a, b = np.asarray(features_a, dtype=float), np.asarray(features_b, dtype=float)
    mu_diff = a.mean(axis=0) - b.mean(axis=0)
    cov_a, cov_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    covmean = linalg.sqrtm(cov_a @ cov_b)  # (scipy 1.17: `disp=False` is deprecated and changes the return type)
    if not np.isfinite(covmean).all():  # near-singular product: regularise as the FID reference code does
        eps = 1e-6 * np.eye(len(cov_a))
        covmean = linalg.sqrtm((cov_a + eps) @ (cov_b + eps))
    value = mu_diff @ mu_diff + np.trace(cov_a) + np.trace(cov_b) - 2.0 * np.trace(np.real(covmean))
    return float(max(value, 0.0))


def _pairwise_sq_dist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.maximum(d, 0.0)


def _knn_radius(x: np.ndarray, k: int) -> np.ndarray:
    """Squared distance from each point to its k-th nearest *other* point of the same set."""
    d = _pairwise_sq_dist(x, x)
    np.fill_diagonal(d, np.inf)
    k = min(k, len(x) - 1)
    return np.partition(d, k - 1, axis=1)[:, k - 1]


def knn_precision_recall(real: np.ndarray, synthetic: np.ndarray, *, k: int = 3) -> dict[str, float]:
    """``{"precision", "recall"}`` of the synthetic features against the real ones (each in [0, 1]).

    >>> x = np.random.default_rng(1).normal(size=(200, 3))
    >>> knn_precision_recall(x, x)
    {'precision': 1.0, 'recall': 1.0}
    >>> knn_precision_recall(x, x + 100.0)
    {'precision': 0.0, 'recall': 0.0}
    """
    real, synthetic = np.asarray(real, dtype=float), np.asarray(synthetic, dtype=float)
    r_real, r_syn = _knn_radius(real, k), _knn_radius(synthetic, k)
    d = _pairwise_sq_dist(synthetic, real)  # (n_syn, n_real)
    precision = float(np.mean((d <= r_real[None, :]).any(axis=1)))
    recall = float(np.mean((d <= r_syn[:, None]).any(axis=0)))
    return {"precision": precision, "recall": recall}


VARIETY_MIN_CELL = 2
"""A (column, value) cell needs at least this many images on each side to have a spread."""


def _spread_ratio(real_f: np.ndarray, real_cells: np.ndarray, syn_f: np.ndarray, syn_cells: np.ndarray) -> float | None:
    real_sq = syn_sq = 0.0
    for cell in np.unique(real_cells):
        r, s = real_f[real_cells == cell], syn_f[syn_cells == cell]
        if len(r) < VARIETY_MIN_CELL or len(s) < VARIETY_MIN_CELL:
            continue
        real_sq += len(r) * float(np.mean(((r - r.mean(axis=0)) ** 2).sum(axis=1)))
        syn_sq += len(r) * float(np.mean(((s - s.mean(axis=0)) ** 2).sum(axis=1)))
    return float(np.sqrt(syn_sq / real_sq)) if real_sq > 0 else None


def _cells(codes: dict[str, np.ndarray], attributes: list[str]) -> np.ndarray:
    """One integer per row naming its combination of values over ``attributes``."""
    stacked = np.stack([np.asarray(codes[a], dtype=np.int64) for a in attributes], axis=1)
    return np.array([hash(tuple(row)) for row in stacked.tolist()], dtype=np.int64)


def within_cell_variety(
    real_features: np.ndarray,
    real_codes: dict[str, np.ndarray],
    synthetic_features: np.ndarray,
    synthetic_codes: dict[str, np.ndarray],
    attributes: list[str],
) -> dict:
    """Spread of synthetic images around their record's centre, as a fraction of the real images' spread.

    A *cell* is one combination of values of ``attributes`` (the columns the images show): rows that
    say the same thing about the image. Its spread is the root-mean-square distance of the images'
    evaluation-CNN features to the cell's mean feature; cells are weighted by their real image count.
    ``variety`` = synthetic spread / real spread: 1 = as varied as real photos of the same record
    values, 0 = every row with the same values gets the same image (near-copies of an average).
    Measured in features, not pixels, so pixel speckle on an average image does not count as variety.
    ``per_attribute`` gives the same ratio with cells of one attribute at a time.

    Returns ``{"variety", "per_attribute": {name: ratio}}``; ``variety`` is None when no cell has at
    least :data:`VARIETY_MIN_CELL` images on both sides.

    >>> rng = np.random.default_rng(0)
    >>> real = rng.normal(size=(200, 4)); codes = {"a": np.repeat([0, 1], 100)}
    >>> collapsed = np.repeat(real[[0, 100]], 100, axis=0)
    >>> round(within_cell_variety(real, codes, collapsed, codes, ["a"])["variety"], 6)
    0.0
    >>> round(within_cell_variety(real, codes, real, codes, ["a"])["variety"], 6)
    1.0
    """
    real_f, syn_f = np.asarray(real_features, dtype=float), np.asarray(synthetic_features, dtype=float)
    per = {
        name: ratio
        for name in attributes
        if (ratio := _spread_ratio(real_f, np.asarray(real_codes[name]), syn_f, np.asarray(synthetic_codes[name])))
        is not None
    }
    combined = (
        _spread_ratio(real_f, _cells(real_codes, attributes), syn_f, _cells(synthetic_codes, attributes))
        if attributes
        else None
    )
    if combined is None and per:
        combined = float(np.mean(list(per.values())))
    return {"variety": combined, "per_attribute": per}


def tstr_images(
    synthetic_images: np.ndarray,
    synthetic_codes: dict[str, np.ndarray],
    sizes: dict[str, int],
    real_test_images: np.ndarray,
    real_test_codes: dict[str, np.ndarray],
    *,
    config=None,
    cache_dir: Path | None = None,
) -> dict[str, float]:
    """Per-attribute accuracy on real held-out images of an attribute CNN trained on the synthetic pairs."""
    from dptab_core.eval import features

    clf = features.train_attribute_classifier(
        synthetic_images, synthetic_codes, sizes, config=config or features.DEFAULT_FEATURE_CONFIG, cache_dir=cache_dir
    )
    predicted = clf.predict(real_test_images)
    return {name: float(np.mean(predicted[name] == real_test_codes[name])) for name in sizes}
