"""Every tunable number of the privacy core, each in one frozen dataclass with its reason.

The budget page, the CLI, the accountant and the tests all read these, so a limit shown on a slider
is the limit the planner enforces.

Default shares (fractions of the total ε, before composition):

* ``schema`` 5 %: only spent when some column's domain is not declared public; a handful of noisy
  category counts or bound selections needs little.
* ``semantic_query`` 5 %: one Gaussian release of a vote histogram over public labels.
* ``mean_pairs`` 15 %: the per-(column, value) mean images carry most of what the images say about
  their row (FINDINGS: read-back 0.27–1.08 at ε = 10 from one release). Composed in Rényi DP, a full
  Gaussian release is cheap for the other stages: at total ε = 1 a mean-pair release costing ε = 0.2
  on its own raised DP-SGD's noise multiplier only from 4.41 to 4.47. A split by standalone ε
  under-spends on it, so it gets the upper end of DESIGN's 10–20 %.
* ``table`` 30 %: MST/AIM measure a few dozen marginals; their utility is the product's headline.
* ``dpsgd`` 45 %: DP-SGD runs hundreds of subsampled steps and needs the largest share to keep its
  noise multiplier near 1–3 at ε ≈ 1–10.

>>> round(sum(DEFAULT_SHARES.values()), 12)
1.0
>>> DPSGDSettings(epochs=5, batch_size=128).max_grad_norm
1.0
"""

from __future__ import annotations

from dataclasses import dataclass

STAGES: tuple[str, ...] = ("schema", "semantic_query", "mean_pairs", "table", "dpsgd")
"""The pipeline's privacy stages, in the order they run."""

DEFAULT_SHARES: dict[str, float] = {
    "schema": 0.05,
    "semantic_query": 0.05,
    "mean_pairs": 0.15,
    "table": 0.30,
    "dpsgd": 0.45,
}


@dataclass(frozen=True)
class DPSGDSettings:
    """DP-SGD of the image model (Opacus, Poisson sampling).

    The sampling rate follows Opacus' ``DPDataLoader``: ``q = 1 / ceil(n / batch_size)`` and one
    epoch is ``ceil(n / batch_size)`` steps, so the plan's (q, steps) are exactly what Opacus runs.
    ``max_grad_norm`` is the per-sample clipping norm C (1.0 is Opacus' customary default).
    """

    epochs: int = 10
    batch_size: int = 256
    max_grad_norm: float = 1.0
    enabled: bool = True


@dataclass(frozen=True)
class MeanPairSettings:
    """DP mean pairs: Poisson-subsampled Gaussian sums of clipped images, repeated ``rounds`` times.

    Default: one release on the whole data (``sampling_rate = 1``), the form FINDINGS measured;
    ``clip_norm`` bounds each image's L2 norm; the image stage owns its value (and the release's
    sensitivity built from it): the plan fixes only the noise multiplier, which is scale-free.
    """

    rounds: int = 1
    sampling_rate: float = 1.0
    clip_norm: float = 1.0
    enabled: bool = True


@dataclass(frozen=True)
class SemanticQuerySettings:
    """One Gaussian release of a vote histogram: each individual votes for ``top_k`` of
    ``n_public_labels`` public labels, so the histogram's L2 sensitivity is √top_k."""

    enabled: bool = True
    top_k: int = 1
    n_public_labels: int = 10


@dataclass(frozen=True)
class AccountingSettings:
    """How the accountant searches; numbers measured on 2 cores (see benchmarks/bench_plan.py).

    RDP orders (see ``accountant.orders_around``): every integer up to ``dense_up_to`` (a
    subsampled Gaussian with little noise has its optimum right before a cliff in its RDP curve, so
    low orders must be dense), then ``orders_per_doubling`` geometric orders per doubling up to
    ``orders_span`` × the order optimal for a Gaussian at the target (ε, δ): 4 per doubling lose
    < 0.4 % of ε against every integer order. The searches walk to the best order and evaluate only
    a handful, so a long grid costs little. Any set of orders gives a valid (upper) bound.
    ``report_orders`` (composing a ledger) continue the same grid to 4096, so they contain every
    plan's orders for ε ≥ 0.05: a ledger that spends its plan never composes above it.
    ``calibration_target``: the composed ε aims at this fraction of the target, leaving room for
    float error while wasting < 0.1 % of the budget. ``solver_rtol``: relative precision of each
    stage's calibration, fine enough that more ε never shows as more noise.
    """

    orders_span: float = 4.0
    orders_per_doubling: int = 4
    min_order: int = 2
    dense_up_to: int = 64
    max_order: int = 20000
    report_orders: tuple[int, ...] = (*range(2, 65), *(round(64 * 2.0 ** (k / 4)) for k in range(1, 25)))
    calibration_target: float = 0.999
    solver_rtol: float = 1e-9


@dataclass(frozen=True)
class PlanLimits:
    """Where a plan stops being useful; beyond these the planner raises a PlanError with a fix.

    ``max_noise_multiplier`` 50: a DP-SGD or mean-pair step whose noise is 50× the clipped
    contribution of one individual drowns any batch this app can afford on a CPU.
    ``min_epsilon`` 0.05: below it even the whole budget on one count gives noise of std ~ 50 to 100;
    and the report's order grid (up to 1536) stays near-optimal down to here.
    """

    max_noise_multiplier: float = 50.0
    min_epsilon: float = 0.05
    max_epsilon: float = 100.0


@dataclass(frozen=True)
class SchemaStageSettings:
    """The schema stage: DP category lists and DP numeric bounds.

    ``partition_delta_fraction``: part of δ reserved for partition selection (a category seen in
    one row only can pass the threshold with this probability); 10 % of δ costs the other stages
    almost nothing (δ enters ε only through log(1/δ)). ``lower_quantile`` / ``upper_quantile``:
    the DP bounds target these quantiles, clipping about 1 % of values at each end rather than
    chasing the extremes, which the exponential mechanism cannot find cheaply.
    ``bound_candidates``: a public log-scale grid (0, ±{1, 2, 5}·10^k for k = -3…9).
    """

    partition_delta_fraction: float = 0.1
    lower_quantile: float = 0.01
    upper_quantile: float = 0.99
    bound_candidates: tuple[float, ...] = tuple(
        sorted({0.0} | {s * m * 10.0**k for s in (-1.0, 1.0) for m in (1.0, 2.0, 5.0) for k in range(-3, 10)})
    )


DEFAULT_DPSGD = DPSGDSettings()
DEFAULT_MEAN_PAIRS = MeanPairSettings()
DEFAULT_SEMANTIC_QUERY = SemanticQuerySettings()
ACCOUNTING = AccountingSettings()
LIMITS = PlanLimits()
SCHEMA_STAGE = SchemaStageSettings()
