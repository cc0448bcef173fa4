"""The plan a job starts from: stage shares chosen by the image model and ε, the user's choices on top."""

from __future__ import annotations

import pytest

from dptab_core.pipeline.planning import LATENT_SHARES_AT_EPSILON_1, plan_kwargs
from dptab_core.privacy import DEFAULT_SHARES, plan_budget


def _shares(plan_options: dict, *, public_labels: int, epsilon: float = 1.0) -> dict[str, float]:
    kwargs = plan_kwargs(
        {"epsilon": epsilon, **plan_options},
        preset="quick",
        n_rows=2000,
        channels=3,
        n_paid_columns=0,
        n_public_labels=public_labels,
    )
    return {name: stage.share for name, stage in plan_budget(**kwargs).stages.items()}


def _ratio(shares: dict[str, float]) -> float:
    return shares["mean_pairs"] / shares["dpsgd"]


def test_at_epsilon_1_the_latent_family_gives_the_mean_pairs_as_much_as_dpsgd():
    shares = _shares({}, public_labels=10, epsilon=1.0)
    assert _ratio(shares) == pytest.approx(_ratio(LATENT_SHARES_AT_EPSILON_1)), shares


def test_at_epsilon_10_the_latent_family_keeps_the_general_split():
    shares = _shares({}, public_labels=10, epsilon=10.0)
    assert _ratio(shares) == pytest.approx(_ratio(DEFAULT_SHARES)), shares


def test_between_the_two_the_mean_pairs_share_falls_as_epsilon_grows():
    ratios = [_ratio(_shares({}, public_labels=10, epsilon=e)) for e in (1.0, 2.0, 5.0, 10.0)]
    assert ratios == sorted(ratios, reverse=True) and ratios[0] > ratios[-1], f"mean pairs / DP-SGD: {ratios}"


def test_without_public_images_the_fallback_model_keeps_the_general_split_at_any_epsilon():
    shares = _shares({}, public_labels=0, epsilon=1.0)
    assert _ratio(shares) == pytest.approx(_ratio(DEFAULT_SHARES)), shares


def test_a_share_the_user_sets_overrides_the_automatic_one_and_the_rest_stay():
    shares = _shares({"shares": {"table": 0.6}}, public_labels=10, epsilon=1.0)
    assert shares["table"] / shares["mean_pairs"] == pytest.approx(0.6 / LATENT_SHARES_AT_EPSILON_1["mean_pairs"])
