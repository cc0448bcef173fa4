"""``python -m dptab_core sweep``: run the pipeline (and baselines) at several ε as one background job.

The job's ``sweep.json`` feeds the app's ε explorer. It is the data owner's view: every run reads the
real data again, so the sweep's runs are separate uses of the data and none of them is a release.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from dptab_core.cli.synth import _inferred_schema, _parse_floats, add_data_arguments
from dptab_core.data.schema import Schema
from dptab_core.errors import InputError


def register(parser: argparse.ArgumentParser) -> None:
    add_data_arguments(parser)
    parser.add_argument("--epsilons", default="1,3,10", help="comma-separated ε values (default 1,3,10)")
    parser.add_argument(
        "--baselines",
        default="dp-tabimage,independent",
        help="comma-separated methods: dp-tabimage, independent, no-warmup, no-pretrain, "
        "image-first, table-only, non-private (a NOT private reference, run once)",
    )
    parser.add_argument("--preset", default="quick", choices=("quick", "standard", "gpu"))
    parser.add_argument("--public", type=Path, help="a public labelled image folder (public/<label>/*)")
    parser.add_argument("--seed", type=int, default=0)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from dptab_core.jobs import submit
    from dptab_core.pipeline import make_synth_spec
    from dptab_core.pipeline.sweep import BASELINES, sweep_job_spec

    baselines = [b.strip() for b in args.baselines.split(",") if b.strip()]
    unknown = [b for b in baselines if b not in BASELINES]
    if unknown:
        raise InputError(
            f"unknown method(s) {', '.join(unknown)}", where="--baselines", hint=f"Choose from: {', '.join(BASELINES)}."
        )
    epsilons = _parse_floats(args.epsilons, "--epsilons")
    schema = Schema.load(args.schema) if args.schema else _inferred_schema(args)
    synth = make_synth_spec(
        csv_path=args.csv.resolve(),
        images_path=args.images.resolve(),
        schema=schema,
        plan_options={},
        preset=args.preset,
        public_dir=args.public.resolve() if args.public else None,
        seed=args.seed,
    )
    job = submit(sweep_job_spec(synth, epsilons=epsilons, baselines=baselines, dataset_name=args.dataset))
    print(
        f"submitted ε-sweep job {job.id}: follow it with `python -m dptab_core jobs show {job.id}`; "
        "the app's ε explorer shows its results when it finishes"
    )
    return 0
