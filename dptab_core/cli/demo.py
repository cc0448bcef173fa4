"""``python -m dptab_core demo --out OUT``: the demo dataset through the quick preset, in one go."""

from __future__ import annotations

import argparse
from pathlib import Path

from dptab_core.cli.foreground import run_with_progress


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
    from dptab_core.pipeline import make_synth_spec

    data_dir = ensure_demo()
    spec = make_synth_spec(
        csv_path=data_dir / "table.csv",
        images_path=data_dir / "images",
        schema=demo_schema(),
        plan_options={"epsilon": args.epsilon},
        preset=args.preset,
        public_dir=data_dir / "public",
        seed=args.seed,
        device=args.device,
        evaluate=not args.no_evaluate,
    )
    spec["output_dir"] = str(args.out.resolve())
    spec["epsilon_planned"] = args.epsilon
    return run_with_progress(spec, out=args.out, epsilon=args.epsilon, what="demo's synthetic dataset")
