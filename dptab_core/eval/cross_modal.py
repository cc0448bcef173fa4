"""Cross-modal fidelity: does each synthetic image still show what its synthetic row says?

For every attribute, a classifier trained on real images (see :mod:`dptab_core.eval.features`) reads
the attribute back from each synthetic image; *agreement* is the share of images whose read-back
equals their own row's value. Raw agreement depends on the attribute (a 2-valued column agrees half
the time by chance; an attribute the images do not show never beats chance), so it is normalised:

    normalised = (agreement − chance) / (real agreement − real chance)

where *chance* is the agreement expected if images and rows were paired at random (Σ_v p̂(v)·p(v),
exact rather than one noisy shuffle) and *real agreement* is measured on held-out real pairs. 0 means
the link is gone (independent generation), 1 means the link is as strong as in real data.
Attributes whose real lift (real agreement − real chance) is below ``min_lift`` are not visible in
the images at all; they are reported but left out of the averages.

>>> rows = np.array([0, 1, 0, 1])
>>> agreement(rows, rows), chance_agreement(rows, rows, 2)
(1.0, 0.5)
"""

from __future__ import annotations

import numpy as np

Codes = dict[str, np.ndarray]

DEFAULT_MIN_LIFT = 0.05
"""An attribute counts as image-expressed when real pairs agree at least 5 points above chance:
below that the denominator of the normalisation is mostly classifier noise."""


def agreement(predicted: np.ndarray, rows: np.ndarray) -> float:
    """Share of images whose predicted value equals their row's value."""
    return float(np.mean(np.asarray(predicted) == np.asarray(rows))) if len(rows) else 0.0


def chance_agreement(predicted: np.ndarray, rows: np.ndarray, size: int) -> float:
    """Expected agreement under a random pairing of the same images and rows."""
    p = np.bincount(predicted, minlength=size) / max(len(predicted), 1)
    q = np.bincount(rows, minlength=size) / max(len(rows), 1)
    return float(p @ q)


def normalised_agreement(value: float, chance: float, real_value: float, real_chance: float) -> float:
    """Agreement above chance as a fraction of the real pairs' agreement above chance.

    >>> normalised_agreement(0.75, 0.5, 1.0, 0.5)
    0.5
    """
    return float((value - chance) / (real_value - real_chance))


def cross_modal_scores(
    predicted_synthetic: Codes,
    synthetic_rows: Codes,
    predicted_real: Codes,
    real_rows: Codes,
    sizes: dict[str, int],
    *,
    min_lift: float = DEFAULT_MIN_LIFT,
) -> dict:
    """Per-attribute agreement (synthetic and held-out real) and the averages over image-expressed attributes.

    ``predicted_*`` are the real-trained classifier's read-backs of the images; ``*_rows`` the codes of
    the rows paired with those images. Returns ``{"agreement", "agreement_normalised",
    "expressed_attributes", "per_attribute": {name: {...}}}``; the averages are ``None`` when no
    attribute is image-expressed.
    """
    per: dict[str, dict] = {}
    for name, size in sizes.items():
        a = agreement(predicted_synthetic[name], synthetic_rows[name])
        c = chance_agreement(predicted_synthetic[name], synthetic_rows[name], size)
        ra = agreement(predicted_real[name], real_rows[name])
        rc = chance_agreement(predicted_real[name], real_rows[name], size)
        expressed = ra - rc >= min_lift
        per[name] = {
            "agreement": a,
            "chance": c,
            "real_agreement": ra,
            "real_chance": rc,
            "expressed": bool(expressed),
            "normalised": normalised_agreement(a, c, ra, rc) if expressed else None,
        }
    expressed_names = [n for n, v in per.items() if v["expressed"]]
    return {
        "agreement": float(np.mean([per[n]["agreement"] for n in expressed_names])) if expressed_names else None,
        "agreement_normalised": (
            float(np.mean([per[n]["normalised"] for n in expressed_names])) if expressed_names else None
        ),
        "expressed_attributes": expressed_names,
        "per_attribute": per,
    }


def conditioned_mean_images(images: np.ndarray, codes: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean image for each value of one attribute, and how many images each mean averages.

    Returns ``(means, counts)`` with ``means`` float in [0, 255], shape ``(size, H, W, C)``; a value
    with no image gets a mid-grey mean and count 0.

    >>> imgs = np.stack([np.zeros((2, 2, 1)), np.full((2, 2, 1), 200)]).astype(np.uint8)
    >>> means, counts = conditioned_mean_images(imgs, np.array([0, 1]), 3)
    >>> means[:, 0, 0, 0].tolist(), counts.tolist()
    ([0.0, 200.0, 127.5], [1, 1, 0])
    """
    codes = np.asarray(codes, dtype=np.int64)
    counts = np.bincount(codes, minlength=size)[:size]
    sums = np.zeros((size, *images.shape[1:]))
    np.add.at(sums, codes, images.astype(float))
    means = np.where(counts[:, None, None, None] > 0, sums / np.maximum(counts, 1)[:, None, None, None], 127.5)
    return means, counts
