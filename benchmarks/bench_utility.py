"""Benchmark utility: DP-TabImage against every baseline at several ε, next to the goals of issue 9.

One table per dataset — the demo data and, when present, HAM10000 — with the headline metrics of
each (method, ε), and the ``non-private`` upper bound (NOT private, ε = ∞) once per dataset below them: table marginal TVD, image Fréchet distance and k-NN precision/recall, image
train-on-synthetic / test-on-real accuracy, normalised cross-modal agreement, the memorisation
ratio and (``--with-audit``) the canary audit's lower bound ε̂. Below it, the goals of issue 9 with
PASS/MISS:

* beat ``independent`` on normalised cross-modal agreement at every ε;
* beat ``no-warmup`` on it at ε = 1;
* table TVD (1-way and 2-way) within 1.2 × ``table-only`` (the table synthesizer alone: AIM, the default) at every ε;
* the audit's ε̂ never above the claimed ε.

The runs and their evaluation are :func:`dptab_core.pipeline.sweep.run_sweep` (which also writes
``sweep.json`` per dataset for the ε explorer); this script adds k-NN precision (the sweep keeps only
recall), the audit, and the goal checks. Every number here is the *data owner's view*: it reads the
real data and is not part of any DP release.

    .venv/bin/python benchmarks/bench_utility.py                       # full: 2,000 demo rows, ε 1 and 10, all methods
    .venv/bin/python benchmarks/bench_utility.py --with-audit --out /tmp/bench_utility
    .venv/bin/python benchmarks/bench_utility.py --rows 400 --skip-ham \\
        --methods dp-tabimage,independent,no-warmup,table-only,image-first,non-private \\
        --preset-override warmup_steps=60 --preset-override dpsgd_steps=20   # a smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from dptab_core.data.demo import DemoConfig, demo_schema, write_demo  # noqa: E402
from dptab_core.data.schema import Schema  # noqa: E402
from dptab_core.eval.evaluate import EvalConfig, load_synthetic_run, split_real  # noqa: E402
from dptab_core.pipeline import SynthSpec  # noqa: E402
from dptab_core.pipeline.planning import default_delta  # noqa: E402
from dptab_core.pipeline.sweep import BASELINES, NO_GUARANTEE, baseline_spec, run_sweep, run_tag  # noqa: E402

HAM = Path(__file__).resolve().parents[2] / "shared" / "data" / "ham10000"
HAM_PERSON = "lesion_id"

TVD_FACTOR = 1.2
"""Issue 9: the joint method's table TVD stays within 1.2 × the table synthesizer alone (the table-only
baseline, AIM by default)."""

COLUMNS = (
    ("table.tvd_1way", "tvd1"),
    ("table.tvd_2way", "tvd2"),
    ("image.fd", "FD"),
    ("image.precision", "prec"),
    ("image.recall", "recall"),
    ("image.tstr_accuracy", "tstr"),
    ("cross_modal.agreement_normalised", "xmodal"),
    ("privacy.nn_distance_ratio", "nn_ratio"),
    ("privacy.audit_epsilon_lower_bound", "audit_eps"),
)
"""(metric key, short column header) of the printed table."""


def _log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _parse_overrides(items: list[str]) -> dict[str, int | float]:
    """``["dpsgd_steps=20", "warmup_lr=0.001"]`` → ``{"dpsgd_steps": 20, "warmup_lr": 0.001}``."""
    out: dict[str, int | float] = {}
    for item in items:
        name, _, value = item.partition("=")
        number = float(value)
        out[name.strip()] = int(number) if number.is_integer() and "." not in value else number
    return out


def demo_dataset(out: Path, *, rows: int) -> tuple[Path, Path, Schema, Path]:
    """(CSV, image folder, schema, public folder) of a freshly generated demo with ``rows`` rows."""
    folder = write_demo(out / f"demo_rows{rows}", DemoConfig(rows=rows, seed=0))
    return folder / "table.csv", folder / "images", demo_schema(), folder / "public"


def ham_dataset(out: Path, *, rows: int | None) -> tuple[Path, Path, Schema, None]:
    """(CSV, image folder, inferred schema with every domain paid, no public folder) of HAM10000.

    ``rows``: keep the rows of a seeded sample of lesions (about that many rows) in a CSV of our own;
    the images stay in the shared folder (never copied).
    """
    from dptab_core.data.ingest import inspect_dataset

    csv = HAM / "HAM10000_metadata.csv"
    if rows is not None:
        frame = pd.read_csv(csv, dtype=str, keep_default_na=False)
        lesions = frame[HAM_PERSON].unique()
        per_lesion = len(frame) / len(lesions)
        keep = np.random.default_rng(0).choice(lesions, size=min(len(lesions), int(rows / per_lesion)), replace=False)
        csv = out / "ham_subset" / "HAM10000_metadata.csv"
        csv.parent.mkdir(parents=True, exist_ok=True)
        frame[frame[HAM_PERSON].isin(keep)].to_csv(csv, index=False)
    report = inspect_dataset(csv, HAM / "images", person_column=HAM_PERSON, workspace=out / "ham_workspace")
    if report.schema is None or not report.ok():
        raise SystemExit(f"HAM10000 cannot be read: {report.issues_of('fatal')[:3]}")
    return csv, HAM / "images", report.schema, None


def precision_recall(
    out_root: Path, tag: str, real_table: pd.DataFrame, real_images: np.ndarray, config: EvalConfig, cache_dir: Path
) -> dict[str, float]:
    """k-NN precision and recall of one run, exactly as ``evaluate_arrays`` computes them.

    The evaluation CNN comes from ``cache_dir`` (``run_sweep`` trained it on the same reference split),
    so this costs two forward passes, not a second evaluation.
    """
    from dptab_core.data.encoding import domain_size, encode_table
    from dptab_core.eval import features, image_metrics

    _, syn_images, schema, _, _ = load_synthetic_run(out_root / tag)
    sizes = {c.name: domain_size(c) for c in schema.synthesized_columns()}
    real = encode_table(real_table, schema)
    ref, held = split_real(real_table, schema, heldout_fraction=config.heldout_fraction, seed=config.seed)
    clf = features.train_attribute_classifier(
        real_images[ref],
        {k: v[ref] for k, v in real.items()},
        sizes,
        config=config.features or features.DEFAULT_FEATURE_CONFIG,
        cache_dir=cache_dir,
    )
    return image_metrics.knn_precision_recall(clf.embed(real_images[held]), clf.embed(syn_images), k=config.knn_k)


def bench_dataset(
    name: str,
    spec: SynthSpec,
    *,
    epsilons: list[float],
    methods: list[str],
    out_root: Path,
    config: EvalConfig,
    with_audit: bool,
) -> list[dict]:
    """Sweep one dataset, then add precision and (optionally) the audit to its rows."""
    from dptab_core.data.ingest import load_paired_dataset

    real = load_paired_dataset(Path(spec.csv_path), Path(spec.images_path), Schema.from_dict(spec.schema))
    cache_dir = out_root / "eval_cache"
    _log(f"{name}: {len(real.table)} real rows; sweeping {methods} at ε = {epsilons}")
    rows = run_sweep(
        spec,
        epsilons=epsilons,
        baselines=methods,
        out_root=out_root,
        real_table=real.table,
        real_images=real.images,
        config=config,
        cache_dir=cache_dir,
        progress=lambda stage, fraction, message: _log(f"{name}: {message}"),
    )
    for row in rows:
        row["dataset"] = name
        if row["method"] != "table-only":
            source = "dp-tabimage" if BASELINES[row["method"]].shuffle_pairs else row["method"]
            row.update(
                {
                    f"image.{k}": v
                    for k, v in precision_recall(
                        out_root, run_tag(source, row["epsilon"]), real.table, real.images, config, cache_dir
                    ).items()
                }
            )
    if with_audit:
        from dptab_core.pipeline.audit import audit_pipeline

        for eps in epsilons:
            _log(f"{name}: canary audit of dp-tabimage at ε = {eps:g}")
            audit = audit_pipeline(
                baseline_spec(spec, BASELINES["dp-tabimage"], epsilon=eps),
                work_root=out_root / "audit" / f"eps{eps:g}",
                seed=0,
                write_to=out_root / f"dp-tabimage_eps{eps:g}",
            )
            for row in rows:
                if row["method"] == "dp-tabimage" and row["epsilon"] == eps:
                    row["privacy.audit_epsilon_lower_bound"] = audit.get("epsilon_lower_bound")
    return rows


def goal_checks(rows: list[dict], epsilons: list[float]) -> list[tuple[str, str, str]]:
    """(goal, measured, PASS/MISS/n/a) for each goal of issue 9 that these rows can decide."""

    def value(method: str, eps: float, key: str) -> float | None:
        return next((r.get(key) for r in rows if r["method"] == method and r["epsilon"] == eps), None)

    def judge(ok: bool | None) -> str:
        return "n/a" if ok is None else ("PASS" if ok else "MISS")

    checks = []
    for eps in epsilons:
        ours = value("dp-tabimage", eps, "cross_modal.agreement_normalised")
        for rival, applies in (("independent", True), ("no-warmup", eps == 1)):
            if not applies:
                continue
            theirs = value(rival, eps, "cross_modal.agreement_normalised")
            ok = None if ours is None or theirs is None else ours > theirs
            checks.append((f"ε={eps:g}: xmodal dp-tabimage > {rival}", f"{_fmt(ours)} vs {_fmt(theirs)}", judge(ok)))
        for key in ("table.tvd_1way", "table.tvd_2way"):
            ours_t, alone = value("dp-tabimage", eps, key), value("table-only", eps, key)
            ok = None if ours_t is None or alone is None else ours_t <= TVD_FACTOR * alone
            checks.append(
                (
                    f"ε={eps:g}: {key} ≤ {TVD_FACTOR:g} × table-only",
                    f"{_fmt(ours_t)} vs {_fmt(None if alone is None else TVD_FACTOR * alone)}",
                    judge(ok),
                )
            )
        audit = value("dp-tabimage", eps, "privacy.audit_epsilon_lower_bound")
        checks.append(
            (
                f"ε={eps:g}: audit ε̂ ≤ claimed ε",
                f"{_fmt(audit)} vs {eps:g}" if audit is not None else "not run (--with-audit)",
                judge(None if audit is None else audit <= eps),
            )
        )
    return checks


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def print_report(name: str, rows: list[dict], epsilons: list[float]) -> None:
    print(f"\n## {name}")
    header = f"{'method':<13}{'ε':>5}{'ε spent':>9}" + "".join(f"{short:>10}" for _, short in COLUMNS)
    print(header)
    private = [r for r in rows if r["epsilon"] is not None]
    for row in sorted(private, key=lambda r: (r["epsilon"], list(BASELINES).index(r["method"]))):
        spent = row.get("epsilon_spent")
        print(
            f"{row['method']:<13}{row['epsilon']:>5g}{_fmt(spent) if spent is not None else '—':>9}"
            + "".join(f"{_fmt(row.get(key)):>10}" for key, _ in COLUMNS)
        )
    for row in (r for r in rows if r["epsilon"] is None):  # the upper bound: once, never as a private result
        print(
            f"{row['method']:<13}{'∞':>5}{'none':>9}"
            + "".join(f"{_fmt(row.get(key)):>10}" for key, _ in COLUMNS)
            + f"   <- {row.get('guarantee', NO_GUARANTEE)}: reference only"
        )
    print("\ngoal (issue 9)                                   measured (ours vs reference)    result")
    for goal, measured, result in goal_checks(rows, epsilons):
        print(f"{goal:<49}{measured:<32}{result}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2000, help="demo rows (default 2000)")
    parser.add_argument("--epsilons", default="1,10", help="comma-separated ε values (default 1,10)")
    parser.add_argument("--methods", default=",".join(BASELINES), help=f"comma-separated, from {list(BASELINES)}")
    parser.add_argument("--preset", default="quick")
    parser.add_argument(
        "--preset-override",
        action="append",
        default=[],
        metavar="FIELD=NUMBER",
        help="shrink the image preset, e.g. dpsgd_steps=20 (repeatable)",
    )
    parser.add_argument("--table-settings", default="default", help="table synthesizer preset (default|fast)")
    parser.add_argument("--eval-epochs", type=int, help="epochs of the evaluation CNN (default: its config's)")
    parser.add_argument("--out", type=Path, default=Path("/tmp/bench_utility"))
    parser.add_argument("--with-audit", action="store_true", help="also run the canary audit of dp-tabimage")
    parser.add_argument("--skip-ham", action="store_true", help="do not run on HAM10000 even when present")
    parser.add_argument("--skip-demo", action="store_true", help="run on HAM10000 only")
    parser.add_argument(
        "--ham-rows", type=int, default=2000, help="HAM10000 rows to sample by lesion (default 2000; 0 = all 10,015)"
    )
    args = parser.parse_args()

    epsilons = [float(e) for e in args.epsilons.split(",")]
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    overrides = _parse_overrides(args.preset_override)
    config = EvalConfig()
    if args.eval_epochs:
        from dptab_core.eval.features import FeatureConfig

        config = EvalConfig(features=FeatureConfig(epochs=args.eval_epochs))
    args.out.mkdir(parents=True, exist_ok=True)
    load_before, started = os.getloadavg(), time.perf_counter()

    datasets = [] if args.skip_demo else [("demo", demo_dataset(args.out, rows=args.rows))]
    if not args.skip_ham and (HAM / "HAM10000_metadata.csv").is_file():
        datasets.append(("ham10000", ham_dataset(args.out, rows=args.ham_rows or None)))
    elif not args.skip_ham:
        _log(f"HAM10000 not found at {HAM}: skipped")

    results = {}
    for name, (csv, images, schema, public) in datasets:
        n_rows = len(pd.read_csv(csv))
        spec = SynthSpec(
            csv_path=str(csv),
            images_path=str(images),
            schema=schema.to_dict(),
            plan_options={"delta": default_delta(n_rows)},
            preset=args.preset,
            public_dir=str(public) if public else None,
            seed=0,
            evaluate=False,
            preset_overrides=overrides,
            table_settings=args.table_settings,
        )
        results[name] = bench_dataset(
            name,
            spec,
            epsilons=epsilons,
            methods=methods,
            out_root=args.out / name,
            config=config,
            with_audit=args.with_audit,
        )

    load_after = os.getloadavg()
    print(
        f"bench_utility: preset {args.preset}, overrides {overrides or 'none'}, table settings "
        f"{args.table_settings}, demo rows {args.rows}, ε {epsilons}, audit {'on' if args.with_audit else 'off'}"
    )
    print(
        "columns: "
        + ", ".join(f"{short} = {key}" for key, short in COLUMNS)
        + "; xmodal: 0 = shuffled pairs, 1 = real pairs (data owner's view: reads real data)"
    )
    for name, rows in results.items():
        print_report(name, rows, epsilons)
    total = time.perf_counter() - started
    print(
        f"\nwall {total / 60:.1f} min on {os.cpu_count()} cores; load average (1/5/15 min) before "
        f"{load_before[0]:.1f}/{load_before[1]:.1f}/{load_before[2]:.1f}, after "
        f"{load_after[0]:.1f}/{load_after[1]:.1f}/{load_after[2]:.1f}"
    )
    (args.out / "bench_utility.json").write_text(
        json.dumps(
            {
                "args": {k: str(v) for k, v in vars(args).items()},
                "results": results,
                "goals": {n: goal_checks(r, epsilons) for n, r in results.items()},
                "wall_s": total,
                "load_before": load_before,
                "load_after": load_after,
            },
            indent=2,
        ),
        encoding="utf-8",
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
