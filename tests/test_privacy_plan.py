"""The budget plan keeps its promises: composed ε within [0.99, 1] × target, never above; more ε never
means more noise; impossible plans fail with a fix; shares of disabled stages are redistributed."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dptab_core.errors import PlanError
from dptab_core.privacy import (
    STAGES,
    BudgetPlan,
    DPSGDSettings,
    MeanPairSettings,
    SemanticQuerySettings,
    plan_budget,
)

PROPERTY = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def plan_inputs(draw):
    """Random but valid plan inputs over the ranges the app allows."""
    delta = 10.0 ** draw(st.floats(-10, -3))
    n_rows = draw(st.integers(200, min(200_000, int(0.5 / delta))))
    shares = {s: draw(st.floats(0.02, 1.0)) for s in STAGES}
    return {
        "epsilon": draw(st.floats(0.05, 50.0)),
        "delta": delta,
        "n_rows": n_rows,
        "shares": shares,
        "dpsgd": DPSGDSettings(epochs=draw(st.integers(0, 30)), batch_size=draw(st.integers(16, min(512, n_rows)))),
        "mean_pairs": MeanPairSettings(
            rounds=draw(st.integers(0, 3)), sampling_rate=draw(st.sampled_from([0.1, 0.5, 1.0]))
        ),
        "semantic_query": SemanticQuerySettings(enabled=draw(st.booleans()), top_k=draw(st.integers(1, 3))),
        "n_paid_columns": draw(st.integers(0, 3)),
    }


def noise_levels(plan: BudgetPlan) -> dict[str, float]:
    """Each enabled stage's noise in one unit: the noise multiplier (zCDP stages: 1/√(2ρ))."""
    out = {}
    for name, stage in plan.stages.items():
        if stage.enabled:
            p = stage.params
            out[name] = p["noise_multiplier"] if "noise_multiplier" in p else 1 / math.sqrt(2 * p["rho"])
    return out


def plan_or_useless(inputs):
    """The plan, or None when the planner refused it as useless (DP-SGD noise beyond the limit)."""
    try:
        return plan_budget(**inputs)
    except PlanError as exc:
        assert "DP-SGD would need a noise multiplier" in str(exc), f"unexpected refusal: {exc}"
        return None


@PROPERTY
@given(plan_inputs())
def test_composed_epsilon_is_within_one_percent_below_the_target_and_never_above(inputs):
    plan = plan_or_useless(inputs)
    if plan is None:
        return
    assert plan.composed_epsilon <= inputs["epsilon"], f"composed {plan.composed_epsilon} above {inputs['epsilon']}"
    assert plan.composed_epsilon >= 0.99 * inputs["epsilon"], f"composed {plan.composed_epsilon} wastes budget"
    assert math.isclose(sum(s.share for s in plan.stages.values()), 1.0), "shares must sum to 1"


@PROPERTY
@given(plan_inputs(), st.floats(1.001, 3.0))
def test_more_epsilon_never_means_more_noise_in_any_stage(inputs, factor):
    low = plan_or_useless(inputs)
    high = plan_or_useless({**inputs, "epsilon": min(50.0, inputs["epsilon"] * factor)})
    if low is None or high is None:
        return
    for stage, noise in noise_levels(high).items():
        assert noise <= noise_levels(low)[stage] * (1 + 1e-6), (
            f"{stage}: noise {noise} at higher ε exceeds {noise_levels(low)[stage]}"
        )


@pytest.mark.slow
def test_fifty_random_plans_land_in_the_target_band():
    import random

    rng = random.Random(4)
    for _ in range(50):
        eps = 10 ** rng.uniform(-1, 1.3)
        plan = plan_budget(
            epsilon=eps,
            delta=1e-6,
            n_rows=rng.randint(1000, 50000),
            shares={s: rng.uniform(0.05, 1) for s in STAGES},
            n_paid_columns=rng.randint(0, 2),
            dpsgd=DPSGDSettings(epochs=rng.randint(1, 10), batch_size=rng.choice([64, 128, 256])),
        )
        assert 0.99 * eps <= plan.composed_epsilon <= eps, f"ε={eps}: composed {plan.composed_epsilon}"


def test_a_disabled_stage_gets_no_share_and_the_rest_is_redistributed_proportionally():
    plan = plan_budget(
        epsilon=1.0,
        delta=1e-6,
        n_rows=5000,
        shares={"table": 0.3, "dpsgd": 0.6, "mean_pairs": 0.1},
        semantic_query=SemanticQuerySettings(enabled=False),
    )
    shares = {name: s.share for name, s in plan.stages.items()}
    assert shares["semantic_query"] == 0 and shares["schema"] == 0, shares
    assert math.isclose(shares["dpsgd"], 0.6) and math.isclose(shares["table"], 0.3), shares
    assert not plan.stages["semantic_query"].enabled and plan.stages["semantic_query"].params == {}


def test_the_schema_stage_runs_exactly_when_some_domain_is_not_public_and_reserves_delta():
    free = plan_budget(epsilon=1.0, delta=1e-6, n_rows=5000)
    paid = plan_budget(epsilon=1.0, delta=1e-6, n_rows=5000, n_paid_columns=2)
    assert not free.stages["schema"].enabled and free.partition_delta == 0
    assert paid.stages["schema"].enabled and 0 < paid.partition_delta < paid.delta
    assert math.isclose(paid.partition_delta + paid.rdp_delta, paid.delta)
    assert paid.stages["schema"].params["category_threshold"] > 1


def test_only_numeric_paid_columns_reserve_no_partition_delta():
    plan = plan_budget(epsilon=1.0, delta=1e-6, n_rows=5000, n_paid_columns=2, n_paid_categorical=0)
    assert plan.partition_delta == 0 and plan.rdp_delta == plan.delta


def test_dpsgd_parameters_follow_opacus_data_loader():
    plan = plan_budget(epsilon=2.0, delta=1e-6, n_rows=2000, dpsgd=DPSGDSettings(epochs=3, batch_size=256))
    p = plan.stages["dpsgd"].params
    assert p["sampling_rate"] == 1 / 8 and p["steps"] == 24, p


@pytest.mark.parametrize(
    ("kwargs", "where", "fix"),
    [
        ({"epsilon": 1.0, "delta": 1e-3, "n_rows": 2000}, "delta", "δ ≤ 1e-05"),
        ({"epsilon": 1.0, "delta": 1e-6, "n_rows": 2000, "shares": {"table": 0.0}}, "shares", "share above 0"),
        ({"epsilon": 1.0, "delta": 1e-6, "n_rows": 2000, "shares": {"tabel": 0.3}}, "shares", "Stages are"),
        (
            {"epsilon": 0.05, "delta": 1e-9, "n_rows": 2000, "dpsgd": DPSGDSettings(epochs=50, batch_size=16)},
            "dpsgd",
            "Raise ε",
        ),
        ({"epsilon": 1.0, "delta": 1e-6, "n_rows": 100, "dpsgd": DPSGDSettings(batch_size=256)}, "batch_size", "≤ 100"),
        ({"epsilon": 0.0, "delta": 1e-6, "n_rows": 2000}, "epsilon", "Choose ε"),
    ],
)
def test_plans_that_cannot_work_raise_a_plan_error_with_a_fix(kwargs, where, fix):
    with pytest.raises(PlanError) as info:
        plan_budget(**kwargs)
    assert info.value.where == where and fix in str(info.value), str(info.value)


def test_plan_round_trips_through_its_dict():
    plan = plan_budget(epsilon=3.0, delta=1e-7, n_rows=10_000, n_paid_columns=1, n_columns=6)
    assert BudgetPlan.from_dict(plan.to_dict()) == plan
    assert all(plan.stages[s].plain_words for s in plan.enabled_stages()), "every enabled stage explains itself"


def test_standalone_epsilons_stay_proportional_to_the_shares():
    plan = plan_budget(
        epsilon=2.0,
        delta=1e-6,
        n_rows=8000,
        shares={"table": 0.2, "dpsgd": 0.6, "mean_pairs": 0.1, "semantic_query": 0.1},
    )
    ratios = {name: s.standalone_epsilon / s.share for name, s in plan.stages.items() if s.enabled}
    assert max(ratios.values()) <= min(ratios.values()) * (1 + 1e-6), ratios
    assert min(ratios.values()) > plan.epsilon, "composition is cheaper than the sum, so each stage gets more"


def test_paid_numeric_bounds_on_few_rows_warn_to_declare_them_public():
    small = plan_budget(
        epsilon=10.0, delta=1e-7, n_rows=200, n_paid_columns=2, n_paid_categorical=1, dpsgd=DPSGDSettings(batch_size=64)
    )
    large = plan_budget(epsilon=10.0, delta=1e-7, n_rows=50_000, n_paid_columns=2, n_paid_categorical=1)
    categorical_only = plan_budget(
        epsilon=10.0, delta=1e-7, n_rows=200, n_paid_columns=1, n_paid_categorical=1, dpsgd=DPSGDSettings(batch_size=64)
    )
    assert any("declare public bounds" in w for w in small.warnings), small.warnings
    assert not any("declare public bounds" in w for w in large.warnings), large.warnings
    assert not any("declare public bounds" in w for w in categorical_only.warnings), categorical_only.warnings
