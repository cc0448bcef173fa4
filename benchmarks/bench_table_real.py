"""Would a recipient believe the synthetic table? HAM10000 (one row per lesion) and Adult, ε ∈ {1, 10}.

Two schemas per dataset, each run through the job's own path (plan → schema stage → table stage,
ledger checked against the plan):

* ``defaults``: the Data page's proposal as it comes, nothing declared public: categories, numeric
  bounds, quantile bins and missingness are all paid for by the schema stage;
* ``all public``: every fact declared (categories and blanks as observed, bounds snapped outward,
  bin edges at the real quantiles) — an oracle: the gap between the rows is what paying costs.

Printed per run: 1-way TVD (mean over columns; categorical columns by label, blanks included;
numeric columns on 16 bins at the *real* quantiles, the resolution the table model works at), the
worst numeric column's median error (relative), the p1–p99 range ratio (synthetic / real, worst
column), blanks in columns that have none, and whether integer columns hold only integers.

    .venv/bin/python benchmarks/bench_table_real.py                 # both datasets, ε 1 and 10 (~5 min, MST)
    .venv/bin/python benchmarks/bench_table_real.py --dataset ham --epsilon 10 --mechanism aim

Skips cleanly (exit 0) when ../shared/data is absent.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dptab_core.data.csv_reader import read_csv  # noqa: E402
from dptab_core.data.infer import propose_schema, snap_outward, typed_table  # noqa: E402
from dptab_core.data.schema import Schema  # noqa: E402
from dptab_core.privacy import (  # noqa: E402
    DPSGDSettings,
    Ledger,
    MeanPairSettings,
    SemanticQuerySettings,
    plan_budget,
    verify_ledger_matches_plan,
)
from dptab_core.privacy.domain import pay_for_domains  # noqa: E402
from dptab_core.privacy.quantiles import NoisyHistogram, edges_from_histogram  # noqa: E402
from dptab_core.table import synthesize_table  # noqa: E402

SHARED = Path(os.environ.get("DPTAB_SHARED", Path(__file__).resolve().parents[2] / "shared")) / "data"
GOALS = "goals at ε=10: TVD ≤ 0.03, median error ≤ 10 %, p1–p99 ratio in [0.5, 2], 0 blanks, integers"


def load(dataset: str) -> tuple[pd.DataFrame, Schema] | None:
    """The text-cell frame and the default proposal, or None when the data is absent."""
    if dataset == "ham":
        path = SHARED / "ham10000" / "HAM10000_metadata.csv"
        if not path.exists():
            return None
        frame = read_csv(path).frame
        frame = frame[~frame["lesion_id"].duplicated()].reset_index(drop=True)  # one row per lesion (first)
        return frame, propose_schema(
            frame, image_column="image_id", person_column="lesion_id", encoding="utf-8", delimiter=","
        )
    path = SHARED / "adult" / "adult.csv"
    if not path.exists():
        return None
    frame = read_csv(path).frame
    frame["row"] = [f"{i}.png" for i in range(len(frame))]  # the table stage needs an image column; none here
    return frame, propose_schema(frame, image_column="row", encoding="utf-8", delimiter=",")


def all_public(schema: Schema, real: pd.DataFrame) -> Schema:
    """Every fact declared: categories and blanks as observed, snapped bounds, real quantile edges."""
    for col in schema.synthesized_columns():
        blanks = bool(real[col.name].isna().any())
        missing = "allowed" if blanks else "never"
        if col.kind == "categorical":
            schema = schema.replace_column(replace(col, public=True, missing=missing))
            continue
        values = real[col.name].dropna().astype(float)
        edges = exact_edges(values.to_numpy(), bins=col.bins, integer=col.dtype == "int")
        low, high = snap_outward(float(values.min()), float(values.max()))
        schema = schema.replace_column(
            replace(col, public=True, bounds=(low, high), binning="edges", edges=edges, missing=missing)
        )
    return schema


def exact_edges(values: np.ndarray, *, bins: int, integer: bool) -> tuple[float, ...]:
    """The edges the schema stage would release from a noise-free histogram (same quantiles, same spikes)."""
    points, counts = np.unique(values, return_counts=True)
    highs = points + 1 if integer else np.append(points[1:], points[-1] + 1e-9)
    exact = NoisyHistogram(
        lows=points, highs=highs, mass=counts.astype(float), missing=0.0, threshold=0.0, sigma=0.0, integer=integer
    )
    return edges_from_histogram(exact, bins=bins)


def reference_codes(real: pd.Series, synthetic: pd.Series, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Real and synthetic values on one binning that only depends on the real data (owner's view)."""
    if kind == "categorical":
        r = real.astype("string").fillna("<blank>")
        s = synthetic.astype("string").fillna("<blank>")
        labels = {v: i for i, v in enumerate(sorted(set(r) | set(s)))}
        return r.map(labels).to_numpy(int), s.map(labels).to_numpy(int)
    r, s = real.astype(float).to_numpy(), synthetic.astype(float).to_numpy()
    edges = np.unique(np.quantile(r[~np.isnan(r)], np.linspace(0, 1, 17)))

    def code(x):
        c = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, max(edges.size - 2, 0))
        return np.where(np.isnan(x), edges.size, c)

    return code(r), code(s)


def tvd(a: np.ndarray, b: np.ndarray) -> float:
    size = int(max(a.max(), b.max())) + 1
    return 0.5 * float(np.abs(np.bincount(a, minlength=size) / a.size - np.bincount(b, minlength=size) / b.size).sum())


def measure(real: pd.DataFrame, synthetic: pd.DataFrame, schema: Schema) -> dict:
    tvds, median_err, ratios, blanks, integer_ok = [], [], [], 0, True
    for col in schema.synthesized_columns():
        r, s = real[col.name], synthetic[col.name]
        tvds.append(tvd(*reference_codes(r, s, col.kind)))
        if not r.isna().any():
            blanks += int(s.isna().sum())
        if col.kind != "numeric":
            continue
        rv, sv = r.dropna().astype(float), s.dropna().astype(float)
        if col.dtype == "int":
            integer_ok &= bool((sv % 1 == 0).all())
        rm, sm = rv.median(), sv.median()
        median_err.append(abs(sm - rm) / abs(rm) if rm else float(abs(sm) > 0))
        rr = np.subtract(*np.percentile(rv, [99, 1]))
        sr = np.subtract(*np.percentile(sv, [99, 1]))
        ratios.append(sr / rr if rr else float("inf") if sr else 1.0)
    return {
        "tvd": float(np.mean(tvds)),
        "median_err": max(median_err, default=0.0),
        "ratio_lo": min(ratios, default=1.0),
        "ratio_hi": max(ratios, default=1.0),
        "blanks": blanks,
        "integers": integer_ok,
    }


def run(frame: pd.DataFrame, schema: Schema, *, epsilon: float, mechanism: str, seed: int) -> tuple[dict, float]:
    real = typed_table(frame, schema)
    paid = schema.unpaid_domains()
    plan = plan_budget(
        epsilon=epsilon,
        delta=1e-6 if len(real) < 1e5 else 1e-7,
        n_rows=len(real),
        n_paid_columns=len(paid),
        n_paid_categorical=sum(c.kind == "categorical" for c in paid),
        semantic_query=SemanticQuerySettings(enabled=False),
        mean_pairs=MeanPairSettings(enabled=False),
        dpsgd=DPSGDSettings(enabled=False),
    )
    ledger, rng = Ledger(), np.random.default_rng(seed)
    started = time.perf_counter()
    if plan.stages["schema"].enabled:
        schema = pay_for_domains(
            real,
            schema,
            rho=plan.stages["schema"].params["rho"],
            rng=rng,
            ledger=ledger,
            delta_budget=plan.partition_delta,
        )
    synthetic = synthesize_table(
        real, schema, rho=plan.stages["table"].params["rho"], mechanism=mechanism, seed=seed, rng=rng, ledger=ledger
    )
    verify_ledger_matches_plan(ledger, plan)
    return measure(real, synthetic, schema), time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=["ham", "adult", "both"], default="both")
    parser.add_argument("--epsilon", type=float, nargs="+", default=[1.0, 10.0])
    parser.add_argument("--mechanism", choices=["mst", "aim"], default="mst")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rows = []
    for dataset in ["ham", "adult"] if args.dataset == "both" else [args.dataset]:
        loaded = load(dataset)
        if loaded is None:
            print(f"{dataset}: data not found under {SHARED}: skipped.")
            continue
        frame, proposal = loaded
        schemas = {"defaults": proposal, "all public": all_public(proposal, typed_table(frame, proposal))}
        for epsilon in args.epsilon:
            for name, schema in schemas.items():
                result, seconds = run(frame, schema, epsilon=epsilon, mechanism=args.mechanism, seed=args.seed)
                rows.append((dataset, len(frame), epsilon, name, result, seconds))
                print(f"  {dataset} ε={epsilon:g} {name}: {result} ({seconds:.0f} s)", flush=True)
    if not rows:
        return 0
    print(
        f"\n{args.mechanism.upper()}, table stage only (schema share 5 %), cores {os.cpu_count()}, "
        f"load avg {os.getloadavg()[0]:.1f}; {GOALS}"
    )
    print(
        f"{'dataset':8} {'rows':>6} {'ε':>4} {'schema':11} {'1-way TVD':>9} {'median err':>10} "
        f"{'p1–p99 ratio':>13} {'blanks':>6} {'integers':>8} {'secs':>5}"
    )
    for dataset, n, epsilon, name, r, seconds in rows:
        print(
            f"{dataset:8} {n:6d} {epsilon:4g} {name:11} {r['tvd']:9.4f} {r['median_err']:10.1%} "
            f"{r['ratio_lo']:6.2f}–{r['ratio_hi']:<6.2f} {r['blanks']:6d} {str(r['integers']):>8} {seconds:5.0f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
