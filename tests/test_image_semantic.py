"""PrivImage semantic query: vote sensitivity, accounted noise, label choice, classifier cache."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image  # noqa: E402

from dptab_core.image import semantic  # noqa: E402
from dptab_core.privacy.ledger import Ledger  # noqa: E402

COLOURS = {"blue": (20, 40, 220), "green": (30, 200, 40), "red": (220, 30, 30)}


def _public(tmp_path):
    rng = np.random.default_rng(0)
    for label, rgb in COLOURS.items():
        (tmp_path / "public" / label).mkdir(parents=True)
        for i in range(12):
            px = np.clip(np.array(rgb) + rng.normal(0, 20, (8, 8, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(px).save(tmp_path / "public" / label / f"{i}.png")
    return tmp_path / "public"


def test_removing_one_image_moves_the_vote_histogram_by_sqrt_k():
    probs = np.random.default_rng(0).dirichlet(np.ones(6), size=30)
    for k in (1, 2, 3):
        moved = np.linalg.norm(semantic.vote_histogram(probs, k) - semantic.vote_histogram(probs[1:], k))
        assert moved == pytest.approx(math.sqrt(k)), f"top-{k}: one image moved the histogram by {moved}"


def test_the_query_releases_noisy_votes_once_and_selects_the_labels_red_images_vote_for(tmp_path, monkeypatch):
    seen = []
    real = semantic.gaussian_release

    def spy(values, **kw):
        noisy = real(values, **kw)
        seen.append((values, noisy, kw))
        return noisy

    monkeypatch.setattr(semantic, "gaussian_release", spy)
    red = np.broadcast_to(np.array(COLOURS["red"], dtype=np.uint8), (40, 8, 8, 3)).copy()
    ledger = Ledger()
    result = semantic.semantic_query(
        red,
        _public(tmp_path),
        sigma=0.5,
        top_k=1,
        n_select=1,
        rng=np.random.default_rng(0),
        ledger=ledger,
        cache_dir=tmp_path / "cache",
        device="cpu",
        resolution=8,
        per_label=12,
        width=8,
        steps=60,
    )
    (entry,) = ledger.entries
    assert (entry.stage, entry.sensitivity, entry.sigma) == ("semantic_query", 1.0, 0.5)
    votes, noisy, _ = seen[0]
    assert votes.sum() == 40 and np.array_equal(result.noisy_votes, noisy)
    assert result.selected_labels == ["red"], f"red images should select 'red', got {result.selected_labels}"


def test_the_public_classifier_is_cached_and_reused(tmp_path):
    public = _public(tmp_path)
    kw = dict(resolution=8, channels=3, per_label=12, width=8, steps=5, cache_dir=tmp_path / "cache", device="cpu")
    semantic.public_classifier(public, **kw)
    cached = list((tmp_path / "cache").glob("*.pt"))
    assert len(cached) == 1, "the trained classifier must be written under the cache folder"
    stamp = cached[0].stat().st_mtime_ns
    _, labels = semantic.public_classifier(public, **kw)
    assert labels == sorted(COLOURS) and cached[0].stat().st_mtime_ns == stamp, "a second call must not retrain"
