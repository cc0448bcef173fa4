"""The user's own data in the workspace: uploads kept under their own names, folder uploads, the public
labelled image set, and the dataset the app is working on (remembered on disk across refreshes).

Everything lands under the workspace (``uploads/``, ``app/``); a name from the browser never decides
where bytes go beyond a cleaned, relative path inside a fresh folder.

* :func:`save_named_upload` stores one uploaded file as ``uploads/files/<sha16>/<clean name>`` so
  messages can name the user's file (``ham_subset.csv``, not ``upload.csv``), and a zip of images is
  never inside the folder it is extracted into (it would be counted as an image).
* :func:`save_folder_upload` stores the files of a directory upload, keeping their relative paths
  (``images/ISIC_001.jpg``) after refusing absolute paths, ``..`` and hidden parts.
* :func:`check_public_folder` reads a public labelled set laid out as ``<label>/<image>`` and says in
  plain words what is wrong with it.
* :func:`save_dataset_choice` / :func:`load_dataset_choice` keep the dataset the app works on in
  ``app/dataset.json``, so a browser refresh or a new tab finds it again.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from dptab_core.errors import DataError
from dptab_core.workspace import workspace_dir

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
CHOICE_FILE = "dataset.json"
MIN_PUBLIC_LABELS = 2
"""The semantic query picks labels by votes: with one label there is nothing to choose."""
MIN_PUBLIC_PER_LABEL = 5
"""A label with fewer images than this teaches the public classifier almost nothing: flagged."""
PREVIEW_LABELS = 12


def clean_name(filename: str, *, default: str = "upload") -> str:
    """A file name safe to create: the last path part, letters/digits/``._-`` only, at most 80 characters.

    >>> clean_name("../../My Data (v2).csv")
    'My_Data_v2_.csv'
    >>> clean_name("...")
    'upload'
    """
    base = PurePosixPath(str(filename).replace("\\", "/")).name
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", base).strip("._")[:80]
    return base or default


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_bytes(data)
    tmp.replace(path)


def save_named_upload(data: bytes, filename: str) -> Path:
    """Store one uploaded file under its cleaned name; identical bytes with the same name share a copy."""
    digest = hashlib.sha256(data).hexdigest()[:16]
    folder = workspace_dir("uploads", "files", digest)
    path = folder / clean_name(filename)
    if not path.is_file():
        _atomic_write(path, data)
    return path


def safe_relative(name: str) -> PurePosixPath | None:
    """A browser-supplied relative path, or None when it is absolute, climbs out or has hidden parts.

    >>> safe_relative("photos/a/ISIC_1.jpg"), safe_relative("../etc/passwd"), safe_relative("/abs.png")
    (PurePosixPath('photos/a/ISIC_1.jpg'), None, None)
    """
    text = str(name).replace("\\", "/")
    rel = PurePosixPath(text)
    if not text or rel.is_absolute() or re.match(r"^[A-Za-z]:", text):
        return None
    if any(part in ("", ".", "..") or part.startswith(".") for part in rel.parts):
        return None
    return rel


@dataclass
class FolderUpload:
    """Where a directory upload was written, and what was refused or skipped."""

    root: Path
    name: str
    n_files: int
    refused: list[str] = field(default_factory=list)


def save_folder_upload(files: Iterable[tuple[str, bytes]], *, kind: str = "images") -> FolderUpload:
    """Write a directory upload (``(relative name, bytes)`` pairs) into a fresh workspace folder.

    The browser names each file ``<chosen folder>/<sub path>``; the chosen folder's name is dropped so
    ``root`` *is* the user's folder. Unsafe names are refused (listed in ``refused``), never written.
    The folder is keyed by the upload's content, so uploading the same folder twice reuses it.
    """
    items = [(str(n), bytes(b)) for n, b in files]
    if not items:
        raise DataError("the folder upload holds no files", hint="Choose a folder that contains the image files.")
    digest = hashlib.sha256()
    for name, data in sorted(items):
        digest.update(name.encode("utf-8", "replace") + b"\0" + hashlib.sha256(data).digest())
    root = workspace_dir("uploads", f"{kind}-{digest.hexdigest()[:16]}")
    tops = {safe_relative(n).parts[0] for n, _ in items if safe_relative(n) and len(safe_relative(n).parts) > 1}
    strip_top = len(tops) == 1 and all((r := safe_relative(n)) is None or len(r.parts) > 1 for n, _ in items)
    refused, written = [], 0
    for name, data in items:
        rel = safe_relative(name)
        if rel is None:
            refused.append(name)
            continue
        if strip_top:
            rel = PurePosixPath(*rel.parts[1:])
        target = root.joinpath(*rel.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.is_file() or target.stat().st_size != len(data):
            _atomic_write(target, data)
        written += 1
    folder_name = next(iter(tops)) if strip_top else root.name
    return FolderUpload(root=root, name=folder_name, n_files=written, refused=refused)


@dataclass
class PublicFolderCheck:
    """A public labelled image set (``<label>/<image>``): its labels, counts and problems in plain words."""

    root: Path | None
    counts: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    previews: list[tuple[str, Path]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.root is not None and not self.problems

    @property
    def n_images(self) -> int:
        return sum(self.counts.values())


def check_public_folder(path: Path | str) -> PublicFolderCheck:
    """Check a public labelled image folder (or a zip of one, extracted safely into the workspace).

    Needs at least :data:`MIN_PUBLIC_LABELS` label sub-folders holding images; a single top folder
    wrapping the labels (``public/<label>/…``, as a zip of a folder usually is) is looked through.
    """
    from dptab_core.data.archive import extract_zip_safely, zip_digest

    path = Path(path).expanduser()
    if not path.exists():
        return PublicFolderCheck(None, problems=[f"{path}: no such folder or zip. Check the path."])
    if path.is_file():
        if not zipfile.is_zipfile(path):
            return PublicFolderCheck(
                None,
                problems=[
                    f"{path.name}: neither a folder nor a zip. Give a folder "
                    "laid out as <label>/<image files>, or a zip of one."
                ],
            )
        try:
            path = extract_zip_safely(path, workspace_dir("uploads") / f"public-{zip_digest(path)}")
        except DataError as exc:
            return PublicFolderCheck(None, problems=[str(exc)])
    subdirs = sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith((".", "__")))
    loose = [p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    if len(subdirs) == 1 and not loose:  # a zip or upload of one folder that holds the labels
        path = subdirs[0]
        subdirs = sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith((".", "__")))
        loose = [p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    check = PublicFolderCheck(path)
    for sub in subdirs:
        images = sorted(f for f in sub.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
        if images:
            check.counts[sub.name] = len(images)
            if len(check.previews) < PREVIEW_LABELS:
                check.previews.append((sub.name, images[0]))
    if loose:
        check.warnings.append(
            f"{len(loose)} image(s) lie directly in the folder, not in a label folder: they are "
            "ignored. Put each image in the folder named after its label."
        )
    if len(check.counts) < MIN_PUBLIC_LABELS:
        check.problems.append(
            f"found {len(check.counts)} label folder(s) with images; at least {MIN_PUBLIC_LABELS} "
            "are needed. Lay the set out as <label>/<image files>, one folder per label."
        )
    small = [label for label, n in check.counts.items() if n < MIN_PUBLIC_PER_LABEL]
    if small:
        check.warnings.append(
            f"{len(small)} label(s) have fewer than {MIN_PUBLIC_PER_LABEL} images "
            f"({', '.join(small[:5])}{'…' if len(small) > 5 else ''}): they will rarely be chosen."
        )
    return check


def _choice_path() -> Path:
    return workspace_dir("app") / CHOICE_FILE


def save_dataset_choice(choice: dict[str, Any]) -> Path:
    """Remember the dataset the app works on (JSON-able dict), atomically, in ``app/dataset.json``."""
    path = _choice_path()
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(choice, indent=2, default=str), encoding="utf-8")
    os.replace(tmp, path)
    return path


def load_dataset_choice() -> dict[str, Any] | None:
    """The remembered dataset, or None when there is none, it is unreadable, or its files are gone."""
    try:
        choice = json.loads(_choice_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(choice, dict):
        return None
    for key in ("csv_path", "images_path"):
        if not choice.get(key) or not Path(choice[key]).exists():
            return None
    return choice
