"""``python -m dptab_core synth``: make a DP synthetic copy of a CSV + images, in the foreground or as a job.

Without ``--schema`` the schema is inferred and *no* domain is public: every category list and
numeric bound is paid for from the budget by the schema stage. To declare domains public, write the
proposal with ``inspect --schema-out schema.json``, set ``"public": true`` where the domain is public
knowledge, and pass ``--schema schema.json``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dptab_core.cli.foreground import run_with_progress
from dptab_core.data.schema import Schema
from dptab_core.errors import InputError


def register(parser: argparse.ArgumentParser) -> None:
    add_data_arguments(parser)
    parser.add_argument("--epsilon", type=float, default=10.0, help="total ε of the release (default 10)")
    parser.add_argument("--delta", type=float, help="total δ (default: the largest power of ten ≤ 1/(10 n), ≤ 1e-5)")
    parser.add_argument("--shares", help="budget shares, e.g. table=0.3,dpsgd=0.5 (the rest keep their defaults)")
    parser.add_argument("--epochs", type=int, help="DP-SGD epochs (default: the preset's)")
    parser.add_argument("--batch-size", type=int, help="DP-SGD expected batch size (default: the preset's)")
    parser.add_argument("--preset", default="quick", choices=("quick", "standard", "gpu"), help="image model size")
    parser.add_argument(
        "--preset-override",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="change one numeric preset setting, e.g. dpsgd_steps=20 (repeatable; small test runs)",
    )
    parser.add_argument(
        "--table-settings",
        default="default",
        choices=("default", "fast"),
        help="table synthesizer settings (fast: short fits for demos and tests)",
    )
    parser.add_argument(
        "--public", type=Path, help="a public labelled image folder (public/<label>/*) for pre-training"
    )
    parser.add_argument("--mechanism", default="aim", choices=("aim", "mst"), help="table synthesizer (default aim)")
    parser.add_argument("--seed", type=int, default=0, help="seed of sampling and training")
    parser.add_argument(
        "--reproducible-noise",
        action="store_true",
        help="also seed the privacy noise (tests and demos only: the report warns)",
    )
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument(
        "--gpus",
        type=int,
        default=1,
        metavar="N",
        help="run DP-SGD on N processes under torchrun, one GPU each (NCCL); with --device cpu, "
        "N CPU processes (gloo). Same plan, one ledger entry (default 1: no torchrun)",
    )
    parser.add_argument("--table-only", action="store_true", help="synthesize the table only (no images)")
    parser.add_argument("--no-evaluate", action="store_true", help="skip the data owner's comparison")
    parser.add_argument("--drop-missing", action="store_true", help="skip rows whose image is missing")
    parser.add_argument("--drop-corrupt", action="store_true", help="skip rows whose image cannot be read")
    parser.add_argument("--background", action="store_true", help="submit a background job and return at once")
    parser.add_argument("--out", required=True, type=Path, help="output folder (must not exist or be empty)")
    parser.set_defaults(run=run)


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    """The options that name the sensitive data and its schema (shared by ``synth`` and ``sweep``)."""
    parser.add_argument("--csv", required=True, type=Path, help="the sensitive table (CSV)")
    parser.add_argument("--images", required=True, type=Path, help="the image folder or .zip")
    parser.add_argument("--image-column", help="column holding the image file names (auto-detected if omitted)")
    parser.add_argument("--person-column", help="column naming the person when a person can have several rows")
    parser.add_argument("--schema", type=Path, help="a confirmed schema.json (domains marked public are free)")
    parser.add_argument(
        "--dataset",
        help="the dataset's name on its privacy budget book (default: the CSV's "
        "file name; the book itself is keyed by the files' content)",
    )


def run(args: argparse.Namespace) -> int:
    from dptab_core.jobs import submit
    from dptab_core.pipeline import make_synth_spec
    from dptab_core.pipeline.distributed_stage import check_gpus

    check_gpus(args.gpus, args.device)
    schema = Schema.load(args.schema) if args.schema else _inferred_schema(args)
    spec = make_synth_spec(
        csv_path=args.csv.resolve(),
        images_path=args.images.resolve(),
        schema=schema,
        plan_options=_plan_options(args),
        preset=args.preset,
        public_dir=args.public.resolve() if args.public else None,
        seed=args.seed,
        device=args.device,
        table_mechanism=args.mechanism,
        table_only=args.table_only,
        reproducible_noise=args.reproducible_noise,
        evaluate=not args.no_evaluate,
        preset_overrides=_parse_pairs(args.preset_override, "--preset-override"),
        table_settings=args.table_settings,
        gpus=args.gpus,
        policy={"drop_missing_images": args.drop_missing, "drop_corrupt_images": args.drop_corrupt},
    )
    spec["output_dir"] = str(args.out.resolve())
    spec["epsilon_planned"] = args.epsilon
    if args.dataset:
        spec["dataset_name"] = args.dataset
    if args.background:
        job = submit(spec)
        print(f"submitted job {job.id}: follow it with `python -m dptab_core jobs show {job.id}`")
        return 0
    return run_with_progress(spec, out=args.out, epsilon=args.epsilon, what="synthetic dataset")


def _inferred_schema(args: argparse.Namespace) -> Schema:
    """The inferred proposal, every domain unpaid (public only when the user says so in a schema file)."""
    from dptab_core.data.ingest import inspect_dataset

    inspection = inspect_dataset(
        args.csv, args.images, image_column=args.image_column, person_column=args.person_column
    )
    inspection.raise_for_fatal()
    if inspection.schema is None:
        raise InputError("could not propose a schema", where=str(args.csv), hint="Run `inspect` to see why.")
    if inspection.needs_person_confirmation:
        print(
            "note: no person column given; assuming one row per person. If a person can have several rows, "
            "pass --person-column.",
            file=sys.stderr,
        )
    return inspection.schema


def _plan_options(args: argparse.Namespace) -> dict:
    options: dict = {"epsilon": args.epsilon}
    if args.delta is not None:
        options["delta"] = args.delta
    if args.shares:
        options["shares"] = _parse_shares(args.shares)
    dpsgd = {k: v for k, v in {"epochs": args.epochs, "batch_size": args.batch_size}.items() if v is not None}
    if dpsgd:
        options["dpsgd"] = dpsgd
    return options


def _parse_shares(text: str) -> dict[str, float]:
    shares = {}
    for part in text.split(","):
        name, _, value = part.partition("=")
        try:
            shares[name.strip()] = float(value)
        except ValueError:
            raise InputError(
                f"cannot read the share {part!r}",
                where="--shares",
                hint="Write shares as stage=fraction pairs, e.g. table=0.3,dpsgd=0.5.",
            ) from None
    return shares


def _parse_pairs(items: list[str], flag: str) -> dict[str, int | float]:
    """``["a=1", "b=0.5"]`` → ``{"a": 1, "b": 0.5}``; the preset checks names and ranges."""
    pairs: dict[str, int | float] = {}
    for item in items:
        name, _, value = item.partition("=")
        try:
            number = float(value)
            pairs[name.strip()] = int(number) if number.is_integer() and "." not in value else number
        except ValueError:
            raise InputError(
                f"cannot read {item!r}", where=flag, hint="Write FIELD=NUMBER, e.g. --preset-override dpsgd_steps=20."
            ) from None
    return pairs


def _parse_floats(text: str, flag: str) -> list[float]:
    """``"1,3,10"`` → ``[1.0, 3.0, 10.0]``, with a clear error naming ``flag``."""
    try:
        values = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise InputError(f"cannot read {text!r} as numbers", where=flag, hint="Write e.g. 1,3,10.") from None
    if not values or any(v <= 0 for v in values):
        raise InputError(f"{text!r} needs one or more positive numbers", where=flag, hint="Write e.g. 1,3,10.")
    return values
