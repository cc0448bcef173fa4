"""DP mean pairs: sensitivity, noise, and the means they give back."""

from __future__ import annotations

import numpy as np
import pytest

from dptab_core.data.schema import Column, Schema
from dptab_core.image import mean_pairs as mp
from dptab_core.image.encoder import RecordEncoder, encode_images
from dptab_core.privacy.ledger import Ledger

SCHEMA = Schema(
    columns=(
        Column("tone", "categorical", categories=("light", "dark"), public=True),
        Column("size", "numeric", dtype="float", bounds=(0.0, 1.0), bins=3, public=True),
        Column("img", "image"),
    ),
    image_column="img",
)
SIZES = {"tone": 3, "size": 4}


def _data(n: int = 40, seed: int = 0):
    rng = np.random.default_rng(seed)
    codes = {"tone": rng.integers(0, 3, n), "size": rng.integers(0, 4, n)}
    images = rng.integers(0, 256, (n, 8, 8, 3), dtype=np.uint8)
    return images, codes


def _release(images, codes, **kw):
    args = dict(
        noise_multiplier=1.0,
        sampling_rate=1.0,
        rounds=1,
        clip_norm=2.0,
        rng=np.random.default_rng(0),
        ledger=Ledger(),
        resolution=4,
        count_weight=0.5,
        min_cell_count=1.0,
    )
    args.update(kw)
    return mp.dp_mean_pairs(images, codes, SCHEMA, **args), args


@pytest.mark.parametrize("who", [0, 7, 39])
def test_removing_one_individual_moves_the_released_vector_by_at_most_the_sensitivity(who):
    images, codes = _data()
    unit = encode_images(images, 4).astype(float)
    full = mp.cell_sums(unit, codes, SIZES, clip_norm=2.0, count_weight=0.5)
    keep = np.arange(len(unit)) != who
    less = mp.cell_sums(unit[keep], {k: v[keep] for k, v in codes.items()}, SIZES, clip_norm=2.0, count_weight=0.5)
    moved = np.linalg.norm(full - less)
    bound = mp.mean_pair_sensitivity(clip_norm=2.0, count_weight=0.5, n_attributes=2)
    assert moved <= bound + 1e-9, f"one individual moved the sums by {moved}, above the sensitivity {bound}"
    assert moved >= 0.999 * bound, (
        f"random images exceed the clip bound, so the bound should be tight: {moved} < {bound}"
    )


def test_each_round_is_one_ledger_entry_with_the_plans_noise_multiplier():
    images, codes = _data()
    _, args = _release(images, codes, noise_multiplier=3.0, rounds=2, sampling_rate=0.5)
    entries = args["ledger"].entries
    assert [e.mechanism for e in entries] == ["subsampled_gaussian"] * 2
    assert all(e.noise_multiplier == pytest.approx(3.0) and e.sampling_rate == 0.5 for e in entries)
    assert entries[0].sensitivity == pytest.approx(
        mp.mean_pair_sensitivity(clip_norm=2.0, count_weight=0.5, n_attributes=2)
    )


def test_the_drawn_noise_has_the_planned_std(monkeypatch):
    seen = []
    real = mp.subsampled_gaussian_release

    def spy(values, **kw):
        noisy = real(values, **kw)
        seen.append((noisy - values, kw["sigma"]))
        return noisy

    monkeypatch.setattr(mp, "subsampled_gaussian_release", spy)
    images, codes = _data(n=200)
    _release(images, codes, noise_multiplier=2.0, resolution=8)
    noise, sigma = seen[0]
    assert sigma == pytest.approx(2.0 * mp.mean_pair_sensitivity(clip_norm=2.0, count_weight=0.5, n_attributes=2))
    assert np.std(noise) == pytest.approx(sigma, rel=0.05), f"noise std {np.std(noise)} is not the planned {sigma}"


def test_with_negligible_noise_the_means_are_the_clipped_cell_means():
    images, codes = _data(n=300)
    pairs, _ = _release(images, codes, noise_multiplier=1e-6, clip_norm=100.0)
    unit = encode_images(images, 4)
    for code in range(2):
        want = unit[codes["tone"] == code].mean(axis=0)
        assert np.allclose(pairs.means["tone"][code], want, atol=1e-4), f"tone={code}: mean image is off"
    assert np.allclose(pairs.marginals["size"], np.bincount(codes["size"], minlength=4) / 300, atol=1e-6)


def test_cells_below_the_minimum_count_are_not_paired():
    images, codes = _data(n=60)
    codes["tone"][:] = 0
    pairs, _ = _release(images, codes, noise_multiplier=1e-6, min_cell_count=5.0)
    assert ("tone", 1) not in {(c[0], c[1]) for c in pairs.cells}, "an empty cell was kept as a mean pair"
    assert len(pairs.conditions) == len(pairs.images) == len(pairs.cells)


def test_composites_pair_full_records_with_additive_images():
    images, codes = _data(n=300)
    pairs, _ = _release(images, codes, noise_multiplier=1e-6, clip_norm=100.0)
    cond, target = mp.composite_pairs(pairs, RecordEncoder(SCHEMA), 50, np.random.default_rng(0))
    assert cond.shape == (50, RecordEncoder(SCHEMA).dim) and target.shape == (50, 3, 4, 4)
    assert np.allclose(cond.sum(axis=1), 2.0), "each composite record must be one-hot in both blocks"


@pytest.mark.parametrize("who", [0, 7, 39])
def test_with_the_spread_one_individual_still_moves_the_release_by_at_most_the_sensitivity(who):
    images, codes = _data()
    unit = encode_images(images, 4).astype(float)
    sums = {"clip_norm": 2.0, "count_weight": 0.5, "second_moment": True}
    full = mp.cell_sums(unit, codes, SIZES, **sums)
    keep = np.arange(len(unit)) != who
    less = mp.cell_sums(unit[keep], {k: v[keep] for k, v in codes.items()}, SIZES, **sums)
    moved = np.linalg.norm(full - less)
    bound = mp.mean_pair_sensitivity(clip_norm=2.0, count_weight=0.5, n_attributes=2, second_moment=True)
    assert moved <= bound + 1e-9, f"one individual moved the release by {moved}, above the sensitivity {bound}"
    assert moved >= 0.999 * bound, (
        f"random images exceed the clip bound, so the bound should be tight: {moved} < {bound}"
    )


def test_the_spread_release_records_its_larger_sensitivity_in_one_ledger_entry():
    rng = np.random.default_rng(0)
    units, codes = rng.normal(size=(50, 6)) * 0.1, {"tone": rng.integers(0, 3, 50), "size": rng.integers(0, 4, 50)}
    ledger = Ledger()
    mp.dp_mean_pairs_of(
        units,
        codes,
        SCHEMA,
        noise_multiplier=2.0,
        sampling_rate=1.0,
        rounds=1,
        clip_norm=1.0,
        rng=rng,
        ledger=ledger,
        count_weight=0.5,
        min_cell_count=1.0,
        second_moment=True,
        bounded=False,
    )
    (entry,) = ledger.entries
    want = mp.mean_pair_sensitivity(clip_norm=1.0, count_weight=0.5, n_attributes=2, second_moment=True)
    assert entry.sensitivity == pytest.approx(want) and entry.noise_multiplier == pytest.approx(2.0)


def test_with_negligible_noise_the_spread_is_the_covariance_around_the_record_means():
    """Units = a per-tone shift + individual noise with a known covariance: the spread recovers that covariance."""
    rng = np.random.default_rng(1)
    n, shift = 20000, np.array([[0.4, 0, 0], [-0.4, 0, 0], [0, 0.4, 0]])
    codes = {"tone": rng.integers(0, 3, n), "size": rng.integers(0, 4, n)}
    covariance = np.array([[0.04, 0.02, 0.0], [0.02, 0.05, 0.0], [0.0, 0.0, 0.01]])
    units = shift[codes["tone"]] + rng.multivariate_normal(np.zeros(3), covariance, size=n)
    pairs = mp.dp_mean_pairs_of(
        units,
        codes,
        SCHEMA,
        noise_multiplier=1e-6,
        sampling_rate=1.0,
        rounds=1,
        clip_norm=100.0,
        rng=rng,
        ledger=Ledger(),
        count_weight=0.5,
        min_cell_count=1.0,
        second_moment=True,
        bounded=False,
    )
    assert pairs.spread is not None
    assert np.allclose(pairs.spread, covariance, atol=0.005), f"spread {pairs.spread.round(3)} is not {covariance}"


def test_a_spread_only_noise_supports_is_floored_to_nothing():
    """Pure noise in the second moment (no individual variation) must not turn into spread."""
    rng = np.random.default_rng(2)
    codes = {"tone": rng.integers(0, 3, 400), "size": rng.integers(0, 4, 400)}
    units = np.zeros((400, 8))
    pairs = mp.dp_mean_pairs_of(
        units,
        codes,
        SCHEMA,
        noise_multiplier=1.0,
        sampling_rate=1.0,
        rounds=1,
        clip_norm=1.0,
        rng=rng,
        ledger=Ledger(),
        count_weight=0.5,
        min_cell_count=1.0,
        second_moment=True,
        bounded=False,
    )
    assert pairs.spread is not None
    top = np.linalg.eigvalsh(pairs.spread).max()
    assert top < 1e-3, f"the noise became a spread direction of variance {top:.4f}"
