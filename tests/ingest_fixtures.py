"""Tiny real datasets made in a temporary folder, for the ingest tests.

Each builder writes an actual CSV and actual image files (PNG by default), so the tests exercise
the same code path as a user's upload.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
from PIL import Image


def write_image(
    path: Path,
    *,
    size: tuple[int, int] = (8, 6),
    color: tuple[int, int, int] = (200, 30, 30),
    mode: str = "RGB",
    fmt: str | None = None,
) -> Path:
    """A solid-colour image at ``path`` (format from the extension unless ``fmt``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.new("RGB", size, color)
    img = img.convert(mode) if mode != "RGB" else img
    img.save(path, format=fmt)
    return path


def write_dataset(
    root: Path, rows: list[dict[str, str]] | None = None, *, images: list[str] | None = None, delimiter: str = ","
) -> tuple[Path, Path]:
    """``root/table.csv`` from ``rows`` and ``root/images/<name>`` for every name in ``images``.

    Defaults: 4 patients with distinct images, columns patient_id, age, site, image.
    """
    if rows is None:
        rows = [
            {"patient_id": f"P{i}", "age": str(30 + 10 * i), "site": ["arm", "leg"][i % 2], "image": f"p{i}.png"}
            for i in range(4)
        ]
    if images is None:
        images = sorted({r["image"] for r in rows if r.get("image")})
    header = list(rows[0])
    lines = [delimiter.join(header)] + [delimiter.join(r.get(c, "") for c in header) for r in rows]
    csv_path = root / "table.csv"
    root.mkdir(parents=True, exist_ok=True)
    csv_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    image_dir = root / "images"
    image_dir.mkdir(exist_ok=True)
    for k, name in enumerate(images):
        write_image(image_dir / name, color=(40 * k % 256, 100, 200))
    return csv_path, image_dir


def zip_folder(folder: Path, zip_path: Path) -> Path:
    """A zip of every file under ``folder`` (paths relative to it)."""
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(folder).as_posix())
    return zip_path


def rules(issues, severity: str | None = None) -> list[str]:
    """The rule names of ``issues`` (optionally only those of one severity)."""
    return [i.rule for i in issues if severity is None or i.severity == severity]


def noise_png(path: Path, size: int = 16, seed: int = 0) -> Path:
    """A PNG of random pixels (does not compress: a realistic image payload)."""
    pixels = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path
