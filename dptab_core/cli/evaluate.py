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
    parser.add_argument("--synthetic", type=Path, required=True,
                        help="output folder of a finished run (synthetic.csv, images/, schema.json)")
    parser.add_argument("--json", action="store_true", help="print every metric as JSON on stdout")
    parser.add_argument("--html", type=Path, default=None, help="also write a self-contained HTML report here")
    parser.add_argument("--target", default=None,
                        help="column for the table train-on-synthetic test (default: first categorical column)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the real train/held-out split (default 0)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Evaluate, print, and write the report when asked."""
    from dptab_core.eval.evaluate import DATA_OWNER_VIEW, EvalConfig, evaluate_folder

    config = EvalConfig(tstr_target=args.target, seed=args.seed)
    ev = evaluate_folder(args.real_csv, args.real_images, args.synthetic, config=config,
                         cache_dir=workspace_dir("cache", "eval"))
    if args.html is not None:
        from dptab_core.eval.report_html import write_report

        write_report(ev, args.html)
    if args.json:
        print(json.dumps(ev.metrics, indent=2))
    else:
        m = ev.metrics
        print(f"Evaluation — {DATA_OWNER_VIEW}")
        print(f"  table   1-way TVD {m['table']['tvd_1way']:.4f}   2-way TVD {m['table']['tvd_2way']:.4f}")
        print(f"  images  FD {m['image']['fd']:.3f}   precision {m['image']['precision']:.3f}   "
              f"recall {m['image']['recall']:.3f}   TSTR {m['image']['tstr_accuracy']:.3f} "
              f"(real-trained {m['image']['trtr_accuracy']:.3f})")
        print(f"  cross-modal agreement {_fmt(m['cross_modal']['agreement'])}   "
              f"normalised {_fmt(m['cross_modal']['agreement_normalised'])}")
        print(f"  privacy NN distance ratio {m['privacy']['nn_distance_ratio']:.3f}   audit ε̂ "
              f"{_fmt(m['privacy']['audit_epsilon_lower_bound'])} (claimed ε {_fmt(m['privacy']['claimed_epsilon'])})")
    if args.html is not None:
        print(f"report written to {args.html}", file=sys.stderr)
    return 0


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"
