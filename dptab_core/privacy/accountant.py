"""The accountant: every stage's release as a dp-accounting event, composed in Rényi DP, converted once.

All stages live in one vocabulary, Google's ``dp_accounting`` events, and are composed by its
``RdpAccountant`` over one grid of orders; (ε, δ) comes out once, at the end:

* ``schema`` and ``table``: ρ-zCDP (``ZCDpEvent``; ε(α) = αρ), including exponential-mechanism
  selections counted as ρ = ε₀²/8.
* ``semantic_query``: one full Gaussian release (``GaussianDpEvent``; ε(α) = α / 2z²).
* ``mean_pairs`` and ``dpsgd``: Poisson-subsampled Gaussians repeated T times
  (``SelfComposedDpEvent(PoissonSampledDpEvent(q, GaussianDpEvent(z)), T)``); their RDP is
  dp-accounting's, not re-derived here.

Partition selection (the schema stage's thresholded category counts) adds a δ that RDP does not
carry: a category seen in one row only passes its threshold with a small probability. Over the
whole pipeline the guarantee is (ε_RDP(δ − δ_ps) + ln(1/(1 − δ_ps)), δ): the first term is the RDP
conversion at the remaining δ, the second bounds the "remove one person" direction (see
:mod:`dptab_core.privacy.domain`).

Every stage has one noise knob, its noise multiplier z (a zCDP stage's ρ is written 1 / 2z²), so
the planner can scale all stages together by dividing every z by one factor.

>>> orders = orders_around(epsilon=1.0, delta=1e-5)
>>> min(orders) >= 2 and all(isinstance(a, int) for a in orders)
True
>>> g = stage_event("semantic_query", noise_multiplier=5.0)
>>> curve = rdp_curve(g, orders)
>>> bool(np.allclose(curve, np.array(orders) / (2 * 5.0**2)))
True
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import dp_accounting
import numpy as np
from dp_accounting import DpEvent
from dp_accounting.rdp import rdp_privacy_accountant as _rdp

from dptab_core.errors import PrivacyAccountingError
from dptab_core.privacy.ledger import Ledger, LedgerEntry
from dptab_core.privacy.settings import ACCOUNTING, STAGES, AccountingSettings

Orders = tuple[float, ...]


def gaussian_optimal_order(*, epsilon: float, delta: float) -> float:
    """The RDP order at which a Gaussian (ρ-zCDP) mechanism with exactly (ε, δ) converts best.

    From ε = ρ + 2√(ρ ln(1/δ)): √ρ = √(L + ε) − √L with L = ln(1/δ), and the optimal order of
    ρα + L/(α − 1) is 1 + √(L/ρ).

    >>> round(gaussian_optimal_order(epsilon=1.0, delta=1e-5), 1)
    24.5
    """
    log_inv = math.log(1.0 / delta)
    sqrt_rho = math.sqrt(log_inv + epsilon) - math.sqrt(log_inv)
    return 1.0 + math.sqrt(log_inv) / sqrt_rho


def orders_around(*, epsilon: float, delta: float, settings: AccountingSettings = ACCOUNTING) -> tuple[int, ...]:
    """RDP orders for a plan aiming at (ε, δ): every integer from 2 to ``dense_up_to``, then a
    geometric grid up to ``orders_span`` × the Gaussian-optimal order.

    Dense integers matter at low orders: a subsampled Gaussian with little noise has an RDP curve
    that explodes past some order, and the optimum sits right before that cliff (missing one order
    there cost 7 % of ε in our tests). Higher up the curves are smooth and a geometric grid loses
    < 0.4 %. Any set of orders gives a valid bound, so this only ever overestimates ε.

    >>> orders_around(epsilon=1.0, delta=1e-5)[-3:]
    (76, 91, 108)
    """
    center = gaussian_optimal_order(epsilon=epsilon, delta=delta)
    top = min(settings.max_order, center * settings.orders_span)
    grid = set(range(settings.min_order, settings.dense_up_to + 1))
    k = 1
    while settings.dense_up_to * 2.0 ** (k / settings.orders_per_doubling) <= top * 2.0 ** (
        1 / settings.orders_per_doubling
    ):
        grid.add(round(settings.dense_up_to * 2.0 ** (k / settings.orders_per_doubling)))
        k += 1
    return tuple(sorted(grid))


def nearest_order_index(orders: Orders, *, epsilon: float, delta: float) -> int:
    """Index of the order closest to the Gaussian-optimal one: where searches start."""
    center = gaussian_optimal_order(epsilon=epsilon, delta=delta)
    return min(range(len(orders)), key=lambda i: abs(orders[i] - center))


def stage_event(stage: str, *, noise_multiplier: float, sampling_rate: float = 1.0, count: int = 1) -> DpEvent:
    """The dp-accounting event of one stage with noise multiplier z (zCDP stages: ρ = 1 / 2z²)."""
    if stage in ("schema", "table"):
        return dp_accounting.ZCDpEvent(count / (2.0 * noise_multiplier**2))
    if stage == "semantic_query":
        return dp_accounting.SelfComposedDpEvent(dp_accounting.GaussianDpEvent(noise_multiplier), count)
    if stage in ("mean_pairs", "dpsgd"):
        inner = dp_accounting.GaussianDpEvent(noise_multiplier)
        return dp_accounting.SelfComposedDpEvent(dp_accounting.PoissonSampledDpEvent(sampling_rate, inner), count)
    raise ValueError(f"unknown stage {stage!r}; stages are {', '.join(STAGES)}")


def stage_rdp(
    stage: str, *, noise_multiplier: float, orders: Sequence[float], sampling_rate: float = 1.0, count: int = 1
) -> np.ndarray:
    """The same curve as ``rdp_curve(stage_event(...), orders)``, without building an accountant.

    The planner's searches evaluate a few orders hundreds of times; the accountant's per-call
    bookkeeping would cost as much as the maths. zCDP and full Gaussian stages are the closed form
    ε(α) = count·α / 2z²; subsampled stages call the function dp-accounting's RdpAccountant itself
    uses for ``PoissonSampledDpEvent`` (tests check both against the accountant).
    """
    alphas = np.asarray(orders, dtype=float)
    if stage in ("schema", "table", "semantic_query") or sampling_rate >= 1.0:
        return count * alphas / (2.0 * noise_multiplier**2)
    return count * np.asarray(_rdp._compute_rdp_poisson_subsampled_gaussian(sampling_rate, noise_multiplier, alphas))


def linear_rdp_for_epsilon(*, epsilon: float, delta: float, orders: Sequence[float]) -> float:
    """The largest c such that the RDP curve c·α converts to at most ε at ``delta`` on ``orders``.

    Inverts dp-accounting's conversion ε = min_α [cα + ln(1 − 1/α) − ln(δα)/(α − 1)] exactly:
    c = max_α (ε − ln(1 − 1/α) + ln(δα)/(α − 1)) / α. Used for zCDP and full Gaussian stages (a
    test checks the round trip through dp-accounting).

    >>> c = linear_rdp_for_epsilon(epsilon=1.0, delta=1e-5, orders=range(2, 65))
    >>> round(epsilon_from_rdp(c * np.arange(2, 65), range(2, 65), delta=1e-5), 12)
    1.0
    """
    alphas = np.asarray(orders, dtype=float)
    offset = np.log1p(-1.0 / alphas) - np.log(delta * alphas) / (alphas - 1.0)
    return float(np.max((epsilon - offset) / alphas))


def rdp_curve(event: DpEvent, orders: Sequence[float]) -> np.ndarray:
    """RDP ε(α) of ``event`` at each order, as composed by dp-accounting's RdpAccountant.

    The accountant keeps its curve in ``_rdp``; reading it lets stages be added as vectors (which is
    all the accountant's composition is) without recomputing the expensive subsampled ones.
    """
    accountant = _rdp.RdpAccountant(orders=list(orders))
    accountant.compose(event)
    return np.array(accountant._rdp, dtype=float)


def epsilon_from_rdp(curve: np.ndarray, orders: Sequence[float], *, delta: float) -> float:
    """ε at ``delta`` of an RDP curve (dp-accounting's conversion, Canonne–Kamath–Steinke)."""
    return epsilon_and_order(curve, orders, delta=delta)[0]


def epsilon_and_order(curve: np.ndarray, orders: Sequence[float], *, delta: float) -> tuple[float, float]:
    """(ε at ``delta``, the order that gives it) of an RDP curve."""
    eps, order = _rdp.compute_epsilon(orders, curve, delta)
    return float(eps), order


def partition_epsilon(partition_delta: float) -> float:
    """The ε added by partition selection's δ in the remove direction: ln(1 / (1 − δ_ps))."""
    return -math.log1p(-partition_delta)


def _required(value: float | None, entry: LedgerEntry) -> float:
    """A field that :class:`LedgerEntry` already requires for the entry's mechanism (never None here)."""
    if value is None:
        raise PrivacyAccountingError(f"{entry.label}: a {entry.mechanism} entry lacks a field its mechanism needs")
    return float(value)


def entry_event(entry: LedgerEntry) -> DpEvent:
    """The dp-accounting event of one ledger entry."""
    if entry.mechanism == "zcdp":
        return dp_accounting.ZCDpEvent(_required(entry.rho, entry))
    if entry.mechanism == "gaussian":
        return dp_accounting.GaussianDpEvent(_required(entry.noise_multiplier, entry))
    inner = dp_accounting.GaussianDpEvent(_required(entry.noise_multiplier, entry))
    return dp_accounting.SelfComposedDpEvent(
        dp_accounting.PoissonSampledDpEvent(_required(entry.sampling_rate, entry), inner), int(entry.steps)
    )


def _grouped_event(entries: Iterable[LedgerEntry]) -> DpEvent:
    """One composed event in which identical releases are counted, not recomputed: MST's equal-noise
    marginals become one event, and DP-SGD steps recorded in several calls (a resumed run) with the
    same (q, z) become one run of their total steps. That keeps composing a ledger fast."""
    steps: Counter[tuple[float, float]] = Counter()
    others: Counter[DpEvent] = Counter()
    for e in entries:
        if e.mechanism == "subsampled_gaussian":
            steps[(_required(e.sampling_rate, e), _required(e.noise_multiplier, e))] += int(e.steps)
        else:
            others[entry_event(e)] += 1
    events = [dp_accounting.SelfComposedDpEvent(ev, n) for ev, n in others.items()]
    events += [
        dp_accounting.SelfComposedDpEvent(dp_accounting.PoissonSampledDpEvent(q, dp_accounting.GaussianDpEvent(z)), n)
        for (q, z), n in steps.items()
    ]
    return dp_accounting.ComposedDpEvent(events)


def partition_delta_of(entries: Iterable[LedgerEntry]) -> float:
    """Total δ spent by partition selection, as recorded in the entries' ``partition_delta``."""
    return float(sum(float(e.details.get("partition_delta", 0.0)) for e in entries))


def compose_entries(entries: list[LedgerEntry], *, delta: float, orders: Sequence[float] | None = None) -> float:
    """ε at ``delta`` of all ``entries`` composed in RDP (plus partition selection's share of δ).

    ``orders`` default to the wide report grid; pass a plan's ``orders`` (or
    :func:`report_orders` of them) when the result is compared with that plan's composed ε.

    >>> ledger = Ledger()
    >>> _ = ledger.record(stage="table", mechanism="zcdp", label="x", rho=0.5)
    >>> eps = compose_entries(ledger.entries, delta=1e-6)
    >>> bool(0.5 + 2 * math.sqrt(0.5 * math.log(1e6)) > eps > 0.5)
    True
    """
    entries = list(entries)
    partition_delta = partition_delta_of(entries)
    if partition_delta >= delta:
        raise PrivacyAccountingError(
            f"partition selection spent δ = {partition_delta:.3g}, not below the total δ = {delta:.3g}"
        )
    if not entries:
        return 0.0
    grid = tuple(orders or ACCOUNTING.report_orders)
    event = _grouped_event(entries)
    # Walk to the best order (from 32, the middle of the dense orders) instead of evaluating all of
    # them: high orders of a subsampled Gaussian cost time in proportion to the order.
    start = min(range(len(grid)), key=lambda i: abs(grid[i] - 32))
    eps, _ = best_order_epsilon(
        lambda _x, some: rdp_curve(event, some), 0.0, orders=grid, delta=delta - partition_delta, start=start
    )
    return eps + partition_epsilon(partition_delta)


def report_orders(plan_orders: Sequence[float]) -> tuple[float, ...]:
    """The plan's orders plus the wide report grid: the report's ε is then never above the plan's."""
    return tuple(sorted(set(plan_orders) | set(ACCOUNTING.report_orders)))


def verify_ledger_matches_plan(ledger: Ledger, plan: Any) -> None:
    """Raise :class:`PrivacyAccountingError` unless every stage spent exactly what ``plan`` planned.

    Stages are compared as RDP curves on the plan's orders (so a stage may spend in many entries,
    e.g. MST's marginals, and still be compared exactly), partition selection's δ against the
    reserved δ, and the composed ε against the target. Spending more is a privacy failure; spending
    less (an enabled stage that recorded nothing, DP-SGD that stopped early) means the run is not the
    one the user approved, and usually hides a bookkeeping bug — both stop the release. Equality
    allows a relative 1e-9 above and 1e-6 below for float error.
    """
    tol = 1e-9
    by_stage = ledger.by_stage()
    for stage, entries in by_stage.items():
        planned = plan.stages.get(stage)
        if planned is None or not planned.enabled:
            raise PrivacyAccountingError(
                f"stage {stage!r} spent budget ({len(entries)} ledger entries) but the plan gives it none"
            )
        spent = rdp_curve(_grouped_event(entries), plan.orders)
        allowed = rdp_curve(planned_event(stage, planned.params), plan.orders)
        excess = spent - allowed * (1 + tol) - 1e-15
        if np.any(excess > 0):
            worst = int(np.argmax(excess))
            raise PrivacyAccountingError(
                f"stage {stage!r} spent more than planned: RDP at order {plan.orders[worst]} is "
                f"{spent[worst]:.6g}, the plan allows {allowed[worst]:.6g}"
            )
    spent_partition = partition_delta_of(ledger.entries)
    if spent_partition > plan.partition_delta * (1 + tol):
        raise PrivacyAccountingError(
            f"stage 'schema' spent partition-selection δ = {spent_partition:.3g}, "
            f"the plan reserved {plan.partition_delta:.3g}"
        )
    composed = compose_entries(ledger.entries, delta=plan.delta, orders=plan.orders)
    if composed > plan.epsilon * (1 + tol):
        raise PrivacyAccountingError(f"the ledger composes to ε = {composed:.6g}, above the target {plan.epsilon:.6g}")
    for stage, planned in plan.stages.items():
        if not planned.enabled:
            continue
        if stage not in by_stage:
            raise PrivacyAccountingError(
                f"stage {stage!r} was planned but recorded no spending: it did not "
                "run to the end; nothing was released. Run the job again."
            )
        spent = rdp_curve(_grouped_event(by_stage[stage]), plan.orders)
        allowed = rdp_curve(planned_event(stage, planned.params), plan.orders)
        if np.any(spent < allowed * (1 - 1e-6)):
            raise PrivacyAccountingError(
                f"stage {stage!r} spent less than planned (it stopped early or skipped "
                "work), so the run differs from the plan; nothing was released. "
                "Run the job again."
            )


def planned_event(stage: str, params: dict[str, Any]) -> DpEvent:
    """The event a stage's planned parameters allow (the inverse of how the planner sets them)."""
    if stage in ("schema", "table"):
        return dp_accounting.ZCDpEvent(float(params["rho"]))
    if stage == "semantic_query":
        return stage_event(stage, noise_multiplier=float(params["sigma"]) / float(params["sensitivity"]))
    count = int(params["rounds"] if stage == "mean_pairs" else params["steps"])
    return stage_event(
        stage,
        noise_multiplier=float(params["noise_multiplier"]),
        sampling_rate=float(params["sampling_rate"]),
        count=count,
    )


def best_order_epsilon(
    curve_at: Callable[[float, Orders], np.ndarray], x: float, *, orders: Orders, delta: float, start: int | None = None
) -> tuple[float, int]:
    """(ε at ``delta``, index of the best order) of ``curve_at(x, ·)`` over ``orders``, found by walking
    from ``start`` (default: the middle) to the neighbouring order with the lower ε.

    Subsampled-Gaussian RDP costs time in proportion to the order, so evaluating a handful of orders
    instead of the whole grid is what keeps planning interactive. ε(α) is unimodal along the grid for
    the curves we compose; should it not be, the walk stops at a local optimum, whose ε is still a
    valid (slightly larger) bound.
    """
    cache: dict[int, float] = {}

    def eps_at(i: int) -> float:
        if i not in cache:
            cache[i] = epsilon_from_rdp(curve_at(x, (orders[i],)), (orders[i],), delta=delta)
        return cache[i]

    j = len(orders) // 2 if start is None else start
    while True:
        here = eps_at(j)
        left = eps_at(j - 1) if j > 0 else math.inf
        right = eps_at(j + 1) if j + 1 < len(orders) else math.inf
        if left < here and left <= right:
            j -= 1
        elif right < here:
            j += 1
        else:
            return here, j


def calibrate(
    curve_at: Callable[[float, Orders], np.ndarray],
    target: float,
    *,
    orders: Orders,
    delta: float,
    guess: float,
    rtol: float,
    start: int | None = None,
) -> tuple[float, float, int]:
    """The noise knob x at which the RDP curve ``curve_at(x, orders)`` converts to ε = ``target``
    (at most, within ``rtol``); returns (x, ε, index of the best order at x).

    Each evaluation walks from the previous best order to the best one at the new x
    (:func:`best_order_epsilon`), so it costs a few orders, not the whole grid, and still equals
    ε over the whole grid. ``start``: the order index to start walking from (default: the one
    optimal for a Gaussian at ``target``).
    """
    best_at: dict[float, int] = {}
    state = {"j": nearest_order_index(orders, epsilon=target, delta=delta) if start is None else start}

    def eps_of(x: float) -> float:
        eps, state["j"] = best_order_epsilon(curve_at, x, orders=orders, delta=delta, start=state["j"])
        best_at[x] = state["j"]
        return eps

    x, eps = solve_decreasing(eps_of, target, guess=guess, rtol=rtol)
    return x, eps, best_at.get(x, state["j"])


def solve_decreasing(
    f: Callable[[float], float],
    target: float,
    *,
    guess: float,
    rtol: float,
    lo_limit: float = 1e-6,
    hi_limit: float = 1e7,
    max_evals: int = 80,
) -> tuple[float, float]:
    """The x > 0 where the decreasing function f crosses ``target``: returns (x, f(x)) with
    (1 − rtol)·target ≤ f(x) ≤ target, or x = ``lo_limit`` when f stays below target even there.

    Secant steps on log f against log x (ε falls roughly like 1/z to 1/z², so this is nearly
    linear and converges in a handful of evaluations, which matters: each evaluation of a
    subsampled Gaussian costs milliseconds), safeguarded by bisection inside the bracket found.

    >>> x, fx = solve_decreasing(lambda x: 3.0 / x**2, 0.5, guess=1.0, rtol=1e-9)
    >>> round(x, 6), fx <= 0.5
    (2.44949, True)
    """
    log_target = math.log(target)

    def h(u: float) -> float:
        value = f(math.exp(u))
        if value <= 0:
            return -math.inf
        return math.inf if not math.isfinite(value) else math.log(value) - log_target

    lo, hi = math.log(lo_limit), math.log(hi_limit)  # h(lo side) > 0 ≥ h(hi side) once found
    have_lo = have_hi = False
    best: tuple[float, float] | None = None
    u_prev: float | None = None
    h_prev: float | None = None
    u = min(max(math.log(guess), lo), hi)
    for _ in range(max_evals):
        hu = h(u)
        if hu <= 0:
            hi, have_hi = u, True
            if best is None or u < best[0]:
                best = (u, hu)
            if hu >= math.log1p(-rtol):
                break
        else:
            lo, have_lo = u, True
        if have_lo and have_hi and hi - lo < 1e-13:
            break
        if not have_hi and u >= math.log(hi_limit):
            raise ValueError(f"no x up to {hi_limit:g} brings f below {target:g}")
        if not have_lo and u <= math.log(lo_limit):
            return lo_limit, f(lo_limit)
        step = None
        if u_prev is not None and h_prev is not None and math.isfinite(hu) and math.isfinite(h_prev) and hu != h_prev:
            step = u - hu * (u - u_prev) / (hu - h_prev)
        elif math.isfinite(hu):
            step = u + hu  # first step: assume f ∝ 1/x
        u_prev, h_prev = u, hu
        if step is None or (have_lo and step <= lo) or (have_hi and step >= hi):
            step = (lo + hi) / 2 if have_lo and have_hi else (u + 2.0 if hu > 0 else u - 2.0)
        u = min(max(step, math.log(lo_limit)), math.log(hi_limit))
    if best is None:
        raise ValueError(f"f did not reach {target:g} within {max_evals} evaluations")
    return math.exp(best[0]), math.exp(best[1] + log_target)
