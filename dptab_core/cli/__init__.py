"""``python -m dptab_core``: one command-line entry for every job the app runs.

Subcommands live one per module in this package and are imported only when chosen, so that
``plan`` never pays for importing torch or jax. Exit codes: 0 ok, 2 bad input (the message on
stderr names the file, row or setting and says what to do), 1 internal error.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from dptab_core.errors import DPTabError

SUBCOMMANDS: dict[str, tuple[str, str]] = {
    # name: (module under dptab_core.cli, one-line help)
    "demo-data": ("demo_data", "generate the built-in demo dataset (table.csv + images/ + public/)"),
    "inspect": ("inspect", "validate a CSV + image folder or zip and propose a schema"),
    "evaluate": ("evaluate", "compare a synthetic dataset with the real one (data owner's view)"),
    "jobs": ("jobs", "list, show, cancel or resume background jobs"),
    "plan": ("plan", "plan a privacy budget: per-stage noise for a total (ε, δ), composed in RDP"),
    "synth": ("synth", "make a DP synthetic copy of a CSV + images (foreground, or --background as a job)"),
    "demo": ("demo", "the demo dataset through the quick preset in one go"),
    "sweep": ("sweep", "measure quality at several ε as a background job (feeds the app's ε explorer)"),
    "budget": ("budget", "a dataset's privacy spend over every job that read it, and its cap"),
}


def build_parser(chosen: str | None = None) -> argparse.ArgumentParser:
    """The top-level parser; only the chosen subcommand's module is imported."""
    prog = "dptab" if sys.argv[0].endswith("/dptab") else "python -m dptab_core"  # the console script, or -m
    parser = argparse.ArgumentParser(
        prog=prog, description="DP-TabImage Studio engine: differentially private synthetic table + image data."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        if name == chosen:
            module = importlib.import_module(f"dptab_core.cli.{module_name}")
            module.register(sub.add_parser(name, help=help_text, description=help_text))
        else:
            sub.add_parser(name, help=help_text, add_help=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; map errors to exit codes and plain-words messages."""
    argv = list(sys.argv[1:] if argv is None else argv)
    chosen = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(chosen if chosen in SUBCOMMANDS else None)
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 0 if args.command is None else 2
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    try:
        return int(args.run(args) or 0)
    except DPTabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
