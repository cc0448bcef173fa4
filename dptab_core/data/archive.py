"""Safe extraction of an uploaded ``.zip`` of images into the workspace.

A zip from a user is untrusted input: a member named ``../../.bashrc`` or ``/etc/passwd`` (zip
slip), a symlink member pointing outside, a nested zip, or a small file that inflates to gigabytes
(zip bomb) must never write anything outside the workspace or fill the disk. So every member is
checked *before* anything is written, sizes are counted while writing (headers can lie), and the
extraction happens in a temporary folder that is renamed into place only when it is complete —
a refused or broken zip leaves nothing behind.

>>> ZipLimits().max_compression_ratio
200.0
"""

from __future__ import annotations

import hashlib
import shutil
import stat
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from dptab_core.errors import DataError

COMPLETE_MARKER = ".dptab-extracted"
"""Written last into an extraction folder; its presence means the folder is whole and reusable."""

_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")


@dataclass(frozen=True)
class ZipLimits:
    """Caps on what an uploaded zip may expand to, each with its reason.

    ``max_total_bytes``: 8 GiB — the full-resolution HAM10000 (10k dermatoscopy JPEGs) is ~3 GB;
    twice that still fits a laptop's disk, far beyond it is a bomb or the wrong archive.
    ``max_member_bytes``: 512 MiB — no single image or CSV we can use is larger.
    ``max_members``: 500,000 files — ten times the largest paired image sets we target.
    ``max_compression_ratio``: 200 — images (PNG/JPEG) barely compress (ratio ~1–2) and CSV text
    ~5–20; zip bombs reach 1,000 and more. Checked per member and for the whole archive.
    ``ratio_floor_bytes``: 1 MiB — members smaller than this are not ratio-checked (a tiny blank
    image can legitimately compress 300×, and it cannot hurt).
    """

    max_total_bytes: int = 8 * 1024**3
    max_member_bytes: int = 512 * 1024**2
    max_members: int = 500_000
    max_compression_ratio: float = 200.0
    ratio_floor_bytes: int = 1024**2


DEFAULT_ZIP_LIMITS = ZipLimits()


def zip_digest(zip_path: Path) -> str:
    """The first 16 hex digits of the zip's SHA-256: its extraction folder name (re-uploads reuse it)."""
    digest = hashlib.sha256()
    with open(zip_path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def save_upload(data: bytes, filename: str, *, workspace: Path) -> Path:
    """Store uploaded bytes as ``workspace/uploads/<sha16>/<name>`` and return the path.

    Only the file's extension is kept from the user's name (``table.csv``, ``images.zip``): a name
    like ``../../x.csv`` can never choose where the bytes land. Identical uploads share one copy.

    >>> import tempfile
    >>> path = save_upload(b"a,b\\n1,2\\n", "../../evil.csv", workspace=Path(tempfile.mkdtemp()))
    >>> path.parent.parent.name, path.name
    ('uploads', 'upload.csv')
    """
    suffix = "".join(c for c in Path(filename).suffix.lower() if c.isalnum() or c == ".")[:8]
    folder = Path(workspace) / "uploads" / hashlib.sha256(data).hexdigest()[:16]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"upload{suffix}"
    if not path.is_file():
        tmp = folder / f".{path.name}.partial"
        tmp.write_bytes(data)
        tmp.replace(path)
    return path


def extract_zip_safely(zip_path: Path, dest: Path, *, limits: ZipLimits = DEFAULT_ZIP_LIMITS) -> Path:
    """Extract ``zip_path`` into the folder ``dest`` (created; must not exist unless complete) and return it.

    Raises :class:`DataError` naming every offending member when the archive is unreadable or any
    member is unsafe (absolute path, ``..``, symlink, nested zip) or the archive exceeds ``limits``.
    Nothing is written when it refuses. A ``dest`` already holding a complete extraction is reused.
    """
    zip_path, dest = Path(zip_path), Path(dest)
    if (dest / COMPLETE_MARKER).is_file():
        return dest
    try:
        archive = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, struct.error, NotImplementedError) as exc:
        raise DataError(
            f"cannot open the zip ({exc})",
            where=str(zip_path),
            hint="Re-create the archive with a standard zip tool (not RAR/7z), then upload again.",
        ) from exc
    with archive:
        try:
            members = archive.infolist()
        except (zipfile.BadZipFile, ValueError) as exc:
            raise DataError(
                f"the zip's table of contents is broken ({exc})",
                where=str(zip_path),
                hint="Re-create the archive and upload again.",
            ) from exc
        files = _check_members(zip_path, members, limits)
        tmp = dest.parent / f".{dest.name}.partial"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        try:
            _write_members(zip_path, archive, files, tmp, limits)
            (tmp / COMPLETE_MARKER).write_text(str(zip_path.name), encoding="utf-8")
            shutil.rmtree(dest, ignore_errors=True)
            tmp.rename(dest)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return dest


def _safe_relative(name: str) -> PurePosixPath | None:
    """The member's path as a safe relative path, or None when it is absolute or climbs out with ``..``."""
    posix = name.replace("\\", "/")
    if posix.startswith("/") or (len(posix) > 1 and posix[1] == ":"):
        return None
    parts = [p for p in PurePosixPath(posix).parts if p not in ("", ".")]
    if not parts or ".." in parts:
        return None
    return PurePosixPath(*parts)


def _is_ignorable(rel: PurePosixPath) -> bool:
    """macOS resource forks and hidden files: never images, so skipped silently."""
    return rel.parts[0] == "__MACOSX" or any(p.startswith(".") for p in rel.parts)


def _check_members(
    zip_path: Path, members: list[zipfile.ZipInfo], limits: ZipLimits
) -> list[tuple[zipfile.ZipInfo, PurePosixPath]]:
    """Every member's safety, checked before writing; one DataError listing all problems."""
    problems: list[str] = []
    if len(members) > limits.max_members:
        problems.append(f"{len(members)} members, more than the cap of {limits.max_members}")
    files: list[tuple[zipfile.ZipInfo, PurePosixPath]] = []
    seen: set[str] = set()
    total = compressed = 0
    for info in members:
        rel = _safe_relative(info.filename)
        if rel is None:
            problems.append(f"member {info.filename!r} has an absolute path or '..' (it would land outside the folder)")
            continue
        if stat.S_ISLNK(info.external_attr >> 16):
            problems.append(f"member {info.filename!r} is a symbolic link")
            continue
        if info.is_dir() or _is_ignorable(rel):
            continue
        if rel.suffix.lower() in (".zip", ".jar", ".7z", ".rar", ".tar", ".gz", ".tgz"):
            problems.append(f"member {info.filename!r} is itself an archive (nested archives are not unpacked)")
            continue
        key = str(rel).lower()
        if key in seen:
            problems.append(f"member {info.filename!r} appears twice")
            continue
        seen.add(key)
        if info.file_size > limits.max_member_bytes:
            problems.append(
                f"member {info.filename!r} expands to {info.file_size:,} bytes, over the cap of {limits.max_member_bytes:,}"
            )
        if info.file_size > limits.ratio_floor_bytes and info.file_size > limits.max_compression_ratio * max(
            info.compress_size, 1
        ):
            problems.append(
                f"member {info.filename!r} compresses {info.file_size / max(info.compress_size, 1):.0f}×, "
                f"over the cap of {limits.max_compression_ratio:.0f}× (zip bomb?)"
            )
        total += info.file_size
        compressed += info.compress_size
        files.append((info, rel))
    if total > limits.max_total_bytes:
        problems.append(f"the archive expands to {total:,} bytes, over the cap of {limits.max_total_bytes:,}")
    if total > limits.ratio_floor_bytes and total > limits.max_compression_ratio * max(compressed, 1):
        problems.append(
            f"the archive compresses {total / max(compressed, 1):.0f}× overall, over the cap of "
            f"{limits.max_compression_ratio:.0f}× (zip bomb?)"
        )
    if problems:
        raise DataError(
            "the zip was refused, nothing was extracted: "
            + "; ".join(problems[:50])
            + (f"; and {len(problems) - 50} more problems" if len(problems) > 50 else ""),
            where=str(zip_path),
            hint="Zip only the image files (or one folder of them), without links, nested archives or paths with '..'.",
        )
    return files


def _write_members(
    zip_path: Path,
    archive: zipfile.ZipFile,
    files: list[tuple[zipfile.ZipInfo, PurePosixPath]],
    root: Path,
    limits: ZipLimits,
) -> None:
    """Stream each member to disk, counting real bytes so a lying header cannot exceed the caps."""
    written_total = 0
    for info, rel in files:
        target = root.joinpath(*rel.parts)
        cap = min(info.file_size, limits.max_member_bytes)
        written = 0
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(info) as source, open(target, "wb") as sink:
                head = source.read(4)
                if head in _ZIP_MAGIC:
                    raise DataError(
                        f"member {info.filename!r} is itself a zip (nested archives are not unpacked)",
                        where=str(zip_path),
                        hint="Unpack the inner zip and zip its files directly.",
                    )
                chunk = head
                while chunk:
                    written += len(chunk)
                    written_total += len(chunk)
                    if written > cap or written_total > limits.max_total_bytes:
                        raise DataError(
                            f"member {info.filename!r} expands beyond its declared size or the caps",
                            where=str(zip_path),
                            hint="The archive looks tampered with; re-create it.",
                        )
                    sink.write(chunk)
                    chunk = source.read(1 << 20)
        except (
            zipfile.BadZipFile,
            OSError,
            EOFError,
            ValueError,
            NotImplementedError,
            RuntimeError,
            zlib.error,
            struct.error,
        ) as exc:
            raise DataError(
                f"member {info.filename!r} cannot be extracted ({exc})",
                where=str(zip_path),
                hint="Re-create the archive (standard deflate, no password) and upload again.",
            ) from exc
