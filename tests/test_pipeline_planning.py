"""The plan a job starts from: stage shares chosen by the image model, the user's choices on top."""

from __future__ import annotations

import pytest

from dptab_core.pipeline.planning import LATENT_SHARES, plan_kwargs
from dptab_core.privacy import DEFAULT_SHARES, plan_budget


def _shares(plan_options: dict, *, public_labels: int) -> dict[str, float]:
    kwargs = plan_kwargs(
        {"epsilon": 1.0, **plan_options},
        preset="quick",
        n_rows=2000,
        channels=3,
        n_paid_columns=0,
        n_public_labels=public_labels,
    )
    return {name: stage.share for name, stage in plan_budget(**kwargs).stages.items()}


def test_with_public_images_the_latent_family_gives_the_mean_pairs_a_larger_share_than_the_general_split():
    shares = _shares({}, public_labels=10)
    general = DEFAULT_SHARES["mean_pairs"] / DEFAULT_SHARES["dpsgd"]
    assert shares["mean_pairs"] / shares["dpsgd"] > general, f"latent-family plan split: {shares}"
    ratio = LATENT_SHARES["mean_pairs"] / LATENT_SHARES["dpsgd"]
    assert shares["mean_pairs"] / shares["dpsgd"] == pytest.approx(ratio), shares


def test_without_public_images_the_fallback_model_keeps_the_general_split():
    shares = _shares({}, public_labels=0)
    ratio = DEFAULT_SHARES["mean_pairs"] / DEFAULT_SHARES["dpsgd"]
    assert shares["mean_pairs"] / shares["dpsgd"] == pytest.approx(ratio), shares


def test_a_share_the_user_sets_overrides_the_models_default_and_the_rest_stay():
    shares = _shares({"shares": {"table": 0.6}}, public_labels=10)
    assert shares["table"] / shares["mean_pairs"] == pytest.approx(0.6 / LATENT_SHARES["mean_pairs"]), shares
