"""The one pass over a CSV + image folder/zip that both inspection and loading use.

Order of the checks, and why: the CSV is parsed first (its problems stop everything else); the
image source is located (a zip is extracted safely into ``workspace/uploads/<hash>/``); the image
and person columns are settled; every row's reference is resolved (missing files), every referenced
file is decoded once (corrupt, non-image, too large); rows that survive are bounded to one per
person (first in file order) *before* duplicate image references are checked, so that two rows of
the same person sharing a file are not reported twice. Whatever is dropped is reported.
"""

from __future__ import annotations

import zipfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from dptab_core.data.archive import extract_zip_safely, zip_digest
from dptab_core.data.csv_reader import read_csv
from dptab_core.data.images import ImageIndex, ProgressFn, detect_image_column, load_images
from dptab_core.data.infer import looks_like_person_name, propose_person_columns
from dptab_core.data.validate import IngestPolicy, ValidationIssue, make_issue
from dptab_core.errors import DataError
from dptab_core.workspace import workspace_root

NO_PERSON_COLUMN = ""
"""Pass as ``person_column`` to say the data has no person column (each row is one person)."""


@dataclass
class Scan:
    """Everything one pass found: kept rows (text cells), their converted images (RGB), and issues."""

    issues: list[ValidationIssue] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    frame: pd.DataFrame = field(default_factory=pd.DataFrame)
    pixels: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 0, 3), np.uint8))
    image_names: list[str] = field(default_factory=list)
    n_rows_read: int = 0
    encoding: str = ""
    delimiter: str = ""
    images_root: Path | None = None
    n_image_files: int = 0
    image_column: str | None = None
    image_match_shares: dict[str, float] = field(default_factory=dict)
    person_column: str | None = None
    person_candidates: list[str] = field(default_factory=list)
    rows_dropped_per_person: int = 0
    image_mode: str = "RGB"

    @property
    def fatal(self) -> bool:
        return any(i.severity == "fatal" for i in self.issues)


def scan_dataset(
    csv_path: Path,
    images_path: Path,
    *,
    image_column: str | None,
    person_column: str | None,
    policy: IngestPolicy,
    image_size: int,
    workspace: Path | None,
    progress: ProgressFn | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
) -> Scan:
    """Run every ingest check; see the module docstring for the order.

    ``encoding`` / ``delimiter``: the confirmed schema's (a job reads strictly with them); None proposes.
    """
    scan = Scan()
    table = read_csv(csv_path, policy=policy, encoding=encoding, delimiter=delimiter)
    scan.issues += table.issues
    scan.columns = [str(c) for c in table.frame.columns]
    scan.n_rows_read, scan.encoding, scan.delimiter = table.n_rows_read, table.encoding, table.delimiter
    scan.images_root = _image_root(Path(images_path), workspace, scan.issues)
    if table.frame.empty or scan.images_root is None:
        return scan
    index = ImageIndex(scan.images_root)
    scan.n_image_files = len(index.files)
    if not index.files:
        scan.issues.append(
            make_issue(
                "images_empty",
                str(images_path),
                "no image files were found",
                "Point to the folder (or zip) that holds the image files.",
            )
        )
        return scan
    frame, lines = table.frame, table.lines
    rows = [f"{csv_path.name} row {i + 1} (line {line})" for i, line in enumerate(lines)]
    if not _settle_image_column(scan, frame, index, image_column, csv_path):
        return scan
    _settle_person_column(scan, frame, person_column, csv_path)
    resolved = [index.resolve(str(v)) if v is not None else None for v in frame[scan.image_column].tolist()]
    alive = _resolve_references(scan, frame, index, rows, policy)
    pixels, gray = _decode(scan, resolved, index, rows, alive, policy, image_size, progress)
    alive = _bound_persons(scan, frame, alive, policy)
    alive = _duplicate_references(scan, resolved, rows, alive, policy)
    _orphans(scan, resolved, index)
    keep = [i for i in range(len(frame)) if alive[i]]
    scan.frame = frame.iloc[keep].reset_index(drop=True)
    scan.image_names = [resolved[i] or "" for i in keep]
    scan.pixels = np.stack([pixels[i] for i in keep]) if keep else np.zeros((0, image_size, image_size, 3), np.uint8)
    scan.image_mode = "L" if keep and all(gray[i] for i in keep) else "RGB"
    if not keep and not scan.fatal:
        scan.issues.append(
            make_issue(
                "too_few_rows",
                str(csv_path),
                "no usable rows remain after the checks",
                "Fix the problems listed above instead of dropping the rows.",
            )
        )
    return scan


def _image_root(images_path: Path, workspace: Path | None, issues: list[ValidationIssue]) -> Path | None:
    """The folder holding the images: the path itself, or a safe extraction of a zip into the workspace."""
    if not images_path.exists():
        issues.append(
            make_issue(
                "images_not_found",
                str(images_path),
                "no such folder or zip file",
                "Check the path to the image folder or the uploaded zip.",
            )
        )
        return None
    if images_path.is_dir():
        return images_path
    if not zipfile.is_zipfile(images_path):
        issues.append(
            make_issue(
                "images_not_found",
                str(images_path),
                "this is neither a folder nor a zip file",
                "Give the folder holding the images, or a .zip of them.",
            )
        )
        return None
    root = Path(workspace) if workspace is not None else workspace_root()
    try:
        dest = root.resolve() / "uploads" / zip_digest(images_path)
        return extract_zip_safely(images_path, dest)
    except DataError as exc:  # its message already names the zip and says what to do
        issues.append(
            make_issue(
                "zip_refused",
                str(images_path),
                exc.what,
                exc.hint or "Zip only the image files, without links, nested archives or '..' paths, and upload again.",
            )
        )
        return None
    except OSError as exc:
        issues.append(
            make_issue(
                "zip_refused",
                str(images_path),
                f"the zip could not be read ({exc.strerror or exc})",
                "Check the file is a complete .zip (download or copy it again) and upload again.",
            )
        )
        return None


def _settle_image_column(scan: Scan, frame: pd.DataFrame, index: ImageIndex, given: str | None, csv_path: Path) -> bool:
    """Use the given image column or detect it; False (with a fatal issue) when there is none."""
    detected, scan.image_match_shares = detect_image_column(frame, index)
    if given is not None and given not in frame.columns:
        scan.issues.append(
            make_issue(
                "image_column_not_found",
                str(csv_path),
                f"there is no column {given!r}",
                f"Choose one of: {', '.join(map(str, frame.columns))}.",
            )
        )
        return False
    scan.image_column = given if given is not None else detected
    if scan.image_column is None:
        best = max(scan.image_match_shares, key=scan.image_match_shares.get, default=None)
        example = ", ".join(index.files[:3])
        scan.issues.append(
            make_issue(
                "image_column_not_found",
                str(csv_path),
                "no column's values match the image files"
                + (f" (best: {best!r}, {scan.image_match_shares[best]:.0%} of its values match)" if best else ""),
                f"The image files look like {example}; the CSV needs a column with those names or paths "
                "(with or without the extension), or name it with --image-column.",
            )
        )
        return False
    return True


def _settle_person_column(scan: Scan, frame: pd.DataFrame, given: str | None, csv_path: Path) -> None:
    """Use the given person column, or propose the best candidate whose name says it names a person."""
    scan.person_candidates = propose_person_columns(frame, image_column=scan.image_column)
    if given == NO_PERSON_COLUMN:
        scan.person_column = None
    elif given is not None:
        if given not in frame.columns:
            scan.issues.append(
                make_issue(
                    "person_column_not_found",
                    str(csv_path),
                    f"there is no column {given!r}",
                    f"Choose one of: {', '.join(map(str, frame.columns))}.",
                )
            )
        else:
            scan.person_column = given
    else:
        scan.person_column = next((c for c in scan.person_candidates if looks_like_person_name(c)), None)


def _resolve_references(
    scan: Scan, frame: pd.DataFrame, index: ImageIndex, rows: list[str], policy: IngestPolicy
) -> list[bool]:
    """Rows whose image reference names one existing file; the rest are reported (and dropped)."""
    alive = [True] * len(frame)
    for i, value in enumerate(frame[scan.image_column].tolist()):
        if value is None:
            scan.issues.append(
                make_issue(
                    "image_ref_empty",
                    rows[i],
                    f"the image column {scan.image_column!r} is empty",
                    "Fill in the image file name, or choose to drop rows without images.",
                    policy,
                )
            )
            alive[i] = False
            continue
        found = index.candidates(str(value))
        if not found:
            scan.issues.append(
                make_issue(
                    "image_missing",
                    rows[i],
                    f"image {value!r} not found in the image folder",
                    "Add the missing image files, or choose to drop rows whose image is missing.",
                    policy,
                )
            )
            alive[i] = False
        elif len(found) > 1:
            scan.issues.append(
                make_issue(
                    "image_ambiguous",
                    rows[i],
                    f"image {value!r} matches {len(found)} files; using {found[0]!r}",
                    "Write the file name with its extension in the CSV.",
                )
            )
    return alive


def _decode(
    scan: Scan,
    resolved: list[str | None],
    index: ImageIndex,
    rows: list[str],
    alive: list[bool],
    policy: IngestPolicy,
    size: int,
    progress: ProgressFn | None,
) -> tuple[dict[int, np.ndarray], dict[int, bool]]:
    """Decode each referenced file once; rows whose file fails are reported (and dropped)."""
    files: dict[str, list[int]] = defaultdict(list)
    for i, name in enumerate(resolved):
        if alive[i] and name is not None:
            files[name].append(i)
    names = list(files)
    results = load_images([index.path(n) for n in names], size=size, progress=progress)
    pixels: dict[int, np.ndarray] = {}
    gray: dict[int, bool] = {}
    hints = {
        "image_corrupt": "Replace the file with a good copy, or choose to drop rows with broken images.",
        "image_not_an_image": "Replace it with the image it should be, or choose to drop rows with broken images.",
        "image_too_large": "Downscale the image (it is far larger than any model input), or choose to drop it.",
    }
    for name, result in zip(names, results, strict=True):
        if result.pixels is None:
            where = f"{name} (used by {', '.join(rows[i] for i in files[name][:3])})"
            scan.issues.append(make_issue(result.error_rule, where, result.error, hints[result.error_rule], policy))
            for i in files[name]:
                alive[i] = False
            continue
        for i in files[name]:
            pixels[i], gray[i] = result.pixels, result.grayscale
    return pixels, gray


def _bound_persons(scan: Scan, frame: pd.DataFrame, alive: list[bool], policy: IngestPolicy) -> list[bool]:
    """Keep each person's first usable row (rows without a person value count as their own person)."""
    if scan.person_column is None:
        scan.issues.append(
            make_issue(
                "person_unconfirmed",
                "dataset",
                "no person column: every row is assumed to be a different person",
                "Confirm this, or name the column that identifies people (e.g. patient_id) if one person can have several rows.",
            )
        )
        return alive
    if not policy.keep_one_row_per_person:
        scan.issues.append(
            make_issue(
                "person_unbounded",
                f"column {scan.person_column!r}",
                "all rows of each person are kept",
                "Differential privacy then protects single rows, not people; keep one row per person unless you account "
                "for group privacy yourself.",
            )
        )
        return alive
    seen: set[str] = set()
    dropped = 0
    for i, person in enumerate(frame[scan.person_column].tolist()):
        if not alive[i] or person is None:
            continue
        if person in seen:
            alive[i] = False
            dropped += 1
        seen.add(person)
    scan.rows_dropped_per_person = dropped
    if dropped:
        scan.issues.append(
            make_issue(
                "person_rows_dropped",
                f"column {scan.person_column!r}",
                f"{dropped} rows dropped to keep one row per person (each person's first row is kept)",
                "This is what makes one person = one row + its image; nothing to do unless the column is not a person.",
            )
        )
    return alive


def _duplicate_references(
    scan: Scan, resolved: list[str | None], rows: list[str], alive: list[bool], policy: IngestPolicy
) -> list[bool]:
    """Two kept rows naming one file break one-row-one-image; every such row is reported (and dropped).

    All rows sharing a file go, not only the later ones: were the first kept, adding one person whose
    row names someone else's image would remove that other person's row too, so one person could
    change two rows and the privacy guarantee's unit would silently double.
    """
    users: dict[str, list[int]] = {}
    for i, name in enumerate(resolved):
        if alive[i] and name is not None:
            users.setdefault(name, []).append(i)
    for name, indices in users.items():
        if len(indices) < 2:
            continue
        for i in indices:
            others = ", ".join(rows[j] for j in indices if j != i)
            scan.issues.append(
                make_issue(
                    "image_duplicate_ref",
                    rows[i],
                    f"refers to image {name!r}, also used by {others}",
                    "Give each row its own image (or name the person column if these rows are one person), or choose "
                    "to drop every row that shares an image.",
                    policy,
                )
            )
            alive[i] = False
    return alive


def _orphans(scan: Scan, resolved: list[str | None], index: ImageIndex) -> None:
    """Image files no row refers to: a warning (they are ignored), listing each file."""
    used = set(resolved)
    for name in index.files:
        if name not in used:
            scan.issues.append(
                make_issue(
                    "image_orphan",
                    name,
                    "no row refers to this file; it is ignored",
                    "Nothing to do, unless a row's image name is misspelt.",
                )
            )
