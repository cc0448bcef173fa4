"""Benchmark MST against AIM on the built-in demo table, at the budget the pipeline would give the table.

Why this exists next to ``bench_table.py``: Adult measures each mechanism with the whole ε; a
DP-TabImage run gives the table only its planned share (the ``quick`` preset's plan, the app's
defaults: δ from :func:`dptab_core.pipeline.planning.default_delta`, the demo's public image set enabling the
semantic query), on 2,000 rows with public domains. This is the data and budget the app's table
synthesizer choice is made for.

For each ε, table preset (``default`` is what the app's jobs run; ``fast`` is for demos and tests),
mechanism and seed it runs :func:`dptab_core.table.synthesize_table` (seeded noise, so runs repeat)
in a fresh Python process, as a job does — JAX compiles mbi's functions on first use, so in one
long process whichever run came first would pay every compile — and prints the average 1-way and 2-way TVD (:mod:`dptab_core.eval.table_metrics`, on the public-domain
codes the table model uses), wall and process CPU seconds, and the load average (the box may be
shared: CPU seconds say what a run cost when wall time is inflated by other work). Then the mean over
seeds, as a markdown table for benchmarks/README.md.

    .venv/bin/python benchmarks/bench_table_demo.py                          # everything (~10 min on 2 idle cores)
    .venv/bin/python benchmarks/bench_table_demo.py --epsilon 1 --settings fast --seeds 0
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dptab_core.data.csv_reader import read_csv_bytes  # noqa: E402
from dptab_core.data.demo import DemoConfig, demo_schema, generate_table  # noqa: E402
from dptab_core.data.encoding import domain_size, encode_table  # noqa: E402
from dptab_core.data.infer import typed_table  # noqa: E402
from dptab_core.data.schema import Schema  # noqa: E402
from dptab_core.eval.table_metrics import tvd_1way, tvd_2way  # noqa: E402
from dptab_core.pipeline.planning import plan_kwargs  # noqa: E402
from dptab_core.privacy import plan_budget  # noqa: E402
from dptab_core.privacy.ledger import Ledger  # noqa: E402
from dptab_core.table import synthesize_table  # noqa: E402

DEMO_PUBLIC_LABELS = 14
"""Label folders in the demo's public image set: with them the plan pays for the semantic query,
which lowers the table's share exactly as in an app run on the demo."""


def demo_table(config: DemoConfig) -> pd.DataFrame:
    """The demo's patient table exactly as ``demo-data`` writes it and a job reads it back (CSV → typed)."""
    table_rng = np.random.default_rng(np.random.SeedSequence(config.seed).spawn(3)[0])
    frame = generate_table(config.rows, rng=table_rng, missing_age_rate=config.missing_age_rate)
    parsed = read_csv_bytes(frame.to_csv(index=False, lineterminator="\n").encode(), name="table.csv")
    return typed_table(parsed.frame, demo_schema())


def table_rho(epsilon: float, *, n_rows: int, preset: str) -> tuple[float, float]:
    """(ρ of the table stage, δ) in the plan a job on the demo with the app's defaults runs under."""
    kwargs = plan_kwargs(
        {"epsilon": epsilon},
        preset=preset,
        n_rows=n_rows,
        channels=3,
        n_paid_columns=0,
        n_public_labels=DEMO_PUBLIC_LABELS,
    )
    return plan_budget(**kwargs).stages["table"].params["rho"], kwargs["delta"]


def run_one(table: pd.DataFrame, schema: Schema, *, rho: float, mechanism: str, settings: str, seed: int) -> dict:
    sizes = {c.name: domain_size(c) for c in schema.synthesized_columns()}
    started, cpu_started = time.perf_counter(), time.process_time()
    synthetic = synthesize_table(
        table,
        schema,
        rho=rho,
        mechanism=mechanism,
        seed=seed,
        rng=np.random.default_rng(seed),
        ledger=Ledger(),
        settings=settings,
    )
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    real_codes, synth_codes = encode_table(table, schema), encode_table(synthetic, schema)
    return {
        "mechanism": mechanism,
        "settings": settings,
        "seed": seed,
        "rows": len(synthetic),
        "tvd1": tvd_1way(real_codes, synth_codes, sizes)["mean"],
        "tvd2": tvd_2way(real_codes, synth_codes, sizes)["mean"],
        "wall": wall,
        "cpu": cpu,
        "load": os.getloadavg()[0],
    }


def run_in_fresh_process(*, epsilon: float, preset: str, mechanism: str, settings: str, seed: int) -> dict:
    """:func:`run_one` in a new interpreter (cold JAX caches, as in a job's worker process)."""
    command = [
        sys.executable,
        __file__,
        "--one",
        json.dumps({"epsilon": epsilon, "preset": preset, "mechanism": mechanism, "settings": settings, "seed": seed}),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{mechanism}/{settings}/seed {seed} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def one(case: dict) -> None:
    """The ``--one`` worker: one run, its result as a JSON line on stdout."""
    schema = demo_schema()
    table = demo_table(DemoConfig())
    rho, _ = table_rho(case["epsilon"], n_rows=len(table), preset=case["preset"])
    print(
        json.dumps(
            run_one(table, schema, rho=rho, mechanism=case["mechanism"], settings=case["settings"], seed=case["seed"])
        )
    )


def summary(runs: list[dict]) -> dict:
    """Mean over seeds (and the spread of the 2-way TVD)."""
    tvd2 = [r["tvd2"] for r in runs]
    return {
        "tvd1": statistics.mean(r["tvd1"] for r in runs),
        "tvd2": statistics.mean(tvd2),
        "tvd2_min": min(tvd2),
        "tvd2_max": max(tvd2),
        "wall": statistics.mean(r["wall"] for r in runs),
        "cpu": statistics.mean(r["cpu"] for r in runs),
        "load": statistics.mean(r["load"] for r in runs),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epsilon", type=float, nargs="+", default=[1.0, 10.0], help="total ε of the whole run")
    parser.add_argument("--mechanism", nargs="+", choices=["mst", "aim"], default=["mst", "aim"])
    parser.add_argument(
        "--settings",
        nargs="+",
        choices=["default", "fast"],
        default=["default", "fast"],
        help="table presets (dptab_core.table.settings)",
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--preset", default="quick", help="image preset whose plan sets the table's share")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        one(json.loads(args.one))
        return 0

    config, schema = DemoConfig(), demo_schema()
    table = demo_table(config)
    print(
        f"Demo table: {len(table):,} rows, {len(schema.synthesized_columns())} synthesized columns; "
        f"cores {os.cpu_count()}, load avg {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    rows = []
    for epsilon in args.epsilon:
        rho, delta = table_rho(epsilon, n_rows=len(table), preset=args.preset)
        print(f"ε={epsilon:g} (δ={delta:g}, {args.preset} plan): table ρ = {rho:.5f}", flush=True)
        for settings in args.settings:
            for mechanism in args.mechanism:
                runs = []
                for seed in args.seeds:
                    r = run_in_fresh_process(
                        epsilon=epsilon, preset=args.preset, mechanism=mechanism, settings=settings, seed=seed
                    )
                    print(
                        f"  {mechanism:<4} {settings:<8} seed {seed}: 2-way {r['tvd2']:.4f}  1-way {r['tvd1']:.4f}  "
                        f"{r['wall']:6.1f} s wall  {r['cpu']:6.1f} s CPU  load {r['load']:.1f}",
                        flush=True,
                    )
                    runs.append(r)
                rows.append(
                    {"epsilon": epsilon, "rho": rho, "settings": settings, "mechanism": mechanism, **summary(runs)}
                )
    print(
        f"\nMean over seeds {args.seeds} (2-way range in brackets); demo, {len(table):,} rows, "
        f"table share of the {args.preset} plan\n"
    )
    print("| ε (table ρ) | table preset | mechanism | avg 2-way TVD | avg 1-way TVD | wall s | CPU s | load |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['epsilon']:g} ({r['rho']:.4f}) | {r['settings']} | {r['mechanism'].upper()} | "
            f"{r['tvd2']:.4f} [{r['tvd2_min']:.4f}–{r['tvd2_max']:.4f}] | {r['tvd1']:.4f} | "
            f"{r['wall']:.1f} | {r['cpu']:.1f} | {r['load']:.1f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
