"""``python -m dptab_core evaluate``: compare a synthetic run with the real data (data owner's view).

Reads the real CSV and images with the run's own ``schema.json``, computes every metric of
:mod:`dptab_core.eval`, prints a summary (or the full JSON with ``--json``) and optionally writes a
self-contained HTML report. The output shows facts about the real data: it is not part of the
DP release.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from dptab_core.workspace import workspace_dir


def register(parser: argparse.ArgumentParser) -> None:
    """Add the subcommand's options."""
    parser.add_argument("--real-csv", type=Path, required=True, help="the real table the run was trained on")
    parser.add_argument("--real-images", type=Path, required=True, help="the real images (folder or zip)")
    parser.add_argument(
        "--synthetic",
        type=Path,
        required=True,
        help="output folder of a finished run (synthetic.csv, images/, schema.json)",
    )
    parser.add_argument("--json", action="store_true", help="print every metric as JSON on stdout")
    parser.add_argument("--html", type=Path, default=None, help="also write a self-contained HTML report here")
    parser.add_argument(
        "--target",
        default=None,
        help="column for the table train-on-synthetic test (default: first categorical column)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the real train/held-out split (default 0)")
    parser.add_argument(
        "--baselines",
        default=None,
        help="also run these methods on the real data and compare, comma-separated, from: "
        "dp-tabimage, independent, no-warmup, no-pretrain, image-first, table-only, "
        "non-private (a NOT private reference, run once)",
    )
    parser.add_argument(
        "--epsilons", default=None, help="ε values for --baselines, comma-separated (default: the run's claimed ε)"
    )
    parser.add_argument("--public", type=Path, default=None, help="public labelled images for --baselines runs")
    parser.add_argument(
        "--preset",
        default="quick",
        choices=("quick", "standard", "gpu"),
        help="preset of the --baselines runs (default quick)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Evaluate, print, and write the report when asked."""
    from dptab_core.eval.evaluate import DATA_OWNER_VIEW, EvalConfig, evaluate_folder

    config = EvalConfig(tstr_target=args.target, seed=args.seed)
    ev = evaluate_folder(
        args.real_csv, args.real_images, args.synthetic, config=config, cache_dir=workspace_dir("cache", "eval")
    )
    if args.baselines:
        ev.metrics["baselines"] = _run_baselines(args, ev)
    if args.html is not None:
        from dptab_core.eval.report_html import write_report

        write_report(ev, args.html, sweep_rows=ev.metrics.get("baselines"))
    if args.json:
        print(json.dumps(ev.metrics, indent=2))
    else:
        m = ev.metrics
        print(f"Evaluation — {DATA_OWNER_VIEW}")
        print(f"  table   1-way TVD {m['table']['tvd_1way']:.4f}   2-way TVD {m['table']['tvd_2way']:.4f}")
        print(
            f"  images  FD {m['image']['fd']:.3f}   precision {m['image']['precision']:.3f}   "
            f"recall {m['image']['recall']:.3f}   TSTR {m['image']['tstr_accuracy']:.3f} "
            f"(real-trained {m['image']['trtr_accuracy']:.3f})"
        )
        print(
            f"  cross-modal agreement {_fmt(m['cross_modal']['agreement'])}   "
            f"normalised {_fmt(m['cross_modal']['agreement_normalised'])}"
        )
        print(
            f"  privacy NN distance ratio {m['privacy']['nn_distance_ratio']:.3f}   audit ε̂ "
            f"{_fmt(m['privacy']['audit_epsilon_lower_bound'])} (claimed ε {_fmt(m['privacy']['claimed_epsilon'])})"
        )
    if args.html is not None:
        print(f"report written to {args.html}", file=sys.stderr)
    return 0


def _run_baselines(args: argparse.Namespace, ev) -> list[dict]:
    """Run the chosen baselines on the real data with the run's (public) schema; return the sweep rows.

    The run's released schema is used as the input schema, so its domains count as public here: the
    baselines skip the schema stage's cost, which the comparison states rather than hides.
    """
    from dptab_core.pipeline import SynthSpec
    from dptab_core.pipeline.sweep import run_sweep

    claimed = ev.metrics["privacy"]
    epsilons = (
        [float(e) for e in args.epsilons.split(",")] if args.epsilons else [float(claimed["claimed_epsilon"] or 1.0)]
    )
    plan = {"epsilon": epsilons[0], **({"delta": claimed["claimed_delta"]} if claimed["claimed_delta"] else {})}
    spec = SynthSpec(
        csv_path=str(args.real_csv),
        images_path=str(args.real_images),
        schema=ev.schema.to_dict(),
        plan_options=plan,
        preset=args.preset,
        public_dir=str(args.public) if args.public else None,
        seed=args.seed,
    )
    baselines = [b.strip() for b in args.baselines.split(",")]
    _charge_dataset(spec, epsilons, baselines)  # refused here, before any baseline reads the data
    out_root = workspace_dir("sweeps", args.synthetic.resolve().name)
    rows = run_sweep(
        spec,
        epsilons=epsilons,
        baselines=baselines,
        out_root=out_root,
        real_table=ev.extra["real_table"],
        real_images=ev.real_images,
        progress=lambda stage, fraction, message: print(f"[{100 * fraction:3.0f}%] {message}", file=sys.stderr),
        cache_dir=workspace_dir("cache", "eval"),
    )
    print(f"baseline runs and sweep.json in {out_root}", file=sys.stderr)
    return rows


def _charge_dataset(spec, epsilons: list[float], baselines: list[str]) -> None:
    """Charge the baselines' runs to the real dataset's privacy budget (refused over the owner's cap).

    The charge stays a reservation (the planned ε of each run): the runs' folder may hold earlier
    runs' ledgers too, so what these runs drew cannot be told apart to settle it.
    """
    import dataclasses
    from datetime import UTC, datetime

    from dptab_core.privacy.dataset_budget import admitting

    charge_id = "evaluate-" + datetime.now(UTC).strftime("%Y%m%d-%H%M%S-%f")
    with admitting(
        {"kind": "evaluate", "synth": dataclasses.asdict(spec), "epsilons": epsilons, "baselines": baselines}
    ) as charge:
        charge(charge_id)


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"
