"""Writing the DP release: synthetic.csv, images/, schema.json, the privacy report and bundle.zip.

Everything written here is the differentially private output (post-processing of accounted
releases). The data owner's comparison with the real data (:mod:`dptab_core.eval`) is written
elsewhere (the job folder's ``owner_view/``, outside ``out_dir``) and is never put in the bundle, because it
shows real rows and images.

>>> import tempfile, numpy as np, pandas as pd
>>> out = Path(tempfile.mkdtemp())
>>> table = pd.DataFrame({"age": [30, 40]})
>>> images = np.zeros((2, 4, 4, 3), dtype=np.uint8)
>>> paths = write_release(out, table=table, images=images, image_column="image", schema_dict={"columns": []},
...                       privacy_report={"spent": {"epsilon": 1.0}}, privacy_report_md="# report")
>>> sorted(p.name for p in out.iterdir())
['bundle.zip', 'images', 'privacy_report.json', 'privacy_report.md', 'schema.json', 'synthetic.csv']
>>> pd.read_csv(out / "synthetic.csv")["image"].tolist()
['images/synthetic_00000.png', 'images/synthetic_00001.png']
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

BUNDLE_NAME = "bundle.zip"
RELEASE_FILES = ("synthetic.csv", "schema.json", "privacy_report.json", "privacy_report.md")


def write_release(
    out_dir: Path,
    *,
    table: pd.DataFrame,
    images: np.ndarray | None,
    image_column: str,
    schema_dict: dict[str, Any],
    privacy_report: dict[str, Any],
    privacy_report_md: str,
) -> dict[str, Path]:
    """Write every release file into ``out_dir`` and zip them into ``bundle.zip``; return their paths.

    ``images`` (uint8, (n, H, W, C)) gives one PNG per row, named in row order; the image column of
    ``synthetic.csv`` holds each row's relative path. ``images=None`` writes a table-only release.
    """
    write_output_files(
        out_dir,
        table=table,
        images=images,
        image_column=image_column,
        schema_dict=schema_dict,
        privacy_report=privacy_report,
        privacy_report_md=privacy_report_md,
    )
    bundle = _zip_release(out_dir, with_images=images is not None)
    return {name: out_dir / name for name in RELEASE_FILES} | {"bundle": bundle}


def write_output_files(
    out_dir: Path,
    *,
    table: pd.DataFrame,
    images: np.ndarray | None,
    image_column: str,
    schema_dict: dict[str, Any],
    privacy_report: dict[str, Any],
    privacy_report_md: str,
) -> None:
    """The release layout without its bundle: what the evaluation reads, also for non-releases.

    The non-private baseline writes through here so its folder loads like a run's, but never gets a
    ``bundle.zip`` (its table is the real rows).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    table = table.copy()
    if images is not None:
        if len(images) != len(table):
            raise ValueError(f"{len(images)} images for {len(table)} rows: one image per row is required")
        image_dir = out_dir / "images"
        image_dir.mkdir(exist_ok=True)
        names = [f"images/synthetic_{i:05d}.png" for i in range(len(table))]
        for name, pixels in zip(names, images, strict=True):
            _to_pil(pixels).save(out_dir / name, format="PNG", optimize=False)
        table[image_column] = names
    table.to_csv(out_dir / "synthetic.csv", index=False)
    (out_dir / "schema.json").write_text(json.dumps(schema_dict, indent=2), encoding="utf-8")
    (out_dir / "privacy_report.json").write_text(json.dumps(privacy_report, indent=2, default=str), encoding="utf-8")
    (out_dir / "privacy_report.md").write_text(privacy_report_md, encoding="utf-8")


def _to_pil(pixels: np.ndarray) -> Image.Image:
    pixels = np.asarray(pixels, dtype=np.uint8)
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[:, :, 0]
    return Image.fromarray(pixels)


def _zip_release(out_dir: Path, *, with_images: bool) -> Path:
    """``bundle.zip``: the release files and images, written to a temporary name then renamed."""
    partial = out_dir / (BUNDLE_NAME + ".partial")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        for name in RELEASE_FILES:
            bundle.write(out_dir / name, arcname=name)
        if with_images:
            for png in sorted((out_dir / "images").glob("*.png")):
                bundle.write(png, arcname=f"images/{png.name}")
    final = out_dir / BUNDLE_NAME
    partial.replace(final)
    return final
