"""Uploads in the workspace: written as a stream, capped in size, listed and deleted by their owner.

* :func:`save_stream` / :func:`save_folder_stream` copy an uploaded file (or a directory upload)
  to disk in blocks, hashing as they go: a 2 GB upload is held once (by the web server), never a
  second time as one ``bytes`` object in the app process.
* :func:`check_table_size` refuses a table over :data:`LIMITS` (rows, columns, cells) with a message
  that names the count and the cap, before anything parses it into memory.
* :func:`list_uploads`, :func:`delete_upload` and :func:`delete_job` let the user remove what they
  put in the workspace. A job's spend stays on its dataset's privacy budget book after the job is
  deleted: deleting records never undoes a release.

Uploads keep the layout of :mod:`dptab_core.user_data` (``uploads/files/<sha16>/<name>``, folders as
``uploads/<kind>-<sha16>/``); zips are extracted elsewhere (``uploads/<zip sha16>/``), never into the
folder that holds the zip.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from dptab_core.errors import DataError, InputError
from dptab_core.workspace import is_inside, workspace_dir

BLOCK = 1 << 20


@dataclass(frozen=True)
class UploadLimits:
    """How large a table the app accepts, each with its reason."""

    # DP needs hundreds of rows; past a million, a 2-core machine spends hours in the table model
    # and the images alone (one per row) run to tens of GB.
    max_rows: int = 1_000_000
    # The table synthesizers measure pairs of columns: past a few hundred, planning and fitting
    # become impractical, and such a file is usually a wide export that needs selecting first.
    max_columns: int = 500
    # Rows × columns bounds the memory of the parsed table (~100 bytes a cell as text in pandas).
    max_cells: int = 20_000_000


LIMITS = UploadLimits()


def check_table_size(path: Path, *, limits: UploadLimits = LIMITS) -> tuple[int, int]:
    """(rows, columns) of a CSV, counted as a stream; DataError as soon as a cap is passed.

    Quoted fields (newlines inside) count as one row, as the reader will see them. The delimiter is
    the most frequent of ``, ; tab |`` in the header line.
    """
    path = Path(path)
    with open(path, "rb") as raw:
        text = io.TextIOWrapper(raw, encoding="latin-1", newline="")  # byte-preserving; only counting here
        header = text.readline()
        delimiter = max(",;\t|", key=header.count)
        columns = len(next(csv.reader([header], delimiter=delimiter), []))
        if columns > limits.max_columns:
            raise DataError(
                f"the table has {columns:,} columns; the app takes at most {limits.max_columns:,}",
                where=path.name,
                hint="Keep only the columns to synthesize (and the image column), then upload again.",
            )
        rows = 0
        for _ in csv.reader(text, delimiter=delimiter):
            rows += 1
            if rows > limits.max_rows or rows * columns > limits.max_cells:
                what = (
                    f"more than {limits.max_rows:,} rows"
                    if rows > limits.max_rows
                    else f"more than {limits.max_cells:,} cells ({columns:,} columns × {rows:,}+ rows)"
                )
                raise DataError(
                    f"the table has {what}: the app's cap",
                    where=path.name,
                    hint="Take a random sample of the rows (or fewer columns) and upload that.",
                )
    return rows, columns


def save_stream(upload: BinaryIO, filename: str) -> Path:
    """Copy an uploaded file to ``uploads/files/<sha16>/<clean name>`` in blocks; return its path."""
    from dptab_core.user_data import clean_name

    staging = workspace_dir("uploads", ".staging")
    digest = hashlib.sha256()
    fd, tmp = tempfile.mkstemp(dir=staging)
    try:
        with os.fdopen(fd, "wb") as out:
            _copy(upload, out, digest)
        folder = workspace_dir("uploads", "files", digest.hexdigest()[:16])
        path = folder / clean_name(filename)
        if not path.is_file():
            os.replace(tmp, path)
        return path
    finally:
        Path(tmp).unlink(missing_ok=True)


def save_table_upload(upload: BinaryIO, filename: str, *, limits: UploadLimits = LIMITS) -> Path:
    """:func:`save_stream` for the table, then :func:`check_table_size`; a table over a cap is not kept."""
    path = save_stream(upload, filename)
    try:
        check_table_size(path, limits=limits)
    except DataError:
        shutil.rmtree(path.parent, ignore_errors=True)
        raise
    return path


def _copy(upload: BinaryIO, out: BinaryIO, digest) -> None:
    upload.seek(0)
    while block := upload.read(BLOCK):
        digest.update(block)
        out.write(block)


def save_folder_stream(
    files: Iterable[tuple[str, BinaryIO]], *, kind: str = "images"
) -> tuple[Path, str, int, list[str]]:
    """A directory upload written file by file: (root, the user's folder name, files written, refused names).

    Same layout and name rules as :func:`dptab_core.user_data.save_folder_upload`, without holding
    the files' bytes together in memory.
    """
    from dptab_core.user_data import safe_relative

    items = list(files)
    if not items:
        raise DataError("the folder upload holds no files", hint="Choose a folder that contains the image files.")
    rels = {name: safe_relative(name) for name, _ in items}
    tops = {r.parts[0] for r in rels.values() if r is not None and len(r.parts) > 1}
    strip_top = len(tops) == 1 and all(r is None or len(r.parts) > 1 for r in rels.values())
    building = Path(tempfile.mkdtemp(dir=workspace_dir("uploads", ".staging")))
    digest, refused, written = hashlib.sha256(), [], 0
    try:
        for name, upload in sorted(items, key=lambda item: item[0]):
            rel = rels[name]
            if rel is None:
                refused.append(name)
                continue
            rel = PurePosixPath(*rel.parts[1:]) if strip_top else rel
            target = building.joinpath(*rel.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            file_digest = hashlib.sha256()
            with open(target, "wb") as out:
                _copy(upload, out, file_digest)
            digest.update(name.encode("utf-8", "replace") + b"\0" + file_digest.digest())
            written += 1
        root = workspace_dir("uploads") / f"{kind}-{digest.hexdigest()[:16]}"
        if not root.exists():
            os.replace(building, root)
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return root, (next(iter(tops)) if strip_top else root.name), written, refused


@dataclass(frozen=True)
class StoredUpload:
    """One upload folder in the workspace: what it is, how big, and which unfinished jobs read it."""

    path: Path
    label: str
    size_bytes: int
    used_by: tuple[str, ...]


def list_uploads() -> list[StoredUpload]:
    """Every upload (files, folders, extracted zips) in the workspace, newest first."""
    root = workspace_dir("uploads")
    folders = [p for p in (root / "files").glob("*") if p.is_dir()] if (root / "files").is_dir() else []
    folders += [p for p in root.iterdir() if p.is_dir() and p.name not in ("files", ".staging")]
    active = _active_job_paths()
    found = []
    for folder in folders:
        files = [p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")]
        label = (
            files[0].name
            if folder.parent.name == "files" and len(files) == 1
            else f"{folder.name}/ ({len(files)} files)"
        )
        users = tuple(sorted(job for job, paths in active.items() if any(is_inside(p, folder) for p in paths)))
        found.append(StoredUpload(folder, label, sum(p.stat().st_size for p in files), users))
    return sorted(found, key=lambda u: u.path.stat().st_mtime, reverse=True)


def delete_upload(path: Path) -> None:
    """Delete one upload folder; refused outside ``uploads/`` or while an unfinished job reads it."""
    root = workspace_dir("uploads")
    path = Path(path)
    if not is_inside(path, root) or path.resolve() in (root.resolve(), (root / "files").resolve()):
        raise InputError("only an upload inside the workspace's uploads/ folder can be deleted here", where=str(path))
    users = [u for u in list_uploads() if u.path.resolve() == path.resolve()]
    if users and users[0].used_by:
        raise InputError(
            f"job(s) {', '.join(users[0].used_by)} still read this upload",
            where=users[0].label,
            hint="Wait for them to finish or cancel them, then delete it.",
        )
    shutil.rmtree(path)


def delete_job(job_id: str) -> None:
    """Delete a finished job's folder (checkpoints, owner's view, logs) and its outputs inside the workspace.

    Its privacy spend stays on its dataset's book. Outputs written outside the workspace (``synth
    --out``) are the user's files and are left alone.
    """
    from dptab_core.jobs import JobStateError, JobStore

    store = JobStore()
    job = store.get(job_id)
    with store.locked(), job.locked():
        if job.problem() is None:
            status = job.status()
            if not status.finished:
                raise JobStateError(f"job {job_id} is {status.state}", hint="Cancel it first, then delete it.")
            output = job.output_path
            if output.exists() and is_inside(output, workspace_dir()) and not is_inside(output, job.dir):
                shutil.rmtree(output)
        doomed = job.dir.with_name(f".deleting-{job.id}")
        os.replace(job.dir, doomed)  # gone from every listing at once, even if the removal is interrupted
    shutil.rmtree(doomed, ignore_errors=True)


def _active_job_paths() -> dict[str, list[Path]]:
    from dptab_core.jobs import JobStore
    from dptab_core.privacy.dataset_budget import data_paths

    active = {}
    for job in JobStore().list():
        if not job.status().finished and (paths := data_paths(job.spec)):
            active[job.id] = [Path(p) for p in paths]
    return active
