"""``python -m dptab_core inspect``: validate a CSV + image folder or zip and propose a schema.

Prints a plain-words report (or ``--json``), optionally writes the schema proposal, and exits 0 when
nothing is fatal, 2 otherwise with every bad file and row named on stderr.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from dptab_core.data.ingest import NO_PERSON_COLUMN, IngestPolicy, Inspection, inspect_dataset
from dptab_core.data.validate import format_issues
from dptab_core.privacy.person_unit import KEPT_ROW_RULE, proxy_hint

log = logging.getLogger(__name__)


def register(parser: argparse.ArgumentParser) -> None:
    """Add the ``inspect`` arguments to ``parser``."""
    parser.add_argument("--csv", type=Path, required=True, help="the table: one row per person, with a header")
    parser.add_argument("--images", type=Path, required=True, help="the folder (or .zip) holding the images")
    parser.add_argument("--image-column", help="the column naming each row's image (detected when omitted)")
    person = parser.add_mutually_exclusive_group()
    person.add_argument(
        "--person-column",
        help="the column naming the person when one person may have several rows "
        "(proposed when omitted); one row per person is kept",
    )
    person.add_argument(
        "--one-row-per-person",
        action="store_true",
        help="confirm there is no person column: every row is a different person",
    )
    parser.add_argument(
        "--keep-all-person-rows",
        action="store_true",
        help="keep every row of a person (DP then protects rows, not people)",
    )
    parser.add_argument(
        "--drop-missing", action="store_true", help="drop rows whose image is missing instead of failing"
    )
    parser.add_argument(
        "--drop-corrupt",
        action="store_true",
        help="drop rows whose image is corrupt, not an image or too large instead of failing",
    )
    parser.add_argument(
        "--drop-ragged",
        action="store_true",
        help="drop rows with a different number of fields than the header instead of failing",
    )
    parser.add_argument(
        "--drop-duplicate-images",
        action="store_true",
        help="drop every row whose image file another row also names (the first too) instead of failing",
    )
    parser.add_argument("--image-size", type=int, default=32, help="side of the square images models see (default 32)")
    parser.add_argument("--workspace", type=Path, help="where a zip is extracted (default: $DPTAB_HOME or ./workspace)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--schema-out",
        type=Path,
        help="write the proposed schema.json here (also when issues remain); edit it to declare "
        "facts (public, bounds, missing, binning/edges, image_mode, encoding, delimiter), "
        "then pass it to synth --schema",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Inspect, report, and map the outcome to an exit code."""
    policy = IngestPolicy(
        drop_missing_images=args.drop_missing,
        drop_corrupt_images=args.drop_corrupt,
        drop_ragged_rows=args.drop_ragged,
        drop_duplicate_image_refs=args.drop_duplicate_images,
        keep_one_row_per_person=not args.keep_all_person_rows,
    )
    person = NO_PERSON_COLUMN if args.one_row_per_person else args.person_column
    interactive = sys.stderr.isatty()

    def progress(done: int, total: int) -> None:
        if interactive:
            print(f"\rchecking images: {done}/{total}", end="" if done < total else "\n", file=sys.stderr)

    inspection = inspect_dataset(
        args.csv,
        args.images,
        image_column=args.image_column,
        person_column=person,
        policy=policy,
        image_size=args.image_size,
        workspace=args.workspace,
        confirm_one_row_per_person=args.one_row_per_person,
        progress=progress,
    )
    if args.schema_out and inspection.schema is not None:
        inspection.schema.save(args.schema_out)
    if args.json:
        print(json.dumps(inspection.to_dict(), indent=2))
    else:
        print(human_report(inspection))
    if not inspection.ok():
        fatal = inspection.issues_of("fatal")
        hints = " ".join(dict.fromkeys(i.hint for i in fatal))
        print(
            f"error: {len(fatal)} problem(s) must be fixed:\n{format_issues(fatal)}\nWhat to do: {hints}",
            file=sys.stderr,
        )
        return 2
    return 0


def human_report(inspection: Inspection) -> str:
    """The inspection in plain words: counts, columns, person rule, then issues by severity."""
    i = inspection
    lines = [
        f"CSV: {i.csv_path} ({i.encoding or '?'}, delimiter {i.delimiter!r}) — {i.n_rows_read} rows read, "
        f"{i.n_rows_kept} kept",
        f"Images: {i.images_root} — {i.n_image_files} files; column {i.image_column!r}; "
        f"converted to {i.image_size}×{i.image_size} {i.image_mode} (centre crop to square, Lanczos resize)",
    ]
    if i.person_column:
        lines.append(
            f"Person column: {i.person_column!r} — one row per person ({KEPT_ROW_RULE}), "
            f"{i.rows_dropped_per_person} rows dropped"
        )
        if proxy_hint(i.person_column):
            lines.append(f"WARNING: {proxy_hint(i.person_column)}")
    elif i.needs_person_confirmation:
        lines.append(
            "Person column: none — confirm that every row is a different person (--one-row-per-person), "
            f"or name one with --person-column (candidates: {', '.join(i.person_column_candidates) or 'none'})"
        )
    if i.schema is not None:
        lines.append(
            "Schema proposal (every fact is pre-filled from the data and NOT public until you declare it in "
            "schema.json; undeclared ones are paid from the privacy budget):"
        )
        lines.append(
            f"  file: encoding {i.schema.encoding!r}, delimiter {i.schema.delimiter!r}, images "
            f"{i.schema.image_mode} — a job reads strictly with these"
        )
        for col in i.schema.columns:
            domain = (f" bounds {col.bounds}" if col.bounds else "") + (
                f" {len(col.categories)} categories" if col.categories else ""
            )
            facts = ""
            if col.synthesized:
                facts = f" blanks {col.missing}" + (f", bins {col.binning}" if col.kind == "numeric" else "")
                facts += f"; paid: {', '.join(col.paid_facts)}" if col.paid_facts else "; all declared"
            lines.append(f"  {col.name}: {col.kind} ({col.dtype}){domain}{facts} — {col.note}")
    for severity, title in (("fatal", "MUST FIX"), ("skipped", "Dropped by your choice"), ("warning", "Warnings")):
        found = i.issues_of(severity)
        if found:
            lines.append(f"{title} ({len(found)}):")
            lines += ["  " + line for line in format_issues(found, per_rule=10).splitlines()]
    lines.append("OK: no fatal problems." if i.ok() else "NOT OK: fix the problems above (details on stderr).")
    return "\n".join(lines)
