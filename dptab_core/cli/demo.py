"""``python -m dptab_core demo --out OUT``: the demo dataset through the quick preset, in one go."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dptab_core.cli.progress_bar import ProgressBar


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, type=Path, help="output folder (must not exist or be empty)")
    parser.add_argument("--epsilon", type=float, default=10.0, help="total ε (default 10)")
    parser.add_argument("--preset", default="quick", choices=("quick", "standard", "gpu"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--no-evaluate", action="store_true", help="skip the data owner's comparison")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from dptab_core.data.demo import demo_schema, ensure_demo
    from dptab_core.jobs import run_in_foreground
    from dptab_core.pipeline import make_synth_spec

    data_dir = ensure_demo()
    spec = make_synth_spec(csv_path=data_dir / "table.csv", images_path=data_dir / "images", schema=demo_schema(),
                           plan_options={"epsilon": args.epsilon}, preset=args.preset, public_dir=data_dir / "public",
                           seed=args.seed, device=args.device, evaluate=not args.no_evaluate)
    spec["output_dir"] = str(args.out.resolve())
    spec["epsilon_planned"] = args.epsilon
    bar = ProgressBar(sys.stderr)
    job = run_in_foreground(spec, on_progress=bar.update)
    bar.close()
    status = job.status()
    if status.state != "succeeded":
        print(f"demo job {job.id} {status.state}: {status.error or status.message}", file=sys.stderr)
        return 1
    print(f"wrote the demo's synthetic dataset to {args.out} (ε spent {status.epsilon_spent:.3f} of {args.epsilon:g})")
    return 0
