"""The accountant against closed forms, Opacus, and the ledger: conversions are valid bounds, composing a
ledger equals composing the plan, and a ledger that spends more than planned is refused by stage."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import norm

from dptab_core.errors import PrivacyAccountingError
from dptab_core.privacy import DPSGDSettings, Ledger, SemanticQuerySettings, compose_entries, plan_budget
from dptab_core.privacy import accountant as acc
from dptab_core.privacy.settings import STAGES


def exact_gaussian_delta(epsilon: float, z: float) -> float:
    """δ(ε) of one Gaussian release with noise multiplier z (Balle & Wang 2018, Theorem 8)."""
    return norm.cdf(1 / (2 * z) - epsilon * z) - math.exp(epsilon) * norm.cdf(-1 / (2 * z) - epsilon * z)


@settings(max_examples=40, deadline=None)
@given(st.floats(0.5, 30.0), st.floats(-10, -3))
def test_one_gaussian_release_converts_between_the_exact_curve_and_the_zcdp_bound(z, log_delta):
    delta = 10.0**log_delta
    rho = 1 / (2 * z * z)
    zcdp_bound = rho + 2 * math.sqrt(rho * math.log(1 / delta))
    orders = acc.orders_around(epsilon=zcdp_bound, delta=delta)
    eps = acc.epsilon_from_rdp(
        acc.rdp_curve(acc.stage_event("semantic_query", noise_multiplier=z), orders), orders, delta=delta
    )
    assert eps <= zcdp_bound + 1e-12, "above the ρ-zCDP conversion bound"
    assert exact_gaussian_delta(eps, z) <= delta * (1 + 1e-9), "RDP ε is not a valid bound for the exact Gaussian"


@settings(max_examples=30, deadline=None)
@given(st.floats(1e-4, 5.0), st.sampled_from([2, 3, 7.5, 20, 64]))
def test_zcdp_and_gaussian_stages_have_linear_rdp_curves(rho, order):
    z = 1 / math.sqrt(2 * rho)
    zcdp = acc.rdp_curve(acc.stage_event("table", noise_multiplier=z), [order])[0]
    gauss = acc.rdp_curve(acc.stage_event("semantic_query", noise_multiplier=z), [order])[0]
    assert math.isclose(zcdp, order * rho, rel_tol=1e-12), "ρ-zCDP must give ε(α) = αρ"
    assert math.isclose(gauss, order / (2 * z * z), rel_tol=1e-12), "Gaussian must give ε(α) = α/2z²"


@pytest.mark.slow
@pytest.mark.parametrize(("epsilon", "delta"), [(0.5, 1e-7), (1.0, 1e-5), (8.0, 1e-6)])
def test_the_plans_order_grid_loses_less_than_half_a_percent_against_every_integer_order(epsilon, delta):
    plan = plan_budget(epsilon=epsilon, delta=delta, n_rows=20_000, dpsgd=DPSGDSettings(epochs=3, batch_size=200))
    events = [acc.planned_event(s, plan.stages[s].params) for s in plan.enabled_stages()]
    dense = list(range(2, int(1.3 * max(plan.orders))))
    curve = sum(acc.rdp_curve(e, dense) for e in events)
    best = acc.epsilon_from_rdp(curve, dense, delta=plan.rdp_delta)
    assert best <= plan.composed_epsilon <= best * 1.005, f"plan {plan.composed_epsilon}, all orders {best}"


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:Optimal order is the largest alpha")
@pytest.mark.parametrize("epsilon", [1.0, 3.0, 8.0])
def test_a_dpsgd_only_plan_matches_opacus_noise_multiplier_within_one_percent(epsilon):
    from opacus.accountants.utils import get_noise_multiplier

    plan = plan_budget(
        epsilon=epsilon,
        delta=1e-5,
        n_rows=6000,
        shares={"dpsgd": 1.0},
        table_enabled=False,
        dpsgd=DPSGDSettings(epochs=5, batch_size=250),
        semantic_query=SemanticQuerySettings(enabled=False),
        mean_pairs=acc_settings_off(),
    )
    p = plan.stages["dpsgd"].params
    theirs = get_noise_multiplier(
        target_epsilon=epsilon,
        target_delta=1e-5,
        sample_rate=p["sampling_rate"],
        steps=p["steps"],
        accountant="rdp",
        epsilon_tolerance=1e-4 * epsilon,
    )
    assert math.isclose(p["noise_multiplier"], theirs, rel_tol=0.01), f"ours {p['noise_multiplier']}, Opacus {theirs}"


def acc_settings_off():
    from dptab_core.privacy import MeanPairSettings

    return MeanPairSettings(enabled=False)


def record_plan(plan, ledger: Ledger, *, table_pieces: int = 10, dpsgd_runs: int = 2) -> None:
    """Spend exactly what ``plan`` allows, in the pieces the stages really use."""
    for name in plan.enabled_stages():
        p = plan.stages[name].params
        if name == "schema":
            ledger.record(stage=name, mechanism="zcdp", label="bounds", rho=p["rho"] / 2)
            ledger.record(
                stage=name,
                mechanism="gaussian",
                label="categories",
                sensitivity=1.0,
                sigma=1 / math.sqrt(p["rho"]),
                details={"partition_delta": p["partition_delta"]},
            )
        elif name == "table":
            for i in range(table_pieces):
                ledger.record(
                    stage=name,
                    mechanism="gaussian",
                    label=f"marginal {i}",
                    sensitivity=1.0,
                    sigma=math.sqrt(table_pieces / (2 * p["rho"])),
                )
        elif name == "semantic_query":
            ledger.record(
                stage=name, mechanism="gaussian", label="votes", sensitivity=p["sensitivity"], sigma=p["sigma"]
            )
        elif name == "mean_pairs":
            for _ in range(p["rounds"]):
                ledger.record(
                    stage=name,
                    mechanism="subsampled_gaussian",
                    label="round",
                    sampling_rate=p["sampling_rate"],
                    noise_multiplier=p["noise_multiplier"],
                )
        else:
            first = p["steps"] // dpsgd_runs
            for steps in (first, p["steps"] - first):
                ledger.record(
                    stage=name,
                    mechanism="subsampled_gaussian",
                    label="dpsgd",
                    steps=steps,
                    sampling_rate=p["sampling_rate"],
                    noise_multiplier=p["noise_multiplier"],
                )


@pytest.fixture(scope="module")
def full_plan():
    return plan_budget(
        epsilon=2.0, delta=1e-6, n_rows=4000, n_paid_columns=2, dpsgd=DPSGDSettings(epochs=4, batch_size=200)
    )


def test_a_ledger_that_spends_the_plan_composes_to_the_plans_epsilon_and_verifies(full_plan):
    ledger = Ledger()
    record_plan(full_plan, ledger)
    spent = compose_entries(ledger.entries, delta=full_plan.delta, orders=full_plan.orders)
    assert math.isclose(spent, full_plan.composed_epsilon, rel_tol=1e-6), (
        f"ledger {spent}, plan {full_plan.composed_epsilon}"
    )
    acc.verify_ledger_matches_plan(ledger, full_plan)


def test_the_report_grid_never_gives_more_than_the_plan_grid(full_plan):
    ledger = Ledger()
    record_plan(full_plan, ledger)
    wide = compose_entries(ledger.entries, delta=full_plan.delta, orders=acc.report_orders(full_plan.orders))
    assert wide <= full_plan.composed_epsilon * (1 + 1e-9)


def test_composition_matches_dp_accounting_composing_the_same_events_directly(full_plan):
    import dp_accounting

    orders = full_plan.orders
    events = [acc.planned_event(s, full_plan.stages[s].params) for s in full_plan.enabled_stages()]
    accountant = dp_accounting.rdp.RdpAccountant(orders=list(orders))
    accountant.compose(dp_accounting.ComposedDpEvent(events))
    direct = accountant.get_epsilon(full_plan.rdp_delta) + acc.partition_epsilon(full_plan.partition_delta)
    assert math.isclose(direct, full_plan.composed_epsilon, rel_tol=1e-9), f"{direct} vs {full_plan.composed_epsilon}"


@pytest.mark.parametrize("stage", STAGES)
def test_a_stage_that_spends_more_than_planned_is_named_in_the_error(full_plan, stage):
    ledger = Ledger()
    record_plan(full_plan, ledger)
    p = full_plan.stages[stage].params
    if stage in ("mean_pairs", "dpsgd"):
        ledger.record(
            stage=stage,
            mechanism="subsampled_gaussian",
            label="extra",
            sampling_rate=p["sampling_rate"],
            noise_multiplier=p["noise_multiplier"],
        )
    else:
        ledger.record(stage=stage, mechanism="zcdp", label="extra", rho=1e-4)
    with pytest.raises(PrivacyAccountingError, match=f"stage '{stage}'"):
        acc.verify_ledger_matches_plan(ledger, full_plan)


def test_a_stage_the_plan_turned_off_may_not_spend():
    plan = plan_budget(epsilon=1.0, delta=1e-6, n_rows=4000)
    ledger = Ledger()
    ledger.record(stage="schema", mechanism="zcdp", label="sneaky", rho=1e-6)
    with pytest.raises(PrivacyAccountingError, match="stage 'schema'.*plan gives it none"):
        acc.verify_ledger_matches_plan(ledger, plan)


def test_partition_delta_beyond_the_reservation_is_refused(full_plan):
    ledger = Ledger()
    ledger.record(
        stage="schema",
        mechanism="gaussian",
        label="categories",
        sensitivity=1.0,
        sigma=1e6,
        details={"partition_delta": full_plan.partition_delta * 2},
    )
    with pytest.raises(PrivacyAccountingError, match="partition-selection"):
        acc.verify_ledger_matches_plan(ledger, full_plan)


def test_the_solver_returns_the_conservative_side_of_the_crossing():
    x, fx = acc.solve_decreasing(lambda v: 1.0 / v, 0.3, guess=100.0, rtol=1e-9)
    assert fx <= 0.3 and fx >= 0.3 * (1 - 1e-9) and math.isclose(x, 1 / 0.3, rel_tol=1e-8)


def test_best_order_walk_finds_the_grid_optimum():
    event = acc.stage_event("dpsgd", noise_multiplier=1.1, sampling_rate=0.05, count=500)
    orders = tuple(range(2, 120))
    eps, j = acc.best_order_epsilon(lambda z, o: acc.rdp_curve(event, o), 1.1, orders=orders, delta=1e-6, start=100)
    full = [acc.epsilon_from_rdp(acc.rdp_curve(event, [a]), [a], delta=1e-6) for a in orders]
    assert j == int(np.argmin(full)) and math.isclose(eps, min(full))


@pytest.mark.parametrize(
    ("stage", "q", "count"),
    [
        ("table", 1.0, 1),
        ("schema", 1.0, 1),
        ("semantic_query", 1.0, 1),
        ("mean_pairs", 1.0, 3),
        ("mean_pairs", 0.2, 3),
        ("dpsgd", 0.01, 500),
    ],
)
def test_the_planners_fast_curves_equal_the_accountants(stage, q, count):
    orders = (2, 5, 17, 64, 300)
    fast = acc.stage_rdp(stage, noise_multiplier=1.3, sampling_rate=q, count=count, orders=orders)
    slow = acc.rdp_curve(acc.stage_event(stage, noise_multiplier=1.3, sampling_rate=q, count=count), orders)
    assert np.allclose(fast, slow, rtol=1e-12, atol=0), f"{stage}: {fast} vs {slow}"


@pytest.mark.parametrize(("z", "delta"), [(0.8, 1e-5), (3.0, 1e-8), (20.0, 1e-10)])
def test_composing_a_ledger_equals_the_accountant_over_the_whole_report_grid(z, delta):
    import dp_accounting

    ledger = Ledger()
    ledger.record(
        stage="dpsgd", mechanism="subsampled_gaussian", label="steps", sampling_rate=0.02, noise_multiplier=z, steps=400
    )
    ledger.record(stage="table", mechanism="zcdp", label="marginals", rho=0.01)
    grid = acc.ACCOUNTING.report_orders
    accountant = dp_accounting.rdp.RdpAccountant(orders=list(grid))
    accountant.compose(dp_accounting.ComposedDpEvent([acc.entry_event(e) for e in ledger.entries]))
    assert math.isclose(compose_entries(ledger.entries, delta=delta), accountant.get_epsilon(delta), rel_tol=1e-12)


def test_a_planned_stage_that_recorded_nothing_stops_the_release(full_plan):
    ledger = Ledger()
    record_plan(full_plan, ledger)
    kept = [e for e in ledger.entries if e.stage != "table"]
    with pytest.raises(PrivacyAccountingError, match="stage 'table' was planned but recorded no spending"):
        acc.verify_ledger_matches_plan(Ledger(entries=kept), full_plan)


def test_dpsgd_that_stopped_early_stops_the_release(full_plan):
    p = full_plan.stages["dpsgd"].params
    ledger = Ledger(entries=[e for e in _recorded(full_plan) if e.stage != "dpsgd"])
    ledger.record(
        stage="dpsgd",
        mechanism="subsampled_gaussian",
        label="half the steps",
        sampling_rate=p["sampling_rate"],
        noise_multiplier=p["noise_multiplier"],
        steps=p["steps"] // 2,
    )
    with pytest.raises(PrivacyAccountingError, match="stage 'dpsgd' spent less than planned"):
        acc.verify_ledger_matches_plan(ledger, full_plan)


def _recorded(plan):
    ledger = Ledger()
    record_plan(plan, ledger)
    return ledger.entries
