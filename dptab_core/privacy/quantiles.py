"""DP range, DP quantile bin edges and DP missingness of a numeric column, from one coarse-to-fine histogram.

Why not the exponential mechanism over a log grid (what the schema stage used before): every grid
point above the data scores the same, and there are many of them, so at ε = 10 with 3,000 ages it
picked 20,000 as the upper bound. Here noisy *counts* decide where the data is, and quantiles are
read off them (post-processing), so a bound can only land on a cell that many rows occupy.

The mechanism (a hierarchical histogram, "coarse to fine"):

* **Level 0**: the cells between consecutive points of the public grid of decades (0, ±10^k), cut to
  the declared public range when there is one, plus one cell for blanks. Each row falls in exactly
  one cell, so the vector of counts has L2 sensitivity 1 (one row added or removed): one Gaussian
  release.
* **Levels 1 … L**: every cell whose noisy count passes the threshold τ = z·σ is split into
  ``branching`` equal parts (never narrower than 1 for an integer column); the counts of all parts of
  one level are again one Gaussian release of sensitivity 1. Which cells are split depends only on
  earlier noisy counts (adaptive composition). Every level is released, even an empty one, so the
  spend never depends on the data: ``levels + 1`` releases of noise σ, ρ = (L + 1)/(2σ²) in all.
* **Post-processing**: a level-0 cell below τ holds no mass (that keeps the range away from empty
  grid cells); the parts of a split cell are shifted to sum to their parent's noisy count and cut at
  0; parts at either end of the data whose noisy counts, summed from the outside in, look empty (below
  2σ√k for k parts) are trimmed. The leaves then give a distribution (uniform inside each leaf, spread over whole numbers for an
  integer column) whose quantiles are the DP bounds and bin edges. Blanks are "allowed" when their
  noisy count passes τ.

>>> import numpy as np
>>> from dptab_core.privacy.ledger import Ledger
>>> rng = np.random.default_rng(0)
>>> ages = np.concatenate([rng.integers(1, 111, size=3000).astype(float), [np.nan] * 0])
>>> ledger = Ledger()
>>> hist = dp_histogram(ages, rho=0.01, integer=True, rng=np.random.default_rng(1), ledger=ledger, label="age")
>>> len(ledger.entries) == HISTOGRAM.levels + 1
True
>>> lo, hi = hist.quantile(0.01), hist.quantile(0.99)
>>> 0 <= lo <= 5 and 100 <= hi <= 115
True
>>> hist.has_missing
False
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from dptab_core.privacy.ledger import Ledger
from dptab_core.privacy.mechanisms import gaussian_release
from dptab_core.privacy.settings import SCHEMA_STAGE


@dataclass(frozen=True)
class HistogramSettings:
    """The coarse-to-fine histogram's shape, each number with its reason.

    Level 0 is the signed decades of the public grid (0, ±10^k): few cells (27), so each holds many
    rows and the largest noise among the empty ones stays far below a cell that holds the data, even at
    ε = 1 with 1,000 rows. ``levels`` 3 refinements of ``branching`` 8 split a decade into 512 parts:
    ages get cells of one year, a [10⁵, 10⁶) income cell parts of ~1,800, while the budget is split
    only four ways. ``threshold_z`` 4: an empty decade passes τ = 4σ with probability 3·10⁻⁵, so a
    false range extension is rare; a real cell needs about 4σ rows to be seen. ``tail_z`` 3: a decade
    next to the kept ones (a tail of the data), and a part of a split cell, keep their mass from 3σ, so
    a thin tail is not cut off while an empty one passes with probability 0.1 %.
    """

    levels: int = 3
    branching: int = 8
    threshold_z: float = 4.0
    tail_z: float = 3.0


HISTOGRAM = HistogramSettings()
STAGE = "schema"


@dataclass
class NoisyHistogram:
    """The post-processed leaves of a DP histogram: ``lows``/``highs`` (cell ranges), ``mass`` ≥ 0.

    ``missing``: the noisy count of blanks; ``threshold``: τ; ``integer``: the values are whole numbers.
    """

    lows: np.ndarray
    highs: np.ndarray
    mass: np.ndarray
    missing: float
    threshold: float
    sigma: float
    integer: bool

    @property
    def has_missing(self) -> bool:
        """True when the noisy count of blanks passes the threshold."""
        return self.missing > self.threshold

    @property
    def total(self) -> float:
        return float(self.mass.sum())

    def quantile(self, q: float) -> float:
        """The ``q``-quantile of the leaves' distribution (uniform inside a leaf; whole numbers for an
        integer column: the smallest whole number whose CDF reaches ``q``)."""
        if self.integer:
            values, weights = self._integer_points()
            cdf = np.cumsum(weights) / max(weights.sum(), 1e-300)
            return float(values[min(int(np.searchsorted(cdf, q - 1e-12, side="left")), values.size - 1)])
        cdf = np.cumsum(self.mass) / max(self.total, 1e-300)
        i = min(int(np.searchsorted(cdf, q - 1e-12, side="left")), self.mass.size - 1)
        before = cdf[i - 1] if i > 0 else 0.0
        share = (q - before) / max(cdf[i] - before, 1e-300)
        return float(self.lows[i] + min(max(share, 0.0), 1.0) * (self.highs[i] - self.lows[i]))

    def _integer_points(self) -> tuple[np.ndarray, np.ndarray]:
        """Whole numbers inside the leaves with their share of each leaf's mass (sorted)."""
        values, weights = [], []
        for lo, hi, m in zip(self.lows, self.highs, self.mass, strict=True):
            if m <= 0:
                continue
            first, last = math.ceil(lo), math.ceil(hi) - 1
            if last < first:  # a leaf holding no whole number (it caught rounding noise): nearest one
                first = last = round(lo)
            count = last - first + 1
            if count > 10_000:  # a wide leaf: its mass at a few spread points is enough for quantiles
                points = np.unique(np.round(np.linspace(first, last, 10_000)))
            else:
                points = np.arange(first, last + 1, dtype=float)
            values.append(points)
            weights.append(np.full(points.size, m / points.size))
        if not values:
            return np.array([0.0]), np.array([1.0])
        v, w = np.concatenate(values), np.concatenate(weights)
        order = np.argsort(v, kind="stable")
        return v[order], w[order]


def histogram_sigma(rho: float, settings: HistogramSettings = HISTOGRAM) -> float:
    """Noise std of each level when the whole histogram spends ``rho`` (levels + 1 releases)."""
    return math.sqrt((settings.levels + 1) / (2.0 * rho))


def level0_cells(public_range: tuple[float, float] | None) -> tuple[np.ndarray, np.ndarray]:
    """The coarse cells: the public grid's intervals, cut to ``public_range`` when one is declared.

    >>> lows, highs = level0_cells((0, 120))
    >>> [(float(a), float(b)) for a, b in zip(lows[-3:], highs[-3:])]
    [(1.0, 10.0), (10.0, 100.0), (100.0, 120.0)]
    """
    grid = np.array(sorted({0.0} | {s * 10.0**k for s in (-1.0, 1.0) for k in range(-3, 10)}), dtype=float)
    if public_range is not None:
        lo, hi = float(public_range[0]), float(public_range[1])
        inside = grid[(grid > lo) & (grid < hi)]
        grid = np.concatenate([[lo], inside, [hi if hi > lo else lo + 1.0]])
    return grid[:-1].copy(), grid[1:].copy()


def dp_histogram(
    values: np.ndarray,
    *,
    rho: float,
    integer: bool,
    rng: np.random.Generator,
    ledger: Ledger,
    label: str,
    public_range: tuple[float, float] | None = None,
    settings: HistogramSettings = HISTOGRAM,
) -> NoisyHistogram:
    """The coarse-to-fine DP histogram of ``values`` (NaN = blank), spending exactly ``rho`` (zCDP).

    Values outside the grid or the declared ``public_range`` are clipped into the end cells.
    """
    values = np.asarray(values, dtype=float)
    blank = np.isnan(values)
    lows, highs = level0_cells(public_range)
    present = np.clip(values[~blank], lows[0], highs[-1])
    sigma = histogram_sigma(rho, settings)
    tau = settings.threshold_z * sigma
    min_width = 1.0 if integer else 0.0

    counts = np.append(_count(present, lows, highs), blank.sum())
    noisy = gaussian_release(
        counts,
        sensitivity=1.0,
        sigma=sigma,
        rng=rng,
        ledger=ledger,
        stage=STAGE,
        label=f"histogram of {label}, level 0",
        details={"column": label, "level": 0, "cells": int(counts.size)},
    )
    missing, noisy = float(noisy[-1]), noisy[:-1]
    mass = np.where(noisy > tau, noisy, 0.0)
    if not mass.any():  # nothing passes: keep the fullest cell (post-processing), never an empty range
        mass[int(np.argmax(noisy))] = max(float(noisy.max()), 1.0)
    tail = settings.tail_z * sigma
    mass = _extend_tails(mass, noisy, tail)
    leaves = {(float(a), float(b)): float(m) for a, b, m in zip(lows, highs, mass, strict=True) if m > 0}
    split = [(a, b, m) for (a, b), m in leaves.items() if m > tau]
    raw: dict[tuple[float, float], float] = {}  # each part of a split cell: its own noisy count
    for level in range(1, settings.levels + 1):
        parts: list[tuple[float, float]] = []
        parents: list[tuple[float, float, float, int, int]] = []
        for a, b, m in split:
            if b - a <= min_width:
                continue
            n_parts = settings.branching if not integer else max(1, min(settings.branching, math.floor(b - a)))
            if n_parts < 2:
                continue
            edges = np.linspace(a, b, n_parts + 1)
            parents.append((a, b, m, len(parts), n_parts))
            parts += [(float(x), float(y)) for x, y in zip(edges[:-1], edges[1:], strict=True)]
        plo = np.array([p[0] for p in parts], dtype=float)
        phi = np.array([p[1] for p in parts], dtype=float)
        # Every level is released, even when no cell is split, so the spend never depends on the data.
        noisy = gaussian_release(
            _count(present, plo, phi, closed_top=highs[-1]),
            sensitivity=1.0,
            sigma=sigma,
            rng=rng,
            ledger=ledger,
            stage=STAGE,
            label=f"histogram of {label}, level {level}",
            details={"column": label, "level": level, "cells": len(parts)},
        )
        split = []
        for a, b, m, start, n_parts in parents:
            noisy_parts = noisy[start : start + n_parts]
            children = np.clip(noisy_parts + (m - noisy_parts.sum()) / n_parts, 0.0, None)  # sum to the parent
            total = children.sum()
            if total <= 0:
                continue  # nothing to share: the parent stays a leaf, its rows spread over it
            children *= m / total
            del leaves[(a, b)]
            for (x, y), c, own in zip(parts[start : start + n_parts], children, noisy_parts, strict=True):
                if c > 0:
                    leaves[(x, y)] = float(c)
                    raw[(x, y)] = float(own)
                    if own > tau:
                        split.append((x, y, float(c)))
    keys = _trim_empty_ends(sorted(leaves), raw, sigma)
    return NoisyHistogram(
        lows=np.array([k[0] for k in keys]),
        highs=np.array([k[1] for k in keys]),
        mass=np.array([leaves[k] for k in keys]),
        missing=missing,
        threshold=tau,
        sigma=sigma,
        integer=integer,
    )


def _trim_empty_ends(
    keys: list[tuple[float, float]], raw: dict[tuple[float, float], float], sigma: float
) -> list[tuple[float, float]]:
    """Drop parts at either end whose own noisy counts, summed from the outside in, are what k empty
    parts would show (below 2σ√k): beyond the data a split cell holds only noise, and the consistency
    step would otherwise spread some mass there. Level-0 cells (no own count here) are never dropped."""
    for end in (0, -1):
        total, k = 0.0, 0
        while len(keys) > 1 and keys[end] in raw and total + raw[keys[end]] < 2.0 * sigma * math.sqrt(k + 1):
            total += raw[keys[end]]
            k += 1
            keys.pop(end)
    return keys


def _extend_tails(mass: np.ndarray, noisy: np.ndarray, low_threshold: float) -> np.ndarray:
    """Grow the kept cells outwards, one neighbour at a time, over cells whose noisy count passes the
    lower ``low_threshold`` (post-processing)."""
    out = mass.copy()
    kept = np.flatnonzero(out > 0)
    for start, step in ((kept.min(), -1), (kept.max(), 1)):
        i = start + step
        while 0 <= i < out.size and noisy[i] > low_threshold and out[i] == 0:
            out[i] = noisy[i]
            i += step
    return out


def _count(values: np.ndarray, lows: np.ndarray, highs: np.ndarray, *, closed_top: float | None = None) -> np.ndarray:
    """Rows in each half-open cell [low, high) (the very top of the grid closed); cells do not overlap."""
    if lows.size == 0:
        return np.zeros(0)
    top = highs[-1] if closed_top is None else closed_top
    out = np.zeros(lows.size)
    order = np.argsort(lows)
    sl, sh = lows[order], highs[order]
    idx = np.searchsorted(sl, values, side="right") - 1
    ok = idx >= 0
    idx_ok = np.clip(idx, 0, None)
    inside = ok & ((values < sh[idx_ok]) | ((values == sh[idx_ok]) & (sh[idx_ok] == top)))
    np.add.at(out, order[idx_ok[inside]], 1.0)
    return out


def edges_from_histogram(
    hist: NoisyHistogram,
    *,
    bins: int,
    low_q: float = SCHEMA_STAGE.lower_quantile,
    high_q: float = SCHEMA_STAGE.upper_quantile,
    equal: bool = False,
) -> tuple[float, ...]:
    """Bin edges (post-processing): the DP ``low_q`` and ``high_q`` quantiles as the outer edges, and the
    quantiles in between (``equal=False``) or equal widths (``equal=True``) inside.

    For an integer column the edges are whole numbers; a value that holds the mass of several
    quantiles (a spike, e.g. a capital gain of 0) gets a bin of its own, so it comes back exact.
    """
    lo, hi = hist.quantile(low_q), hist.quantile(high_q)
    if equal or hi <= lo:
        inner = list(np.linspace(lo, hi, bins + 1)[1:-1]) if hi > lo else []
    else:
        inner = [hist.quantile(low_q + (high_q - low_q) * i / bins) for i in range(1, bins)]
    if hist.integer:
        points = [round(lo), *(math.ceil(x) if equal else round(x) for x in inner), round(hi)]
        spikes = {k for k in points if points.count(k) > 1 and k < round(hi)}
        edges = sorted(set(points) | {k + 1 for k in spikes})
        if len(edges) < 3:
            edges = [edges[0], edges[0] + 1, max(edges[-1], edges[0] + 2)]
        return tuple(float(e) for e in edges)
    edges = sorted(set(float(_round_sig(x)) for x in (lo, *inner, hi)))
    if len(edges) < 3:
        width = max(edges[-1] - edges[0], abs(edges[0]) * 1e-3, 1e-6)
        edges = [edges[0], edges[0] + width / 2, edges[0] + width]
    return tuple(edges)


def _round_sig(x: float, digits: int = 4) -> float:
    """``x`` to ``digits`` significant digits: released edges carry no low-order bits of the noise."""
    if x == 0 or not math.isfinite(x):
        return x
    return round(x, digits - 1 - math.floor(math.log10(abs(x))))
