"""The budget plan: a total (ε, δ) and one share per stage turned into each stage's noise.

Recipe (DESIGN §3): calibrate each enabled stage alone to its share of a common level τ (stage i
alone costs ε_i = share_i · τ), then raise τ by a root search until the stages *composed* in RDP
reach the target (between ``calibration_target`` × ε and ε, never above). Composition is cheaper
than the sum of standalone ε's, so τ ends above ε: the slack goes back to every stage in
proportion, the shares keep their meaning exactly, and since every stage's noise falls as τ rises,
more ε never means more noise in any stage.

>>> plan = plan_budget(epsilon=1.0, delta=1e-5, n_rows=2000)
>>> 0.99 <= plan.composed_epsilon <= 1.0
True
>>> sorted(plan.stages["dpsgd"].params)[:4]
['batch_size', 'epochs', 'max_grad_norm', 'noise_multiplier']
>>> plan.stages["schema"].enabled   # every domain public: nothing to pay for
False
>>> BudgetPlan.from_dict(plan.to_dict()) == plan
True
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from dptab_core.errors import PlanError
from dptab_core.privacy import accountant as acc
from dptab_core.privacy.domain import schema_column_budget
from dptab_core.privacy.explain import describe_epsilon, stage_plain_words
from dptab_core.privacy.settings import (
    ACCOUNTING,
    DEFAULT_DPSGD,
    DEFAULT_MEAN_PAIRS,
    DEFAULT_SEMANTIC_QUERY,
    DEFAULT_SHARES,
    LIMITS,
    SCHEMA_STAGE,
    STAGES,
    DPSGDSettings,
    MeanPairSettings,
    SemanticQuerySettings,
)


@dataclass(frozen=True)
class StagePlan:
    """One stage of a plan: its share of ε, its standalone ε at the plan's RDP δ, its noise
    parameters (the names each stage's code reads) and what they mean in plain words."""

    name: str
    enabled: bool
    share: float
    standalone_epsilon: float
    params: dict[str, Any] = field(default_factory=dict)
    plain_words: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class BudgetPlan:
    """A complete plan. ``rdp_delta`` + ``partition_delta`` = ``delta``; ``orders`` are the RDP
    orders the plan was composed on (verification and the report use them too)."""

    epsilon: float
    delta: float
    n_rows: int
    stages: dict[str, StagePlan]
    composed_epsilon: float
    rdp_delta: float
    partition_delta: float
    orders: tuple[int, ...]
    warnings: list[str] = field(default_factory=list)
    inputs: dict[str, Any] = field(default_factory=dict)

    def enabled_stages(self) -> list[str]:
        """Names of the stages that spend budget, in pipeline order."""
        return [name for name in STAGES if self.stages[name].enabled]

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (what ``python -m dptab_core plan --json`` prints)."""
        out = asdict(self)
        out["orders"] = list(self.orders)
        out["epsilon_in_words"] = describe_epsilon(self.epsilon)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BudgetPlan:
        """Inverse of :meth:`to_dict`."""
        fields = {k: v for k, v in data.items() if k != "epsilon_in_words"}
        fields["stages"] = {name: StagePlan(**stage) for name, stage in data["stages"].items()}
        fields["orders"] = tuple(int(a) for a in data["orders"])
        return cls(**fields)


def plan_budget(
    *,
    epsilon: float,
    delta: float,
    n_rows: int,
    shares: dict[str, float] | None = None,
    dpsgd: DPSGDSettings = DEFAULT_DPSGD,
    mean_pairs: MeanPairSettings = DEFAULT_MEAN_PAIRS,
    semantic_query: SemanticQuerySettings = DEFAULT_SEMANTIC_QUERY,
    n_paid_columns: int = 0,
    n_paid_categorical: int | None = None,
    table_enabled: bool = True,
    n_columns: int | None = None,
    n_table_cells: int | None = None,
) -> BudgetPlan:
    """Plan the whole pipeline's budget; raises :class:`PlanError` with a fix when it cannot work.

    ``n_paid_columns``: synthesized columns whose domain is not public (the schema stage runs iff
    > 0); ``n_paid_categorical`` of them categorical (default: all, which reserves partition δ).
    ``n_columns`` / ``n_table_cells`` (columns synthesized, cells of a typical 2-way marginal) only
    sharpen the plain words.
    """
    _check_inputs(epsilon=epsilon, delta=delta, n_rows=n_rows, dpsgd=dpsgd, mean_pairs=mean_pairs)
    enabled = {
        "schema": n_paid_columns > 0,
        "semantic_query": semantic_query.enabled,
        "mean_pairs": mean_pairs.enabled and mean_pairs.rounds > 0,
        "table": table_enabled,
        "dpsgd": dpsgd.enabled and dpsgd.epochs > 0,
    }
    final_shares = resolve_shares(shares, enabled)
    n_categorical = n_paid_columns if n_paid_categorical is None else n_paid_categorical
    partition_delta = SCHEMA_STAGE.partition_delta_fraction * delta if enabled["schema"] and n_categorical > 0 else 0.0
    rdp_delta = delta - partition_delta
    rdp_target = epsilon - acc.partition_epsilon(partition_delta)
    orders = acc.orders_around(epsilon=rdp_target, delta=rdp_delta)
    knobs = _stage_knobs(n_rows=n_rows, dpsgd=dpsgd, mean_pairs=mean_pairs)
    active = [s for s in STAGES if enabled[s]]

    memo: dict[tuple[str, float, float], float] = {}  # subsampled RDP is the expensive part: never twice

    def stage_curve(stage: str, z: float, stage_orders: acc.Orders) -> np.ndarray:
        q, count = knobs[stage]
        if q >= 1.0:
            return acc.stage_rdp(stage, noise_multiplier=z, sampling_rate=q, count=count, orders=stage_orders)
        missing = [a for a in stage_orders if (stage, z, a) not in memo]
        if missing:
            values = acc.stage_rdp(stage, noise_multiplier=z, sampling_rate=q, count=count, orders=missing)
            memo.update({(stage, z, a): v for a, v in zip(missing, values, strict=True)})
        return np.array([memo[(stage, z, a)] for a in stage_orders])

    # Each stage is calibrated alone to ε_i = share_i · τ; τ is then searched until the stages
    # composed meet the target. Every z_i falls as τ grows and τ grows with ε, so more ε never
    # means more noise anywhere, and the standalone ε's stay exactly proportional to the shares.
    stage_orders = {s: acc.orders_around(epsilon=final_shares[s] * rdp_target, delta=rdp_delta) for s in active}
    warm: dict[str, tuple[float, int | None]] = {
        s: (_guess_z(final_shares[s] * rdp_target, rdp_delta, *knobs[s]), None) for s in active
    }
    calibrated: dict[float, dict[str, tuple[float, float]]] = {}

    def noise_at(tau: float) -> dict[str, tuple[float, float]]:
        """(noise multiplier, standalone ε) of every stage calibrated alone to share · τ."""
        if tau not in calibrated:
            out = {}
            for s in active:
                target, (q, count) = final_shares[s] * tau, knobs[s]
                if q >= 1.0:  # linear RDP (count · α / 2z²): exact inverse
                    c = acc.linear_rdp_for_epsilon(epsilon=target, delta=rdp_delta, orders=stage_orders[s])
                    out[s] = (math.sqrt(count / (2.0 * c)), target)
                else:
                    z, eps, j = acc.calibrate(
                        functools.partial(stage_curve, s),
                        target,
                        orders=stage_orders[s],
                        delta=rdp_delta,
                        guess=warm[s][0],
                        rtol=ACCOUNTING.solver_rtol,
                        start=warm[s][1],
                    )
                    warm[s] = (z, j)
                    out[s] = (z, eps)
            calibrated[tau] = out
        return calibrated[tau]

    def composed_curve(inv_tau: float, some_orders: acc.Orders) -> np.ndarray:
        noise = noise_at(1.0 / inv_tau)
        return sum((stage_curve(s, noise[s][0], some_orders) for s in active), np.zeros(len(some_orders)))

    inv_tau, composed_rdp, _ = acc.calibrate(
        composed_curve,
        ACCOUNTING.calibration_target * rdp_target,
        orders=orders,
        delta=rdp_delta,
        guess=1.0 / rdp_target,
        rtol=ACCOUNTING.solver_rtol,
    )
    final = noise_at(1.0 / inv_tau)
    noise = {s: final[s][0] for s in active}
    _check_useful(noise, epsilon=epsilon, final_shares=final_shares)

    stages = {}
    for stage in STAGES:
        if stage not in noise:
            stages[stage] = StagePlan(name=stage, enabled=False, share=0.0, standalone_epsilon=0.0)
            continue
        params = _stage_params(
            stage,
            noise[stage],
            knobs[stage],
            dpsgd=dpsgd,
            mean_pairs=mean_pairs,
            semantic_query=semantic_query,
            n_paid_columns=n_paid_columns,
            n_categorical=n_categorical,
            partition_delta=partition_delta,
        )
        alone = final[stage][1]
        if stage == "schema":
            alone += acc.partition_epsilon(partition_delta)
        words = stage_plain_words(
            stage, params, n_rows=n_rows, standalone_epsilon=alone, n_columns=n_columns, n_table_cells=n_table_cells
        )
        stages[stage] = StagePlan(
            name=stage,
            enabled=True,
            share=final_shares[stage],
            standalone_epsilon=alone,
            params=params,
            plain_words=words,
        )
    inputs = {
        "shares": dict(shares or {}),
        "dpsgd": asdict(dpsgd),
        "mean_pairs": asdict(mean_pairs),
        "semantic_query": asdict(semantic_query),
        "n_paid_columns": n_paid_columns,
        "n_paid_categorical": n_categorical,
        "table_enabled": table_enabled,
    }
    return BudgetPlan(
        epsilon=epsilon,
        delta=delta,
        n_rows=n_rows,
        stages=stages,
        composed_epsilon=composed_rdp + acc.partition_epsilon(partition_delta),
        rdp_delta=rdp_delta,
        partition_delta=partition_delta,
        orders=orders,
        warnings=_warnings(stages, n_rows),
        inputs=inputs,
    )


def resolve_shares(shares: dict[str, float] | None, enabled: dict[str, bool]) -> dict[str, float]:
    """Defaults overridden by ``shares``; disabled stages get 0; the rest are rescaled to sum to 1.

    >>> resolve_shares({"table": 0.5, "dpsgd": 0.5}, {s: s in ("table", "dpsgd", "schema") for s in STAGES})
    {'schema': 0.047619047619047616, 'semantic_query': 0.0, 'mean_pairs': 0.0, 'table': 0.47619047619047616, 'dpsgd': 0.47619047619047616}
    """
    given = dict(shares or {})
    unknown = sorted(set(given) - set(STAGES))
    if unknown:
        raise PlanError(
            f"unknown stage {unknown[0]!r} in the shares", where="shares", hint=f"Stages are {', '.join(STAGES)}."
        )
    for stage, value in given.items():
        if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
            raise PlanError(f"the share of {stage!r} is {value!r}", where="shares", hint="Shares are numbers ≥ 0.")
        if value == 0 and enabled[stage]:
            raise PlanError(
                f"stage {stage!r} is enabled but its share is 0",
                where="shares",
                hint=f"Give {stage!r} a share above 0, or turn the stage off.",
            )
    raw = {s: (given.get(s, DEFAULT_SHARES[s]) if enabled[s] else 0.0) for s in STAGES}
    total = sum(raw.values())
    if total <= 0:
        raise PlanError("no stage is enabled", where="plan", hint="Enable at least the table stage.")
    return {s: v / total for s, v in raw.items()}


def _check_inputs(
    *, epsilon: float, delta: float, n_rows: int, dpsgd: DPSGDSettings, mean_pairs: MeanPairSettings
) -> None:
    if not (math.isfinite(epsilon) and LIMITS.min_epsilon <= epsilon <= LIMITS.max_epsilon):
        raise PlanError(
            f"ε = {epsilon} is outside [{LIMITS.min_epsilon}, {LIMITS.max_epsilon}]",
            where="epsilon",
            hint="Choose ε between 0.1 (strong privacy) and 10 (weak).",
        )
    if not isinstance(n_rows, int | np.integer) or n_rows < 2:
        raise PlanError(f"the table has {n_rows} rows", where="rows", hint="DP needs at least a few hundred rows.")
    if not (0 < delta < 1):
        raise PlanError(f"δ = {delta} is not in (0, 1)", where="delta", hint=f"Use δ ≤ {_suggest_delta(n_rows):g}.")
    if delta >= 1.0 / n_rows:
        raise PlanError(
            f"δ = {delta:g} is not below 1/n = {1.0 / n_rows:.3g}: a mechanism that publishes one "
            "random row outright would satisfy it",
            where="delta",
            hint=f"Use δ ≤ {_suggest_delta(n_rows):g}.",
        )
    if dpsgd.enabled and dpsgd.epochs > 0:
        if not 1 <= dpsgd.batch_size <= n_rows:
            raise PlanError(
                f"the DP-SGD batch size {dpsgd.batch_size} is not between 1 and n = {n_rows}",
                where="batch_size",
                hint=f"Use a batch size ≤ {n_rows}.",
            )
        if dpsgd.max_grad_norm <= 0:
            raise PlanError("the clipping norm must be above 0", where="max_grad_norm", hint="1.0 is customary.")
    if mean_pairs.enabled and not 0 < mean_pairs.sampling_rate <= 1:
        raise PlanError(
            f"the mean-pair sampling rate {mean_pairs.sampling_rate} is not in (0, 1]",
            where="mean_pairs.sampling_rate",
            hint="1.0 uses every row once per round.",
        )


def _suggest_delta(n_rows: int) -> float:
    """A conventional δ: a power of ten at least 10× below 1/n."""
    return 10.0 ** math.floor(math.log10(1.0 / n_rows) - 1)


def _stage_knobs(*, n_rows: int, dpsgd: DPSGDSettings, mean_pairs: MeanPairSettings) -> dict[str, tuple[float, int]]:
    """(sampling rate, repetitions) per stage; DP-SGD's as Opacus' DPDataLoader runs it."""
    batches = math.ceil(n_rows / dpsgd.batch_size) if dpsgd.batch_size > 0 else 1
    return {
        "schema": (1.0, 1),
        "semantic_query": (1.0, 1),
        "table": (1.0, 1),
        "mean_pairs": (float(mean_pairs.sampling_rate), int(mean_pairs.rounds)),
        "dpsgd": (1.0 / batches, int(dpsgd.epochs) * batches),
    }


def _guess_z(epsilon: float, delta: float, q: float, count: int) -> float:
    """A starting noise multiplier from the Gaussian approximation (ρ per step ≈ q²/2z² when q < 1)."""
    log_inv = math.log(1.0 / delta)
    rho = (math.sqrt(log_inv + epsilon) - math.sqrt(log_inv)) ** 2
    return math.sqrt(count / (2 * rho)) * (q if q < 1 else 1.0)


def _check_useful(noise: dict[str, float], *, epsilon: float, final_shares: dict[str, float]) -> None:
    """DP-SGD beyond the useful noise multiplier cannot learn anything: refuse with a fix. (Mean pairs
    average whole cells, so there a large multiplier is only a warning; see :func:`_warnings`.)"""
    z = noise.get("dpsgd")
    if z is not None and z > LIMITS.max_noise_multiplier:
        raise PlanError(
            f"DP-SGD would need a noise multiplier of {z:.0f} (useful: ≤ {LIMITS.max_noise_multiplier:g}) "
            f"at ε = {epsilon:g} with a {final_shares['dpsgd']:.0%} share",
            where="dpsgd",
            hint="Raise ε, give DP-SGD a larger share, run fewer epochs, or use a larger batch.",
        )


def _stage_params(
    stage: str,
    z: float,
    knob: tuple[float, int],
    *,
    dpsgd: DPSGDSettings,
    mean_pairs: MeanPairSettings,
    semantic_query: SemanticQuerySettings,
    n_paid_columns: int,
    n_categorical: int,
    partition_delta: float,
) -> dict[str, Any]:
    """The parameters each stage's code reads (names fixed by the shared contract)."""
    if stage == "table":
        return {"rho": 1.0 / (2 * z * z)}
    if stage == "schema":
        rho = 1.0 / (2 * z * z)
        return {
            "rho": rho,
            "partition_delta": partition_delta,
            "n_paid_columns": n_paid_columns,
            "n_paid_categorical": n_categorical,
            **schema_column_budget(
                rho=rho, n_paid_columns=n_paid_columns, n_categorical=n_categorical, partition_delta=partition_delta
            ),
        }
    if stage == "semantic_query":
        sensitivity = math.sqrt(semantic_query.top_k)
        return {
            "sigma": z * sensitivity,
            "sensitivity": sensitivity,
            "noise_multiplier": z,
            "top_k": semantic_query.top_k,
            "n_public_labels": semantic_query.n_public_labels,
        }
    if stage == "mean_pairs":
        return {"noise_multiplier": z, "sampling_rate": knob[0], "rounds": knob[1], "clip_norm": mean_pairs.clip_norm}
    return {
        "noise_multiplier": z,
        "sampling_rate": knob[0],
        "steps": knob[1],
        "epochs": dpsgd.epochs,
        "batch_size": dpsgd.batch_size,
        "max_grad_norm": dpsgd.max_grad_norm,
        "sigma": z * dpsgd.max_grad_norm,
    }


def _warnings(stages: dict[str, StagePlan], n_rows: int) -> list[str]:
    """Plans that work but may disappoint, in plain words."""
    out = []
    table = stages["table"]
    if table.enabled and 1.0 / math.sqrt(2 * table.params["rho"]) > n_rows / 20:
        out.append(
            "The table stage's noise on a single count exceeds 5 % of the rows: marginals will be rough. "
            "Raise ε or the table's share."
        )
    pairs = stages["mean_pairs"]
    if pairs.enabled and pairs.params["noise_multiplier"] > LIMITS.max_noise_multiplier:
        out.append(
            f"The mean images get noise {pairs.params['noise_multiplier']:.0f}× one image's clipped norm: only "
            "values held by many hundreds of rows will show. Raise ε or the mean pairs' share."
        )
    schema = stages["schema"]
    if schema.enabled and schema.params.get("category_threshold", 0) > n_rows / 10:
        out.append(
            "Only categories held by more than ~10 % of rows can be released privately: declare the "
            "category lists public where they are (e.g. a fixed code list)."
        )
    if schema.enabled and not _paid_bounds_reliable(schema.params, n_rows):
        out.append(
            f"Numeric bounds and bins paid from this budget will be coarse: a stretch of values shows only when "
            f"about {schema.params['histogram_threshold']:.0f} rows hold it (over 5 % of the rows here), so "
            "tails are cut and bins are wide: declare public bounds for numeric columns, or raise ε or the "
            "schema share."
        )
    return out


def _paid_bounds_reliable(params: dict[str, Any], n_rows: int) -> bool:
    """Whether DP bounds and bins can follow the data: the coarse-to-fine histogram sees a stretch of values
    once about ``histogram_threshold`` rows hold it; beyond 5 % of the rows, tails and bins get coarse."""
    if params.get("n_paid_columns", 0) <= params.get("n_paid_categorical", 0):
        return True  # no numeric column is paid for
    return bool(params["histogram_threshold"] <= 0.05 * n_rows)
