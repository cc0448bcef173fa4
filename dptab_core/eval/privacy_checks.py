"""Empirical privacy checks: a memorisation check and a one-run canary audit with a lower bound ε̂.

Neither proves privacy — the guarantee is the accounted (ε, δ) — but both catch what accounting
cannot: a bug that copies training images into the output, or noise that was never added.

**Memorisation.** For each synthetic image, the pixel distance to its nearest real image, compared
with the same distance for held-out real images (real photos of *other* people are the honest yard-
stick of "close"). ``nn_distance_ratio`` = median synthetic NN distance ÷ median held-out real NN
distance: ≈ 1 or above is normal, well below 1 means synthetic images sit closer to training images
than new real images do.

**One-run audit** (Steinke, Nasr & Jagielski, "Privacy Auditing with One (1) Training Run", 2023).
m canaries, each inserted into the training data independently with probability ½; after one run,
the auditor ranks canaries by a membership score, guesses "in" for the top k₊ and "out" for the
bottom k₋, abstains on the rest. Under (ε, δ)-DP the number of correct guesses among r is
stochastically dominated by Binomial(r, e^ε/(1+e^ε)) (plus a δ term), so observing v correct guesses
rejects every ε whose binomial tail P[≥ v] is below β: the largest such ε is a lower bound ε̂ that
holds with confidence 1 − β. ε̂ above the claimed ε would reveal a privacy bug.

>>> round(epsilon_lower_bound(n_canaries=10, n_guesses=10, n_correct=10, beta=0.05), 3)
1.052
>>> epsilon_lower_bound(n_canaries=10, n_guesses=10, n_correct=5, beta=0.05)
0.0
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from dptab_core.data.encoding import decode_table, domain_size
from dptab_core.data.schema import Schema

# ---------------------------------------------------------------------------------------------
# memorisation


def nearest_distances(queries: np.ndarray, reference: np.ndarray, *, chunk: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """For each query image, the L2 pixel distance (pixels scaled to [0, 1]) to its nearest reference image.

    Returns ``(distances, indices)``; computed in chunks so that 10,000 × 10,000 images fit in memory.
    """
    ref = reference.reshape(len(reference), -1).astype(np.float32) / 255.0
    ref_sq = (ref * ref).sum(1)
    dist, idx = np.empty(len(queries)), np.empty(len(queries), dtype=np.int64)
    for start in range(0, len(queries), chunk):
        q = queries[start : start + chunk].reshape(-1, ref.shape[1]).astype(np.float32) / 255.0
        d2 = np.maximum((q * q).sum(1)[:, None] + ref_sq[None, :] - 2.0 * q @ ref.T, 0.0)
        j = d2.argmin(axis=1)
        idx[start : start + chunk] = j
        dist[start : start + chunk] = np.sqrt(d2[np.arange(len(q)), j])
    return dist, idx


def memorisation_check(
    real_reference: np.ndarray,
    real_heldout: np.ndarray,
    synthetic: np.ndarray,
    *,
    n_closest: int = 8,
    low_quantile: float = 0.05,
) -> dict:
    """Nearest-real-neighbour distances of synthetic images vs held-out real images.

    ``real_reference``: the real images the generator could have memorised (the training side);
    ``real_heldout``: other real images, the yardstick. Returns ``nn_distance_ratio``,
    ``share_closer_than_real`` (share of synthetic images nearer to a training image than the
    ``low_quantile`` of held-out real images are) and the ``closest_pairs`` ``[synthetic index,
    reference index, distance]`` to show side by side.
    """
    d_syn, j_syn = nearest_distances(synthetic, real_reference)
    d_real, _ = nearest_distances(real_heldout, real_reference)
    threshold = float(np.quantile(d_real, low_quantile))
    order = np.argsort(d_syn)[:n_closest]
    return {
        "nn_distance_ratio": float(np.median(d_syn) / max(np.median(d_real), 1e-12)),
        "median_synthetic_nn_distance": float(np.median(d_syn)),
        "median_real_nn_distance": float(np.median(d_real)),
        "share_closer_than_real": float(np.mean(d_syn < threshold)),
        "closest_pairs": [[int(i), int(j_syn[i]), float(d_syn[i])] for i in order],
    }


# ---------------------------------------------------------------------------------------------
# the one-run audit: pure statistics


def p_value(*, n_canaries: int, n_guesses: int, n_correct: int, epsilon: float, delta: float = 0.0) -> float:
    """Probability of at least ``n_correct`` right guesses out of ``n_guesses`` under (ε, δ)-DP.

    The binomial tail P[Binomial(r, e^ε/(1+e^ε)) ≥ v], plus the paper's δ term 2·m·δ·α with
    α = max over i = 1…v of P[v − i ≤ Binomial(r, q) < v] / i.

    >>> round(p_value(n_canaries=1, n_guesses=1, n_correct=1, epsilon=0.0, delta=0.1), 12)  # 0.5 + 2·1·0.1·0.5
    0.6
    """
    m, r, v = n_canaries, n_guesses, n_correct
    if not 0 <= v <= r <= m:
        raise ValueError(f"need 0 ≤ correct ({v}) ≤ guesses ({r}) ≤ canaries ({m})")
    q = 1.0 / (1.0 + math.exp(-epsilon))
    tail = float(stats.binom.sf(v - 1, r, q))
    alpha = 0.0
    if delta > 0 and v > 0:
        below = np.cumsum(stats.binom.pmf(v - np.arange(1, v + 1), r, q))  # P[v-i ≤ B < v], i = 1…v
        alpha = float(np.max(below / np.arange(1, v + 1)))
    return min(tail + 2.0 * m * delta * alpha, 1.0)


def epsilon_lower_bound(
    *, n_canaries: int, n_guesses: int, n_correct: int, beta: float = 0.05, delta: float = 0.0, tolerance: float = 1e-6
) -> float:
    """The largest ε that ``n_correct`` right guesses reject at confidence 1 − β (0 when none is rejected)."""

    def rejected(eps: float) -> bool:
        return p_value(n_canaries=n_canaries, n_guesses=n_guesses, n_correct=n_correct, epsilon=eps, delta=delta) < beta

    if not rejected(0.0):
        return 0.0
    lo, hi = 0.0, 1.0
    while rejected(hi):
        lo, hi = hi, 2.0 * hi
    while hi - lo > tolerance:
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if rejected(mid) else (lo, mid)
    return lo


def guesses_from_scores(scores: np.ndarray, *, k_in: int, k_out: int) -> np.ndarray:
    """+1 ("in") for the ``k_in`` highest scores, −1 ("out") for the ``k_out`` lowest, 0 (abstain) otherwise.

    >>> guesses_from_scores(np.array([0.9, 0.1, 0.5, 0.7]), k_in=1, k_out=1).tolist()
    [1, -1, 0, 0]
    """
    scores = np.asarray(scores, dtype=float)
    if k_in + k_out > len(scores):
        raise ValueError(f"cannot make {k_in} + {k_out} guesses about {len(scores)} canaries")
    order = np.argsort(-scores, kind="stable")
    guesses = np.zeros(len(scores), dtype=np.int64)
    guesses[order[:k_in]] = 1
    if k_out:
        guesses[order[len(scores) - k_out :]] = -1
    return guesses


def audit_from_scores(
    scores: np.ndarray, included: np.ndarray, *, k_in: int, k_out: int, beta: float = 0.05, delta: float = 0.0
) -> dict:
    """ε̂ from membership scores (higher = more likely inserted) and the true inclusion bits."""
    guesses = guesses_from_scores(scores, k_in=k_in, k_out=k_out)
    truth = np.where(np.asarray(included, dtype=bool), 1, -1)
    r = int(np.count_nonzero(guesses))
    v = int(np.sum(guesses == truth))
    m = len(guesses)
    return {
        "epsilon_lower_bound": epsilon_lower_bound(n_canaries=m, n_guesses=r, n_correct=v, beta=beta, delta=delta),
        "confidence": 1.0 - beta,
        "n_canaries": m,
        "n_guesses": r,
        "n_correct": v,
        "delta": delta,
    }


# ---------------------------------------------------------------------------------------------
# the one-run audit: canaries around a pipeline run


@dataclass(frozen=True)
class AuditConfig:
    """Settings of the canary audit, each with its reason."""

    n_canaries: int = 200
    """More canaries tighten the bound (ε̂ ≤ ~ln of the guesses' odds); 200 rows barely move the data."""
    guess_fraction: float = 0.25
    """Guesses on each side as a share of the canaries (top quarter "in", bottom quarter "out"),
    fixed in advance: choosing k after seeing the scores would void the confidence level."""
    beta: float = 0.05
    """1 − confidence of the reported lower bound."""


DEFAULT_AUDIT_CONFIG = AuditConfig()


def make_canaries(
    schema: Schema, image_shape: tuple[int, ...], *, n: int, rng: np.random.Generator
) -> tuple[pd.DataFrame, np.ndarray]:
    """``n`` canary individuals: uniform-noise images (far from any natural image and from each other)
    with rows drawn uniformly from the public domain; image files ``canary_00000.png`` …; every other
    column (identifiers, the person column) holds the canary's own name, so each canary is one person."""
    codes = {c.name: rng.integers(0, domain_size(c), size=n) for c in schema.synthesized_columns()}
    table = decode_table(codes, schema, rng=rng)
    names = [f"canary_{i:05d}" for i in range(n)]
    for column in schema.columns:
        if not column.synthesized:
            table[column.name] = names
    table[schema.image_column] = [f"{name}.png" for name in names]
    table = table[[c.name for c in schema.columns]]
    images = rng.integers(0, 256, size=(n, *image_shape), dtype=np.uint8)
    return table, images


RunFn = Callable[[pd.DataFrame, np.ndarray], np.ndarray]
"""A pipeline run under audit: (training table, training images uint8) → synthetic images uint8."""


def audit_one_run(
    run_fn: RunFn,
    table: pd.DataFrame,
    images: np.ndarray,
    schema: Schema,
    *,
    config: AuditConfig = DEFAULT_AUDIT_CONFIG,
    seed: int,
    delta: float = 0.0,
) -> dict:
    """Insert canaries, run the pipeline once, score membership by nearest synthetic image, return ε̂.

    Each canary joins the training data with probability ½; its score is minus the pixel distance
    from the canary image to the closest synthetic image (a black-box attack on the release itself).
    Pass the run's δ as ``delta`` to audit the (ε, δ) claim; ``run_fn`` must train on what it is given.
    """
    rng = np.random.default_rng(seed)
    canary_table, canary_images = make_canaries(schema, images.shape[1:], n=config.n_canaries, rng=rng)
    included = rng.random(config.n_canaries) < 0.5
    train_table = pd.concat([table, canary_table[included]], ignore_index=True)
    train_images = np.concatenate([images, canary_images[included]])
    synthetic = run_fn(train_table, train_images)
    distance, _ = nearest_distances(canary_images, np.asarray(synthetic))
    k = int(config.n_canaries * config.guess_fraction)
    result = audit_from_scores(-distance, included, k_in=k, k_out=k, beta=config.beta, delta=delta)
    return {**result, "n_inserted": int(included.sum()), "seed": seed}
