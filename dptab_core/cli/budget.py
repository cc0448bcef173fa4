"""``python -m dptab_core budget``: how much of a dataset's privacy has been spent, and its cap.

Every job that reads a dataset (synth, sweep and its baselines, the app's runs) is charged to that
dataset's book (:mod:`dptab_core.privacy.dataset_budget`). Without options this lists every
dataset; ``--dataset NAME`` (or a fingerprint prefix, or ``--csv``/``--images``) shows one, and
``--cap`` sets the owner's cap that refuses jobs before they read the data.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from dptab_core.errors import InputError
from dptab_core.privacy import dataset_budget as db


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", help="the dataset's confirmed name, or the start of its fingerprint")
    parser.add_argument("--csv", type=Path, help="identify the dataset by its files (with --images)")
    parser.add_argument("--images", type=Path, help="the image folder or .zip (with --csv)")
    parser.add_argument("--cap", type=float, help="set the owner's ε cap for this dataset")
    parser.add_argument("--no-cap", action="store_true", help="remove the cap")
    parser.add_argument("--name", help="confirm (rename) the dataset's name")
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    book = _chosen(args)
    if book is None:
        everything = db.books()
        if args.json:
            print(json.dumps([_as_dict(db.spend(b), b) for b in everything], indent=1))
        elif not everything:
            print("no dataset has been charged yet: a dataset's book starts with its first job")
        for b in [] if args.json else everything:
            print(f"{b.name} ({b.fingerprint[:12]}): {db.spend(b).sentence()}")
        return 0
    if args.cap is not None or args.no_cap:
        book = db.set_cap(book.fingerprint, None if args.no_cap else args.cap)
    if args.name:
        book = db.rename(book.fingerprint, args.name)
    spent = db.spend(book)
    if args.json:
        print(json.dumps(_as_dict(spent, book), indent=1))
        return 0
    print(f"{book.name} ({book.fingerprint[:12]}): {spent.sentence()} ({spent.jobs} job(s)), δ = {spent.delta:.3g}")
    print(f"  composed by {spent.method}")
    if spent.non_private_runs:
        print(f"  plus {spent.non_private_runs} non-private reference run(s): the owner's view only, never released")
    for charge in book.charges:
        eps = sum(r.epsilon for r in charge.runs if r.private)
        print(
            f"  {charge.at}  {charge.kind:<6} job {charge.job_id}  {charge.state:<8}  ε = {eps:g} over "
            f"{sum(r.private for r in charge.runs)} run(s)"
        )
    return 0


def _chosen(args: argparse.Namespace) -> db.Book | None:
    if args.csv or args.images:
        if not (args.csv and args.images):
            raise InputError(
                "--csv and --images go together",
                where="--csv/--images",
                hint="Give both, or name the dataset with --dataset.",
            )
        fp = db.fingerprint(args.csv, args.images)
        book = db.load_book(fp)
        if book is None:  # nothing charged yet: setting a cap or a name starts its book
            if args.cap is None and not args.name:
                raise InputError(
                    "nothing has been charged to this dataset yet",
                    where=str(args.csv),
                    hint="Its book starts with its first job, or with --cap / --name.",
                )
            book = db.rename(fp, args.name or args.csv.stem)
        return book
    if args.dataset:
        return db.find_book(args.dataset)
    if args.cap is not None or args.no_cap or args.name:
        raise InputError("which dataset?", where="--cap/--name", hint="Add --dataset NAME, or --csv and --images.")
    return None


def _as_dict(spent: db.Spend, book: db.Book) -> dict:
    return {
        "name": book.name,
        "fingerprint": book.fingerprint,
        "epsilon": spent.epsilon,
        "delta": spent.delta,
        "cap": spent.cap,
        "runs": spent.runs,
        "jobs": spent.jobs,
        "method": spent.method,
        "non_private_runs": spent.non_private_runs,
        "sentence": spent.sentence(),
        "charges": [
            {
                "job_id": c.job_id,
                "kind": c.kind,
                "state": c.state,
                "at": c.at,
                "epsilon": sum(r.epsilon for r in c.runs if r.private),
                "runs": [
                    {
                        "label": r.label,
                        "epsilon": r.epsilon,
                        "delta": r.delta,
                        "private": r.private,
                        "settled": r.entries is not None,
                    }
                    for r in c.runs
                ],
            }
            for c in book.charges
        ],
    }
