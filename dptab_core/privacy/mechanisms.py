"""The noise draws of the pipeline (besides DP-SGD's, drawn by the DP-SGD engine in ``image/dpsgd.py``:
the book-keeping engine by default, or Opacus), each recorded in the ledger.

Every function here takes the privacy parameters keyword-only, draws the noise, and records a
ledger entry in the same call, so that a release cannot happen without being accounted.
Sensitivities are the caller's claim about its query: the tests of each caller check it by changing
one individual and measuring how far the pre-noise output moves.

Noise comes from a NumPy ``Generator``. Pass one seeded from OS entropy for a real release; a
seeded generator makes runs reproducible (tests, demos) and the report says so, since anyone who
knows the seed could subtract the noise.

>>> import numpy as np
>>> ledger = Ledger()
>>> noisy = gaussian_release(np.array([10.0, 20.0]), sensitivity=1.0, sigma=0.5,
...                          rng=np.random.default_rng(0), ledger=ledger, stage="table", label="1-way sex")
>>> noisy.shape, ledger.entries[0].noise_multiplier
((2,), 0.5)
>>> exponential_select(np.array([0.0, 100.0, 0.0]), sensitivity=1.0, epsilon=5.0,
...                    rng=np.random.default_rng(0), ledger=ledger, stage="table", label="pick")
1
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dptab_core.privacy.ledger import Ledger


def gaussian_release(
    values: np.ndarray,
    *,
    sensitivity: float,
    sigma: float,
    rng: np.random.Generator,
    ledger: Ledger,
    stage: str,
    label: str,
    details: dict[str, Any] | None = None,
) -> np.ndarray:
    """``values`` plus i.i.d. N(0, σ²) noise: one full Gaussian release with L2 ``sensitivity``."""
    ledger.record(
        stage=stage,
        mechanism="gaussian",
        label=label,
        sensitivity=float(sensitivity),
        sigma=float(sigma),
        details=details or {},
    )
    values = np.asarray(values, dtype=float)
    return values + rng.normal(0.0, sigma, size=values.shape)


def subsampled_gaussian_release(
    values: np.ndarray,
    *,
    sensitivity: float,
    sigma: float,
    sampling_rate: float,
    rng: np.random.Generator,
    ledger: Ledger,
    stage: str,
    label: str,
    details: dict[str, Any] | None = None,
) -> np.ndarray:
    """One Gaussian release computed on a Poisson subsample taken at ``sampling_rate`` by the caller.

    The caller must have drawn the subsample with independent inclusion probability ``sampling_rate``
    per individual and must not use the realised subsample size except through a noisy release.
    """
    ledger.record(
        stage=stage,
        mechanism="subsampled_gaussian",
        label=label,
        sensitivity=float(sensitivity),
        sigma=float(sigma),
        sampling_rate=float(sampling_rate),
        noise_multiplier=float(sigma) / float(sensitivity),
        steps=1,
        details=details or {},
    )
    values = np.asarray(values, dtype=float)
    return values + rng.normal(0.0, sigma, size=values.shape)


def exponential_select(
    scores: np.ndarray,
    *,
    sensitivity: float,
    epsilon: float,
    rng: np.random.Generator,
    ledger: Ledger,
    stage: str,
    label: str,
    details: dict[str, Any] | None = None,
) -> int:
    """Index chosen by the exponential mechanism (Gumbel-max form) with score ``sensitivity``.

    Accounted as ρ = ε²/8 zCDP (Cesar & Rogers 2021, "bounded range"), which is how MST and AIM
    account their selection steps.
    """
    scores = np.asarray(scores, dtype=float)
    ledger.record(
        stage=stage,
        mechanism="zcdp",
        label=label,
        rho=epsilon**2 / 8.0,
        details={
            "epsilon": float(epsilon),
            "sensitivity": float(sensitivity),
            "candidates": int(scores.size),
            **(details or {}),
        },
    )
    gumbel = rng.gumbel(size=scores.shape)
    return int(np.argmax(epsilon / (2.0 * sensitivity) * scores + gumbel))
