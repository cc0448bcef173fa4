"""Compare a synthetic run with the real data: every metric of :mod:`dptab_core.eval` in one call.

This is the **data owner's view**: it reads the real rows and images, so neither its numbers nor its
pictures are part of the differentially private release (the release writer keeps them out of the
bundle). Every result carries :data:`DATA_OWNER_VIEW` to say so.

How the real data is used: it is split once (seeded; by person when the schema names a person
column) into a *reference* part, on which the evaluation CNN is trained, and a *held-out* part, which
supplies the real-pairs agreement, the test set of every train-on-synthetic / test-on-real score, the
feature cloud for Fréchet distance and precision/recall, and the yardstick of the memorisation check.
Table marginals use all real rows.

Entry points: :func:`evaluate_run` (paths in, JSON-able dict out — the CLI and jobs),
:func:`evaluate_folder` (paths in) and :func:`evaluate_arrays` (arrays in), both returning an
:class:`Evaluation` with the intermediate arrays the figures and the HTML report need.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dptab_core.data.encoding import code_labels, domain_size, encode_table
from dptab_core.data.schema import Schema
from dptab_core.errors import DataError
from dptab_core.eval import cross_modal, image_metrics, privacy_checks, table_metrics

DATA_OWNER_VIEW = "data owner's view (reads real data; not part of the DP release)"
AUDIT_FILE = "audit.json"
"""Written next to a run by a canary audit (:func:`dptab_core.eval.privacy_checks.audit_one_run`)."""
HEADLINE_METRICS: dict[str, str] = {
    "table.tvd_1way": "1-way marginal TVD",
    "table.tvd_2way": "2-way marginal TVD",
    "image.fd": "Fréchet distance",
    "image.recall": "k-NN recall",
    "image.tstr_accuracy": "image TSTR accuracy",
    "cross_modal.agreement_normalised": "cross-modal agreement (normalised)",
    "privacy.nn_distance_ratio": "NN distance ratio",
}
"""The metrics that sum up a run, with their labels: a sweep row keeps these, the ε explorer and the
report's baseline charts show them."""


@dataclass(frozen=True)
class EvalConfig:
    """Settings of one evaluation, each with its reason."""

    heldout_fraction: float = 0.25
    """Real rows kept out of the evaluation CNN's training: ~500 of 2,000 is enough for agreement
    within ±2 points, and leaves 1,500 to train a classifier that reads attributes reliably."""
    knn_k: int = 3
    """Neighbourhood size of k-NN precision/recall (the paper's recommended k)."""
    n_closest_pairs: int = 8
    """Closest synthetic–real pairs shown side by side."""
    min_lift: float = cross_modal.DEFAULT_MIN_LIFT
    tstr_target: str | None = None
    """Table TSTR target column; None = the first categorical column of the schema."""
    seed: int = 0
    features: Any = None
    """A :class:`dptab_core.eval.features.FeatureConfig`; None = its defaults (kept lazy: no torch import here)."""


DEFAULT_EVAL_CONFIG = EvalConfig()


@dataclass
class Evaluation:
    """The metrics dict plus the arrays the figures are drawn from."""

    metrics: dict
    schema: Schema
    sizes: dict[str, int]
    real_codes: dict[str, np.ndarray]
    synthetic_codes: dict[str, np.ndarray]
    real_images: np.ndarray
    synthetic_images: np.ndarray
    reference_index: np.ndarray
    heldout_index: np.ndarray
    extra: dict = field(default_factory=dict)

    def labels(self, column: str) -> list[str]:
        return code_labels(self.schema.column(column))


def split_real(
    table: pd.DataFrame, schema: Schema, *, heldout_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Row indices of the reference and held-out parts; all rows of one person land on the same side."""
    rng = np.random.default_rng(seed)
    groups = (
        pd.factorize(table[schema.person_column])[0] if schema.person_column in table.columns else np.arange(len(table))
    )
    unique = np.unique(groups)
    n_out = int(round(len(unique) * heldout_fraction))
    if n_out < 2 or len(unique) - n_out < 2:
        raise DataError(
            f"{len(table)} real rows are too few to evaluate (a held-out part of {n_out} people)",
            hint="Evaluate with at least 20 real rows.",
        )
    held = np.isin(groups, rng.choice(unique, size=n_out, replace=False))
    return np.flatnonzero(~held), np.flatnonzero(held)


def evaluate_arrays(
    real_table: pd.DataFrame,
    real_images: np.ndarray,
    synthetic_table: pd.DataFrame,
    synthetic_images: np.ndarray,
    schema: Schema,
    *,
    config: EvalConfig = DEFAULT_EVAL_CONFIG,
    cache_dir: Path | None = None,
    claimed: dict | None = None,
    audit: dict | None = None,
) -> Evaluation:
    """Every metric for one synthetic dataset against the real one (images uint8 ``(n, H, W, C)``, same size)."""
    from dptab_core.eval import features

    if real_images.shape[1:] != synthetic_images.shape[1:]:
        raise DataError(
            f"real images are {real_images.shape[1:]} but synthetic ones {synthetic_images.shape[1:]}",
            hint="Evaluate against the real data the run was trained on, at the run's image size.",
        )
    start = time.perf_counter()
    sizes = {c.name: domain_size(c) for c in schema.synthesized_columns()}
    real, syn = encode_table(real_table, schema), encode_table(synthetic_table, schema)
    ref, held = split_real(real_table, schema, heldout_fraction=config.heldout_fraction, seed=config.seed)
    pick = _pick
    target = tstr_target(schema, config, real=real, sizes=sizes, ref=ref, held=held)
    table = table_section(real, syn, sizes, ref, held, schema, target=target)

    feature_config = config.features or features.DEFAULT_FEATURE_CONFIG
    clf = features.train_attribute_classifier(
        real_images[ref], pick(real, ref), sizes, config=feature_config, cache_dir=cache_dir
    )
    cm = cross_modal.cross_modal_scores(
        clf.predict(synthetic_images),
        syn,
        clf.predict(real_images[held]),
        pick(real, held),
        sizes,
        min_lift=config.min_lift,
    )
    scored = cm["expressed_attributes"] or list(sizes)
    real_feat, syn_feat = clf.embed(real_images[held]), clf.embed(synthetic_images)
    tstr = image_metrics.tstr_images(
        synthetic_images, syn, sizes, real_images[held], pick(real, held), config=feature_config, cache_dir=cache_dir
    )
    halves = np.array_split(np.random.default_rng(config.seed).permutation(len(real_feat)), 2)  # real vs real
    variety = image_metrics.within_cell_variety(real_feat, pick(real, held), syn_feat, syn, scored)
    image = {
        "fd": image_metrics.frechet_distance(real_feat, syn_feat),
        **image_metrics.knn_precision_recall(real_feat, syn_feat, k=config.knn_k),
        "real_reference": image_metrics.knn_precision_recall(
            real_feat[halves[0]], real_feat[halves[1]], k=config.knn_k
        ),
        "variety": variety["variety"],
        "variety_per_attribute": variety["per_attribute"],
        "tstr_accuracy": float(np.mean([tstr[n] for n in scored])),
        "trtr_accuracy": float(np.mean([cm["per_attribute"][n]["real_agreement"] for n in scored])),
        "tstr_per_attribute": tstr,
        "scored_attributes": scored,
        "feature_extractor": "attribute CNN trained on the real reference images (no downloaded weights)",
    }

    memo = privacy_checks.memorisation_check(
        real_images[ref], real_images[held], synthetic_images, n_closest=config.n_closest_pairs
    )
    privacy = {
        **memo,
        "claimed_epsilon": (claimed or {}).get("epsilon"),
        "claimed_delta": (claimed or {}).get("delta"),
        "audit_epsilon_lower_bound": audit.get("epsilon_lower_bound") if audit else None,
        "audit": audit or {"status": "not run: this run was made without canaries"},
    }
    metrics = {
        "view": DATA_OWNER_VIEW,
        "n_real": len(real_table),
        "n_synthetic": len(synthetic_table),
        "n_real_heldout": len(held),
        "table": table,
        "image": image,
        "cross_modal": cm,
        "privacy": privacy,
        "seconds": round(time.perf_counter() - start, 2),
    }
    return Evaluation(
        metrics=_jsonable(metrics),
        schema=schema,
        sizes=sizes,
        real_codes=real,
        synthetic_codes=syn,
        real_images=real_images,
        synthetic_images=synthetic_images,
        reference_index=ref,
        heldout_index=held,
        extra={"real_table": real_table, "synthetic_table": synthetic_table},
    )


def _pick(codes: dict[str, np.ndarray], idx: np.ndarray) -> dict[str, np.ndarray]:
    return {k: v[idx] for k, v in codes.items()}


def tstr_target(
    schema: Schema,
    config: EvalConfig = DEFAULT_EVAL_CONFIG,
    *,
    real: dict | None = None,
    sizes: dict[str, int] | None = None,
    ref: np.ndarray | None = None,
    held: np.ndarray | None = None,
) -> str:
    """The TSTR target column: the configured one; else, given the real codes and split, the categorical
    column that real rows predict best above always guessing its majority value (a target the real data
    cannot predict judges nothing); else the first categorical column."""
    columns = schema.synthesized_columns()
    categorical = [c.name for c in columns if c.kind == "categorical"]
    if config.tstr_target:
        return config.tstr_target
    if real is not None and sizes is not None and ref is not None and held is not None and len(categorical) > 1:
        gains = {}
        for name in categorical:
            score = table_metrics.tstr_table(_pick(real, ref), _pick(real, held), _pick(real, ref), sizes, target=name)
            gains[name] = score["real"] - score["majority"]
        return max(categorical, key=lambda n: (gains[n], -categorical.index(n)))
    return next(iter(categorical), columns[0].name)


def table_section(
    real: dict[str, np.ndarray],
    syn: dict[str, np.ndarray],
    sizes: dict[str, int],
    ref: np.ndarray,
    held: np.ndarray,
    schema: Schema,
    *,
    target: str,
) -> dict:
    """The table metrics: TVDs with their useless-table baselines, association difference, TSTR."""
    one, two = table_metrics.tvd_1way(real, syn, sizes), table_metrics.tvd_2way(real, syn, sizes)
    table = {
        "tvd_1way": one["mean"],
        "tvd_1way_max": one["max"],
        "tvd_1way_per_column": one["per_column"],
        "tvd_2way": two["mean"],
        "tvd_2way_max": two["max"],
        "tvd_2way_worst_pairs": two["worst_pairs"],
        "association_difference": table_metrics.association_difference(real, syn, sizes),
        "tstr": table_metrics.tstr_table(_pick(real, ref), _pick(real, held), syn, sizes, target=target),
        "baselines": table_metrics.baselines(real, sizes),
    }
    table["tstr"]["majority_label"] = code_labels(schema.column(target))[table["tstr"]["majority_code"]]
    return table


def evaluate_table_only(
    real_table: pd.DataFrame,
    synthetic_table: pd.DataFrame,
    schema: Schema,
    *,
    config: EvalConfig = DEFAULT_EVAL_CONFIG,
    claimed: dict | None = None,
) -> dict:
    """The metrics dict of a table-only release (no images): the table section and the claimed budget."""
    start = time.perf_counter()
    sizes = {c.name: domain_size(c) for c in schema.synthesized_columns()}
    real, syn = encode_table(real_table, schema), encode_table(synthetic_table, schema)
    ref, held = split_real(real_table, schema, heldout_fraction=config.heldout_fraction, seed=config.seed)
    metrics = {
        "view": DATA_OWNER_VIEW,
        "n_real": len(real_table),
        "n_synthetic": len(synthetic_table),
        "n_real_heldout": len(held),
        "table_only": True,
        "table": table_section(
            real,
            syn,
            sizes,
            ref,
            held,
            schema,
            target=tstr_target(schema, config, real=real, sizes=sizes, ref=ref, held=held),
        ),
        "privacy": {"claimed_epsilon": (claimed or {}).get("epsilon"), "claimed_delta": (claimed or {}).get("delta")},
        "seconds": round(time.perf_counter() - start, 2),
    }
    return _jsonable(metrics)


def load_synthetic_table(out_dir: Path) -> tuple[pd.DataFrame, Schema, dict]:
    """A run folder's synthetic table, schema and privacy report, without reading images (table-only releases)."""
    out_dir = Path(out_dir)
    for name in ("synthetic.csv", "schema.json"):
        if not (out_dir / name).is_file():
            raise DataError(
                f"no {name} here",
                where=str(out_dir),
                hint="Point --synthetic at the output folder of a finished `synth` run.",
            )
    return (
        pd.read_csv(out_dir / "synthetic.csv"),
        Schema.load(out_dir / "schema.json"),
        _read_json(out_dir / "privacy_report.json") or {},
    )


def load_synthetic_run(out_dir: Path) -> tuple[pd.DataFrame, np.ndarray, Schema, dict, dict | None]:
    """A run folder → (synthetic table, images uint8, schema, privacy report, audit result or None)."""
    from dptab_core.data.images import load_images, to_mode

    out_dir = Path(out_dir)
    for name in ("synthetic.csv", "schema.json"):
        if not (out_dir / name).is_file():
            raise DataError(
                f"no {name} here",
                where=str(out_dir),
                hint="Point --synthetic at the output folder of a finished `synth` run.",
            )
    schema = Schema.load(out_dir / "schema.json")
    table = pd.read_csv(out_dir / "synthetic.csv")
    if schema.image_column not in table.columns:
        raise DataError(f"synthetic.csv has no image column {schema.image_column!r}", where=str(out_dir))
    results = load_images([out_dir / str(p) for p in table[schema.image_column]], size=schema.image_size)
    bad = [(str(p), r.error) for p, r in zip(table[schema.image_column], results, strict=True) if r.pixels is None]
    if bad:
        raise DataError(
            f"{len(bad)} synthetic images cannot be read (first: {bad[0][0]}: {bad[0][1]})",
            where=str(out_dir),
            hint="Re-run the synthesis; the output folder is incomplete.",
        )
    images = to_mode(np.stack([r.pixels for r in results]), schema.image_mode)
    report = _read_json(out_dir / "privacy_report.json") or {}
    return table, images, schema, report, _read_json(out_dir / AUDIT_FILE)


def claimed_budget(privacy_report: dict) -> dict:
    """``{"epsilon", "delta"}`` the run claims (its target), from ``privacy_report.json``."""
    target = privacy_report.get("target") or privacy_report.get("spent") or {}
    return {"epsilon": target.get("epsilon"), "delta": target.get("delta")}


def evaluate_run(
    real_csv: Path,
    real_images: Path,
    synthetic_dir: Path,
    *,
    config: EvalConfig = DEFAULT_EVAL_CONFIG,
    cache_dir: Path | None = None,
) -> dict:
    """The metrics dict of a finished run against its real data (what ``evaluate --json`` prints)."""
    return evaluate_folder(real_csv, real_images, synthetic_dir, config=config, cache_dir=cache_dir).metrics


def evaluate_folder(
    real_csv: Path,
    real_images: Path,
    synthetic_dir: Path,
    *,
    config: EvalConfig = DEFAULT_EVAL_CONFIG,
    cache_dir: Path | None = None,
) -> Evaluation:
    """Load a finished run and its real data (read with the run's schema) and evaluate it."""
    from dptab_core.data.ingest import load_paired_dataset

    syn_table, syn_images, schema, report, audit = load_synthetic_run(synthetic_dir)
    real = load_paired_dataset(Path(real_csv), Path(real_images), schema)
    return evaluate_arrays(
        real.table,
        real.images,
        syn_table,
        syn_images,
        schema,
        config=config,
        cache_dir=cache_dir,
        claimed=claimed_budget(report),
        audit=audit,
    )


def headline(metrics: dict[str, Any]) -> dict[str, float | None]:
    """The flat ``{"table.tvd_1way": …}`` subset of a metrics dict (missing values → None)."""
    out: dict[str, float | None] = {}
    for key in HEADLINE_METRICS:
        section, name = key.split(".")
        out[key] = (metrics.get(section) or {}).get(name)
    return out


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(f"cannot read {path.name} ({exc})", where=str(path)) from exc


def _jsonable(value: Any) -> Any:
    """Plain Python numbers, lists and dicts (numpy scalars and arrays converted)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value
