"""The bridge between a job (preset, data size, user choices) and the privacy planner.

The Budget page and the pipeline must plan with the *same* settings, or the plan a user approves
would not be the one the job runs. Both call :func:`plan_kwargs`, which fills what the user did not
choose from the image preset (DP-SGD batch and steps, mean-pair rounds and clip bound) and turns the
JSON-able ``plan_options`` of a job spec into :func:`~dptab_core.privacy.plan_budget` arguments.
Importing this module pulls in neither torch nor jax.

>>> from dptab_core.privacy import plan_budget
>>> kwargs = plan_kwargs({"epsilon": 10, "delta": 1e-6}, preset="quick", n_rows=2000, channels=3,
...                      n_paid_columns=0, n_public_labels=0)
>>> kwargs["dpsgd"].batch_size, kwargs["semantic_query"].enabled
(256, False)
>>> round(plan_budget(**kwargs).composed_epsilon, 2) <= 10
True
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dptab_core.data.schema import Schema
from dptab_core.errors import InputError
from dptab_core.image.presets import ImagePreset, get_preset
from dptab_core.privacy import BudgetPlan, DPSGDSettings, MeanPairSettings, SemanticQuerySettings, plan_budget
from dptab_core.privacy.settings import DEFAULT_SHARES

if TYPE_CHECKING:
    from dptab_core.pipeline.spec import SynthSpec

DEFAULT_EPSILON = 10.0
"""ε the app starts at: strong enough to mean something, loose enough for the demo's images to show
their rows (FINDINGS: at ε = 1 on 2 CPU cores the images carry little of the record)."""


def default_delta(n_rows: int) -> float:
    """δ well below 1/n: the usual rule is δ ≪ 1/n, so no single person is likely to be exposed.

    We take the largest power of ten at or below 1/(10 n), capped at 1e-5.
    """
    return min(1e-5, 10.0 ** math.floor(math.log10(1.0 / (10.0 * max(n_rows, 1)))))


LATENT_SHARES_AT_EPSILON_1: dict[str, float] = {**DEFAULT_SHARES, "mean_pairs": 0.30, "dpsgd": 0.30}
"""The latent family's split at ε ≤ 1 (at ε ≥ 10 it is :data:`DEFAULT_SHARES`, between the two it moves
with log ε). Its mean pairs carry what the images show of their row (the mean map and the spread), and
DP-SGD only fine-tunes ~10⁴ numbers. bench_image_quality.py on the demo, three seeds each: at ε = 1,
30 % / 30 % instead of 15 % / 45 % raised skin-type read-back from 0.06-0.07 to 0.17-0.50 and brought
FD from 16-30 to 10-21 (40 % / 20 % did as well but left DP-SGD too little to plan 300 rows); at ε = 10 it
cost k-NN recall (0.16-0.29 → 0.12-0.20) for no read-back, so there DP-SGD keeps its larger share."""


def default_shares(image: ImagePreset, epsilon: float) -> dict[str, float]:
    """The stage shares a plan starts from for this image model at this ε (what "automatic" means).

    >>> quick = get_preset("quick")
    >>> [round(default_shares(quick, e)["mean_pairs"], 3) for e in (0.5, 1.0, 3.16, 10.0, 20.0)]
    [0.3, 0.3, 0.225, 0.15, 0.15]
    """
    if image.family != "latent":
        return dict(DEFAULT_SHARES)
    towards_default = min(max(math.log10(max(epsilon, 1e-9)), 0.0), 1.0)
    return {
        stage: (1.0 - towards_default) * LATENT_SHARES_AT_EPSILON_1[stage] + towards_default * DEFAULT_SHARES[stage]
        for stage in DEFAULT_SHARES
    }


def count_public_labels(public_dir: Path | str | None) -> int:
    """Label sub-folders of a public image folder (0 when there is none)."""
    if not public_dir or not Path(public_dir).is_dir():
        return 0
    return sum(1 for p in Path(public_dir).iterdir() if p.is_dir())


def resolve_preset(name: str, overrides: dict[str, Any] | None = None, *, has_public: bool = True) -> ImagePreset:
    """The image preset ``name`` (its no-public-images fallback when ``has_public`` is False) with
    ``overrides`` (field → value) applied, each checked.

    Overrides exist so tests and benchmarks can shrink a run (a few steps on a 200-row demo) through
    the same spec the app sends, instead of a hidden test-only preset. Only the preset's numeric
    fields may be overridden, each by a positive number of the same kind (an int stays an int).

    >>> resolve_preset("quick", {"warmup_steps": 5}).warmup_steps
    5
    >>> resolve_preset("quick", {"width": 0})
    Traceback (most recent call last):
    ...
    dptab_core.errors.InputError: preset_overrides: preset override width=0 is not a positive int.
    """
    preset = get_preset(name, has_public=has_public)
    if not overrides:
        return preset
    fields = {f.name: f for f in dataclasses.fields(ImagePreset)}
    for key, value in overrides.items():
        current = getattr(preset, key, None) if key in fields else None
        if not isinstance(current, int | float) or isinstance(current, bool):
            raise InputError(
                f"preset_overrides names {key!r}, which is not a numeric preset setting",
                where="preset_overrides",
                hint="Use numeric fields of dptab_core.image.presets.ImagePreset, e.g. warmup_steps.",
            )
        kind = int if isinstance(current, int) else float
        ok = isinstance(value, int | float) and not isinstance(value, bool) and value > 0
        if not ok or (kind is int and value != int(value)):
            raise InputError(
                f"preset override {key}={value!r} is not a positive {kind.__name__}", where="preset_overrides"
            )
    values: dict[str, Any] = {
        k: (int(v) if isinstance(getattr(preset, k), int) else float(v)) for k, v in overrides.items()
    }
    return dataclasses.replace(preset, **values)


def spec_preset(spec: SynthSpec) -> ImagePreset:
    """The image preset a job runs: its name and overrides, and its fallback when it has no public images."""
    return resolve_preset(spec.preset, spec.preset_overrides, has_public=bool(spec.public_dir))


def plan_kwargs(
    plan_options: dict[str, Any],
    *,
    preset: str,
    n_rows: int,
    channels: int,
    n_paid_columns: int,
    n_public_labels: int,
    n_paid_categorical: int | None = None,
    preset_overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``plan_budget`` keyword arguments: the user's ``plan_options`` over the preset's defaults.

    ``plan_options`` keys: ``epsilon``, ``delta``, ``shares``, ``dpsgd`` {epochs, batch_size,
    max_grad_norm}, ``mean_pairs`` {rounds, sampling_rate}, ``semantic_query`` {enabled, top_k}.
    ``preset_overrides``: see :func:`resolve_preset`.
    """
    image = resolve_preset(preset, preset_overrides, has_public=n_public_labels > 0)
    dpsgd_opts = dict(plan_options.get("dpsgd") or {})
    batch = int(dpsgd_opts.get("batch_size", min(image.dpsgd_batch, max(1, n_rows))))
    steps_per_epoch = math.ceil(n_rows / batch)
    epochs = int(dpsgd_opts.get("epochs", max(1, round(image.dpsgd_steps / steps_per_epoch))))
    mp_opts = dict(plan_options.get("mean_pairs") or {})
    sq_opts = dict(plan_options.get("semantic_query") or {})
    epsilon = float(plan_options.get("epsilon", DEFAULT_EPSILON))
    return {
        "epsilon": epsilon,
        "delta": float(plan_options.get("delta", default_delta(n_rows))),
        "n_rows": n_rows,
        "shares": {**default_shares(image, epsilon), **(plan_options.get("shares") or {})},
        "dpsgd": DPSGDSettings(
            epochs=epochs,
            batch_size=batch,
            max_grad_norm=float(dpsgd_opts.get("max_grad_norm", image.dpsgd_max_grad_norm)),
            enabled=bool(dpsgd_opts.get("enabled", True)),
        ),
        "mean_pairs": MeanPairSettings(
            rounds=int(mp_opts.get("rounds", image.mean_pair_rounds)),
            sampling_rate=float(mp_opts.get("sampling_rate", image.mean_pair_sampling_rate)),
            clip_norm=image.mean_pair_clip_norm(channels),
            enabled=bool(mp_opts.get("enabled", True)),
        ),
        "semantic_query": SemanticQuerySettings(
            enabled=n_public_labels > 0 and bool(sq_opts.get("enabled", True)),
            top_k=int(sq_opts.get("top_k", 1)),
            n_public_labels=max(n_public_labels, 1),
        ),
        "n_paid_columns": n_paid_columns,
        "n_paid_categorical": n_paid_categorical,
    }


def build_plan(spec: SynthSpec, *, schema: Schema, n_rows: int, channels: int) -> BudgetPlan:
    """The plan a job runs under (the same one the Budget page showed for these choices)."""
    paid = schema.unpaid_domains()
    kwargs = plan_kwargs(
        spec.plan_options,
        preset=spec.preset,
        n_rows=n_rows,
        channels=channels,
        n_paid_columns=len(paid),
        n_paid_categorical=sum(1 for c in paid if c.kind == "categorical"),
        n_public_labels=count_public_labels(spec.public_dir) if not spec.table_only else 0,
        preset_overrides=spec.preset_overrides,
    )
    if spec.table_only:
        kwargs["dpsgd"] = DPSGDSettings(epochs=0, batch_size=kwargs["dpsgd"].batch_size, enabled=False)
        kwargs["mean_pairs"] = MeanPairSettings(rounds=0, enabled=False)
    return plan_budget(**kwargs)
