"""DP mean table-image pairs: per (attribute, value) cell, a noisy mean image, released once per round.

Each round Poisson-subsamples the individuals at ``sampling_rate``. For every attribute ``a`` and
every public code ``v`` of it, the round releases the sum of the L2-clipped images of the sampled
individuals with ``a = v`` together with their count, scaled by ``κ = count_weight · clip_norm``:
the vector ``[S_{a,v}; κ·N_{a,v}]`` for all cells, concatenated, plus Gaussian noise.

**Sensitivity (add/remove one individual).** An individual has exactly one code per attribute, so
for each of the ``A`` attributes it enters exactly one cell, adding ``[clip(x); κ]`` there, a vector
of norm at most ``sqrt(C² + κ²)``. Its ``A`` contributions sit in disjoint coordinates, so the whole
released vector moves by at most ``sqrt(A · (C² + κ²))`` in L2 — that is the sensitivity used. The
tests change one individual and measure it.

**Means without leaking the realised count.** The divisor of a cell is its *released* count summed
over rounds (≈ rounds × sampling_rate × n_cell, the expected subsample count), floored at the
expected count of ``min_cell_count`` rows; the realised count never leaves this module un-noised.
Everything after the release (means, marginals, composites) is post-processing.

**The spread (latent family).** With ``second_moment``, the same release also carries
``Σ clip(x) clip(x)ᵀ / C`` over the sampled individuals, one block of Frobenius norm ``‖clip(x)‖² / C ≤ C``
per individual, so the sensitivity grows to ``sqrt(A · (C² + κ²) + C²)`` under the same noise multiplier
(one more attribute's worth: about 6 % more noise for 8 attributes). From it and the cell means,
post-processing estimates how individuals vary *around* their record's mean (:func:`residual_spread`):
the covariance the latent family samples with, which no mean image can give.

**Composites.** A full synthetic record is drawn from the released marginals and paired with an
additive composite image ``g + Σ_a (mean_{a, v_a} − g)`` (``g`` the released overall mean). These give
the warm-up full records to learn from, at no privacy cost.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from dptab_core.data.schema import Schema
from dptab_core.image.encoder import RecordEncoder, encode_images
from dptab_core.privacy.ledger import Ledger
from dptab_core.privacy.mechanisms import subsampled_gaussian_release

STAGE = "mean_pairs"


@dataclass(frozen=True)
class MeanPairs:
    """The released cells: ``conditions`` (m, dim) records, ``images`` (m, C, r, r) in [-1, 1].

    ``cells`` names each kept pair ``(column, code, released count)``; ``means`` holds every cell's
    mean (kept or not) by column, ``marginals`` the released distribution of each column, ``overall``
    the released mean image, ``usable`` which cells had enough released rows to be trusted.
    """

    conditions: np.ndarray
    images: np.ndarray
    cells: list[tuple[str, int, float]]
    means: dict[str, np.ndarray]
    marginals: dict[str, np.ndarray]
    usable: dict[str, np.ndarray]
    overall: np.ndarray
    spread: np.ndarray | None = None
    """Released within-record covariance (dim, dim) of the units (``second_moment`` only), else None."""


def mean_pair_sensitivity(
    *, clip_norm: float, count_weight: float, n_attributes: int, second_moment: bool = False
) -> float:
    """L2 sensitivity of one round's released vector: ``clip_norm · sqrt(A · (1 + count_weight²) [+ 1])``.

    >>> round(mean_pair_sensitivity(clip_norm=2.0, count_weight=0.5, n_attributes=4), 6)
    4.472136
    >>> round(mean_pair_sensitivity(clip_norm=2.0, count_weight=0.5, n_attributes=4, second_moment=True), 6)
    4.898979
    """
    return clip_norm * math.sqrt(n_attributes * (1.0 + count_weight**2) + (1.0 if second_moment else 0.0))


def clip_rows(x: np.ndarray, clip_norm: float) -> np.ndarray:
    """Each row of ``x`` (n, ...) scaled down to L2 norm at most ``clip_norm``."""
    flat = x.reshape(len(x), -1)
    norms = np.linalg.norm(flat, axis=1, keepdims=True)
    return (flat * np.minimum(1.0, clip_norm / np.maximum(norms, 1e-12))).reshape(x.shape)


def cell_sums(
    unit_images: np.ndarray,
    codes: dict[str, np.ndarray],
    sizes: dict[str, int],
    *,
    clip_norm: float,
    count_weight: float,
    second_moment: bool = False,
) -> np.ndarray:
    """The pre-noise vector of one round: per column, per code, ``[Σ clip(x); κ·count]``, flattened;
    with ``second_moment``, then ``Σ clip(x) clip(x)ᵀ / C`` flattened."""
    flat = clip_rows(unit_images, clip_norm).reshape(len(unit_images), -1)
    kappa = count_weight * clip_norm
    blocks = []
    for name, size in sizes.items():
        sums = np.zeros((size, flat.shape[1] + 1))
        np.add.at(sums[:, :-1], codes[name], flat)
        sums[:, -1] = kappa * np.bincount(codes[name], minlength=size)
        blocks.append(sums.ravel())
    if second_moment:
        blocks.append((flat.T @ flat / clip_norm).ravel())
    return np.concatenate(blocks)


def dp_mean_pairs(
    images: np.ndarray,
    codes: dict[str, np.ndarray],
    schema: Schema,
    *,
    noise_multiplier: float,
    sampling_rate: float,
    rounds: int,
    clip_norm: float,
    rng: np.random.Generator,
    ledger: Ledger,
    resolution: int,
    count_weight: float,
    min_cell_count: float,
) -> MeanPairs:
    """Release the DP mean pairs of ``images`` (uint8, row order) at ``resolution`` (see :func:`dp_mean_pairs_of`)."""
    return dp_mean_pairs_of(
        encode_images(images, resolution),
        codes,
        schema,
        noise_multiplier=noise_multiplier,
        sampling_rate=sampling_rate,
        rounds=rounds,
        clip_norm=clip_norm,
        rng=rng,
        ledger=ledger,
        count_weight=count_weight,
        min_cell_count=min_cell_count,
        details={"resolution": resolution},
    )


def dp_mean_pairs_of(
    units: np.ndarray,
    codes: dict[str, np.ndarray],
    schema: Schema,
    *,
    noise_multiplier: float,
    sampling_rate: float,
    rounds: int,
    clip_norm: float,
    rng: np.random.Generator,
    ledger: Ledger,
    count_weight: float,
    min_cell_count: float,
    details: dict | None = None,
    shrink: bool = False,
    bounded: bool = True,
    second_moment: bool = False,
) -> MeanPairs:
    """Release the DP mean pairs of ``units``: one float array per row (n, *shape), values in [-1, 1].

    ``units`` are images in [-1, 1] or, for the latent family, the public encoder's latents of the
    images. ``rounds`` Poisson-subsampled Gaussian releases, each recorded in ``ledger`` (stage
    ``mean_pairs``) with noise std ``noise_multiplier × sensitivity``. ``shrink`` pulls each noisy cell
    mean towards the overall mean by what its noise explains (:func:`shrink_towards`, free);
    ``bounded`` False keeps means outside [-1, 1] (coordinates in a principal basis are not bounded).
    ``second_moment`` also releases the units' second moment and returns the spread around the
    record means in :attr:`MeanPairs.spread` (module docstring).
    """
    encoder = RecordEncoder(schema)
    sizes = {name: encoder.sizes[name] for name in encoder.columns}
    unit = np.asarray(units, dtype=np.float64)
    pixel_shape = unit.shape[1:]
    sensitivity = mean_pair_sensitivity(
        clip_norm=clip_norm, count_weight=count_weight, n_attributes=len(sizes), second_moment=second_moment
    )
    total = None
    for r in range(rounds):
        keep = rng.random(len(unit)) < sampling_rate
        exact = cell_sums(
            unit[keep],
            {k: np.asarray(v)[keep] for k, v in codes.items()},
            sizes,
            clip_norm=clip_norm,
            count_weight=count_weight,
            second_moment=second_moment,
        )
        noisy = subsampled_gaussian_release(
            exact,
            sensitivity=sensitivity,
            sigma=noise_multiplier * sensitivity,
            sampling_rate=sampling_rate,
            rng=rng,
            ledger=ledger,
            stage=STAGE,
            label=f"mean pairs round {r + 1}/{rounds}",
            details={
                "cells": int(sum(sizes.values())),
                "clip_norm": clip_norm,
                "count_weight": count_weight,
                "shape": list(pixel_shape),
                "second_moment": second_moment,
                **(details or {}),
            },
        )
        total = noisy if total is None else total + noisy
    if total is None:
        raise ValueError(f"mean pairs need at least one round, got rounds={rounds}")
    noise_std = noise_multiplier * sensitivity * math.sqrt(rounds)
    pairs = _post_process(
        total,
        sizes,
        pixel_shape,
        encoder,
        clip_norm=clip_norm,
        count_weight=count_weight,
        floor=rounds * sampling_rate * min_cell_count,
        noise_std=noise_std if shrink else None,
        bounded=bounded,
    )
    if not second_moment:
        return pairs
    d = int(np.prod(pixel_shape))
    summed = total[len(total) - d * d :].reshape(d, d) * clip_norm
    released = _cell_blocks(total, sizes, d, clip_norm=clip_norm, count_weight=count_weight)
    n = max(float(np.mean([counts.sum() for _, counts in released.values()])), 1.0)
    spread = residual_spread(summed / n, pairs, noise_std=noise_std * clip_norm / n)
    return dataclasses.replace(pairs, spread=spread.astype(np.float32))


def _cell_blocks(
    total: np.ndarray, sizes: dict[str, int], d: int, *, clip_norm: float, count_weight: float
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per column, the released (sums (size, d), counts (size,)) of every cell, read off the noisy vector."""
    out, offset = {}, 0
    for name, size in sizes.items():
        block = total[offset : offset + size * (d + 1)].reshape(size, d + 1)
        offset += size * (d + 1)
        out[name] = (block[:, :-1], block[:, -1] / (count_weight * clip_norm))
    return out


def residual_spread(second_moment: np.ndarray, pairs: MeanPairs, *, noise_std: float) -> np.ndarray:
    """How individuals vary around their record's mean: ``E[x xᵀ] − E[μ μᵀ]``, denoised (post-processing).

    ``μ(record) = g + Σ_a δ_a(v_a)`` is the additive mean the warm-up uses, so with attributes taken
    as independent ``E[μ μᵀ] ≈ g gᵀ + Σ_a Σ_v p_a(v) δ_a(v) δ_a(v)ᵀ`` from the released means and
    marginals. ``noise_std`` is the std of the noise on each entry of ``second_moment``: the matrix is
    symmetrised (halving the noise's variance off the diagonal), and every eigenvalue is lowered by
    the noise's expected spectral norm ``≈ 2 · noise_std · sqrt(d / 2)`` and floored at zero, so a
    direction only noise supports gets no spread.

    >>> g = np.zeros(2); pairs = MeanPairs(np.zeros((0, 1)), np.zeros((0, 2)), [], {"a": np.zeros((1, 2))},
    ...                                    {"a": np.ones(1)}, {"a": np.ones(1, bool)}, g)
    >>> residual_spread(np.diag([4.0, 1.0]), pairs, noise_std=0.0).round(3).tolist()
    [[4.0, 0.0], [0.0, 1.0]]
    """
    d = second_moment.shape[0]
    overall = np.asarray(pairs.overall, dtype=np.float64).reshape(-1)
    explained = np.outer(overall, overall)
    for name, marginal in pairs.marginals.items():
        delta = np.asarray(pairs.means[name], dtype=np.float64).reshape(len(marginal), -1) - overall
        delta[~np.asarray(pairs.usable[name])] = 0.0
        explained += (delta * marginal[:, None]).T @ delta
    symmetric = 0.5 * (second_moment + second_moment.T) - explained
    eigvals, eigvecs = np.linalg.eigh(symmetric)
    lowered = np.maximum(eigvals - 2.0 * noise_std * math.sqrt(d / 2.0), 0.0)
    return (eigvecs * lowered) @ eigvecs.T


def shrink_towards(overall: np.ndarray, means: np.ndarray, noise_std: np.ndarray) -> np.ndarray:
    """Positive-part James-Stein: each cell mean pulled towards ``overall`` by what its noise explains.

    A cell mean is ``true + N(0, v)`` per number with ``v = noise_std²`` known from the mechanism,
    so ``‖mean − overall‖²`` overstates the true difference by about ``d·v``. Scaling the difference by
    ``max(0, 1 − (d − 2)·v / ‖mean − overall‖²)`` has lower expected squared error than the raw mean
    whenever ``d ≥ 3`` — a noise-dominated cell falls back to the overall mean instead of drawing its
    noise. Post-processing of released values: free.

    >>> shrink_towards(np.zeros(4), np.array([[0.1, 0, 0, 0], [10.0, 0, 0, 0]]), np.array([1.0, 1.0]))[:, 0].round(2)
    array([0. , 9.8])
    """
    flat = means.reshape(len(means), -1) - overall.reshape(1, -1)
    d = flat.shape[1]
    energy = np.maximum((flat * flat).sum(axis=1), 1e-12)
    factor = np.clip(1.0 - (d - 2) * np.square(noise_std) / energy, 0.0, 1.0)
    return (overall.reshape(1, -1) + factor[:, None] * flat).reshape(means.shape)


def _post_process(
    total: np.ndarray,
    sizes: dict[str, int],
    pixel_shape: tuple[int, ...],
    encoder: RecordEncoder,
    *,
    clip_norm: float,
    count_weight: float,
    floor: float,
    noise_std: float | None = None,
    bounded: bool = True,
) -> MeanPairs:
    """Means, marginals and pairs from the summed noisy releases (no access to the data).

    With ``noise_std`` (the std of the summed noise per number), every cell mean is shrunk towards
    the overall mean by :func:`shrink_towards`. ``bounded``: the units live in [-1, 1] (pixels), so
    the means are clipped to it.
    """
    means, marginals, usable, released = {}, {}, {}, {}
    blocks = _cell_blocks(total, sizes, int(np.prod(pixel_shape)), clip_norm=clip_norm, count_weight=count_weight)
    for name, size in sizes.items():
        sums, counts = blocks[name]
        released[name] = counts
        raw = sums / np.maximum(counts, floor)[:, None]
        means[name] = (np.clip(raw, -1.0, 1.0) if bounded else raw).reshape((size, *pixel_shape))
        positive = np.maximum(counts, 0.0)
        marginals[name] = positive / positive.sum() if positive.sum() > 0 else np.full(size, 1.0 / size)
        usable[name] = counts >= floor
    overall = np.mean([np.tensordot(marginals[n], means[n], axes=1) for n in sizes], axis=0)
    if noise_std is not None:
        for name in sizes:
            divisor = np.maximum(released[name], floor)
            means[name] = shrink_towards(overall, means[name], noise_std / divisor).astype(means[name].dtype)
    conditions, images, cells = [], [], []
    for name, size in sizes.items():
        for code in range(size):
            if usable[name][code]:
                conditions.append(encoder.encode_mean_pair(name, code, marginals))
                images.append(means[name][code])
                cells.append((name, code, float(released[name][code])))
    return MeanPairs(
        conditions=np.array(conditions, dtype=np.float32).reshape(-1, encoder.dim),
        images=np.array(images, dtype=np.float32).reshape((-1, *pixel_shape)),
        cells=cells,
        means=means,
        marginals=marginals,
        usable=usable,
        overall=overall.astype(np.float32),
    )


def composite_pairs(
    pairs: MeanPairs, encoder: RecordEncoder, n: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` records drawn from the released marginals and their additive composite images."""
    codes = {name: rng.choice(len(p), size=n, p=p) for name, p in pairs.marginals.items()}
    target = np.broadcast_to(pairs.overall, (n, *pairs.overall.shape)).astype(np.float32).copy()
    for name, c in codes.items():
        delta = pairs.means[name] - pairs.overall
        delta[~pairs.usable[name]] = 0.0
        target += delta[c]
    return encoder.encode_codes(codes), np.clip(target, -1.0, 1.0)
