"""``python -m dptab_core demo-data``: generate the built-in demo dataset (no downloads, deterministic).

Writes ``OUT/table.csv``, ``OUT/images/*.png`` (exactly what a user would upload), the public labelled
set ``OUT/public/<label>/*.png`` and, last, ``OUT/demo.json``. With ``--if-missing`` it does nothing
when ``OUT`` already holds a complete demo made with the same settings (``./studio start`` uses this).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from dptab_core.data.demo import DemoConfig, default_demo_dir, is_complete, write_demo


def register(parser: argparse.ArgumentParser) -> None:
    """Add the subcommand's options."""
    defaults = DemoConfig()
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="folder to write (default: <workspace>/demo); replaced if it holds an older demo",
    )
    parser.add_argument(
        "--rows",
        type=int,
        default=defaults.rows,
        help=f"number of patients, one row and one photo each (default {defaults.rows})",
    )
    parser.add_argument("--seed", type=int, default=defaults.seed, help="random seed (default %(default)s)")
    parser.add_argument(
        "--public-per-label",
        type=int,
        default=defaults.public_per_label,
        help="public images per label (default %(default)s)",
    )
    parser.add_argument(
        "--if-missing",
        action="store_true",
        help="do nothing when OUT already holds a complete demo with these settings",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Generate (or keep) the demo and say where it is."""
    config = DemoConfig(rows=args.rows, seed=args.seed, public_per_label=args.public_per_label)
    out = args.out if args.out is not None else default_demo_dir()
    if args.if_missing and is_complete(out, config):
        print(f"demo dataset already complete in {out}")
        return 0
    start = time.perf_counter()
    out = write_demo(out, config)
    print(
        f"demo dataset written to {out} in {time.perf_counter() - start:.1f} s: table.csv "
        f"({config.rows} patients), images/, public/ ({config.public_per_label} images per label), demo.json"
    )
    return 0
