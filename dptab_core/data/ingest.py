"""Ingest: a CSV plus an image folder or zip → a validation report, a schema proposal, paired arrays.

Two entry points share one scan (:mod:`.scan`): :func:`inspect_dataset` reports what it found and
proposes a schema without raising for bad data (the page lists the issues); :func:`load_paired_dataset`
applies a confirmed schema and raises one :class:`DataError` naming every fatal file and row.

Privacy unit: DP protects one *person*. With a person column (proposed automatically when a column
such as ``lesion_id`` repeats over a few rows), each person's first row is kept (file order, so the
result is deterministic) and the drop count is reported; without one, the report asks the user to
confirm that every row is a different person.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dptab_core.data.archive import extract_zip_safely
from dptab_core.data.images import ProgressFn, to_mode
from dptab_core.data.infer import DEFAULT_INFERENCE_CONFIG, propose_schema, rare_categories, typed_table
from dptab_core.data.scan import NO_PERSON_COLUMN, scan_dataset
from dptab_core.data.schema import Schema
from dptab_core.data.validate import STRICT_POLICY, IngestPolicy, ValidationIssue, make_issue, raise_for_fatal

__all__ = [
    "NO_PERSON_COLUMN",
    "IngestPolicy",
    "Inspection",
    "PairedDataset",
    "ValidationIssue",
    "extract_zip_safely",
    "inspect_dataset",
    "load_paired_dataset",
]


@dataclass
class Inspection:
    """What :func:`inspect_dataset` found: the validation report and the schema proposal.

    ``schema`` is None only when the data could not be read far enough to propose one (an empty CSV,
    no image column). Its domains are proposals (``public=False`` everywhere). ``person_column`` is the
    one used for the counts (given, or proposed: the first of ``person_column_candidates`` whose name
    says so). ``needs_person_confirmation``: no person column, so the user must confirm that every
    row belongs to a different person.
    """

    issues: list[ValidationIssue]
    schema: Schema | None
    n_rows_read: int
    n_rows_kept: int
    person_column_candidates: list[str]
    rows_dropped_per_person: int
    image_mode: str
    csv_path: Path
    images_root: Path | None
    image_column: str | None
    person_column: str | None
    n_image_files: int
    image_size: int
    encoding: str = ""
    delimiter: str = ""
    image_match_shares: dict[str, float] = field(default_factory=dict)
    preview_files: list[str] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)

    def ok(self) -> bool:
        """True when no issue is fatal (the data can be used as the policy stands)."""
        return not any(i.severity == "fatal" for i in self.issues)

    @property
    def needs_person_confirmation(self) -> bool:
        return self.person_column is None and not (self.schema and self.schema.one_row_per_person_confirmed)

    def issues_of(self, severity: str) -> list[ValidationIssue]:
        return [i for i in self.issues if i.severity == severity]

    def raise_for_fatal(self) -> None:
        """Raise one DataError naming every fatal file/row, with what to do."""
        raise_for_fatal(self.issues)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able report: counts, schema proposal and every issue."""
        return {
            "ok": self.ok(),
            "csv_path": str(self.csv_path),
            "images_root": str(self.images_root) if self.images_root else None,
            "encoding": self.encoding,
            "delimiter": self.delimiter,
            "n_rows_read": self.n_rows_read,
            "n_rows_kept": self.n_rows_kept,
            "n_image_files": self.n_image_files,
            "columns": self.columns,
            "image_column": self.image_column,
            "image_match_shares": self.image_match_shares,
            "image_mode": self.image_mode,
            "image_size": self.image_size,
            "person_column": self.person_column,
            "person_column_candidates": self.person_column_candidates,
            "rows_dropped_per_person": self.rows_dropped_per_person,
            "needs_person_confirmation": self.needs_person_confirmation,
            "counts": {s: len(self.issues_of(s)) for s in ("fatal", "skipped", "warning")},
            "issues": [i.to_dict() for i in self.issues],
            "schema": self.schema.to_dict() if self.schema else None,
        }


def inspect_dataset(
    csv_path: Path,
    images_path: Path,
    *,
    image_column: str | None = None,
    person_column: str | None = None,
    policy: IngestPolicy = STRICT_POLICY,
    image_size: int = 32,
    workspace: Path | None = None,
    confirm_one_row_per_person: bool = False,
    progress: ProgressFn | None = None,
) -> Inspection:
    """Validate ``csv_path`` + ``images_path`` (folder or .zip) and propose a schema; never raises for bad data.

    ``person_column``: None proposes one; :data:`NO_PERSON_COLUMN` (``""``) says there is none.
    ``confirm_one_row_per_person``: the user's confirmation that every row is a different person
    (recorded in the schema; only meaningful without a person column).
    """
    scan = scan_dataset(
        Path(csv_path),
        Path(images_path),
        image_column=image_column,
        person_column=person_column,
        policy=policy,
        image_size=image_size,
        workspace=workspace,
        progress=progress,
    )
    schema = None
    if scan.image_column is not None and not scan.frame.empty:
        schema = propose_schema(
            scan.frame,
            image_column=scan.image_column,
            person_column=scan.person_column,
            image_size=image_size,
            image_mode=scan.image_mode,
            encoding=scan.encoding or None,
            delimiter=scan.delimiter or None,
        )
        scan.issues += _rare_category_issues(scan.frame, schema)
        if confirm_one_row_per_person and scan.person_column is None:
            schema = replace(schema, one_row_per_person_confirmed=True)
    return Inspection(
        issues=scan.issues,
        schema=schema,
        n_rows_read=scan.n_rows_read,
        n_rows_kept=len(scan.frame),
        person_column_candidates=scan.person_candidates,
        rows_dropped_per_person=scan.rows_dropped_per_person,
        image_mode=scan.image_mode,
        csv_path=Path(csv_path),
        images_root=scan.images_root,
        image_column=scan.image_column,
        person_column=scan.person_column,
        n_image_files=scan.n_image_files,
        image_size=image_size,
        encoding=scan.encoding,
        delimiter=scan.delimiter,
        image_match_shares=scan.image_match_shares,
        preview_files=scan.image_names[:16],
        columns=scan.columns,
    )


def _rare_category_issues(frame: pd.DataFrame, schema: Schema) -> list[ValidationIssue]:
    """A warning per categorical column with categories held by fewer than a handful of rows."""
    out = []
    for column in schema.columns:
        if column.kind != "categorical" or column.name not in frame.columns:
            continue
        rare = rare_categories(typed_table(frame[[column.name]], schema)[column.name].dropna().value_counts())
        if rare:
            out.append(
                make_issue(
                    "rare_category",
                    f"column {column.name!r}",
                    f"{len(rare)} categor{'y is' if len(rare) == 1 else 'ies are'} held by fewer than "
                    f"{DEFAULT_INFERENCE_CONFIG.rare_count} rows",
                    "Do not tick this list as public unless it is a published code list: it would be "
                    "released verbatim and name those few people. Left unticked, DP drops rare ones.",
                )
            )
    return out


@dataclass
class PairedDataset:
    """The rows and images a job may use: one row per person, images aligned with rows.

    ``table``: the kept rows with every original column, typed by the schema (numbers for numeric
    columns, text elsewhere, ``<NA>`` for missing). ``images``: uint8 ``(n, H, W, C)``, C = 1 for
    mode L and 3 for RGB, row ``i`` ↔ ``images[i]``. ``image_names``: each row's file, relative to
    the image folder.
    """

    table: pd.DataFrame
    images: np.ndarray
    image_names: list[str]
    schema: Schema
    issues: list[ValidationIssue]

    def __len__(self) -> int:
        return len(self.table)


def load_paired_dataset(
    csv_path: Path,
    images_path: Path,
    schema: Schema,
    *,
    policy: IngestPolicy = STRICT_POLICY,
    workspace: Path | None = None,
    progress: ProgressFn | None = None,
) -> PairedDataset:
    """Load the data under a confirmed ``schema``; raises :class:`DataError` naming every fatal problem."""
    scan = scan_dataset(
        Path(csv_path),
        Path(images_path),
        image_column=schema.image_column,
        person_column=schema.person_column or NO_PERSON_COLUMN,
        policy=policy,
        image_size=schema.image_size,
        workspace=workspace,
        progress=progress,
        encoding=schema.encoding,
        delimiter=schema.delimiter,
    )
    issues = list(scan.issues)
    if not scan.frame.empty:
        expected = [c.name for c in schema.columns]
        if list(scan.frame.columns) != expected:
            missing = [c for c in expected if c not in scan.frame.columns]
            extra = [c for c in scan.frame.columns if c not in expected]
            issues.append(
                make_issue(
                    "schema_mismatch",
                    str(csv_path),
                    f"the CSV's columns differ from the schema's (missing: {missing or 'none'}; "
                    f"not in the schema: {extra or 'none'})",
                    "Inspect the CSV again to make a schema that matches it.",
                )
            )
    raise_for_fatal(issues)
    return PairedDataset(
        table=typed_table(scan.frame, schema).reset_index(drop=True),
        images=to_mode(scan.pixels, schema.image_mode),
        image_names=scan.image_names,
        schema=schema,
        issues=issues,
    )
