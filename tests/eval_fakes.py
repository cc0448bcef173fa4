"""Tiny paired datasets with a known image ↔ row link, for the evaluation tests.

``colour`` paints the whole image (image-expressed), ``size`` sets the side of a white square
(image-expressed), ``group`` is drawn independently and never shown in the image.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from dptab_core.data.schema import Column, Schema

COLOURS = {"red": (200, 30, 30), "green": (30, 200, 30), "blue": (30, 30, 200)}
IMAGE_SIZE = 16


def fake_schema() -> Schema:
    return Schema(
        columns=(
            Column(name="colour", kind="categorical", categories=tuple(COLOURS), public=True),
            Column(name="size", kind="numeric", dtype="int", bounds=(0, 8), bins=2, public=True),
            Column(name="group", kind="categorical", categories=("a", "b"), public=True),
            Column(name="image", kind="image"),
        ),
        image_column="image",
        one_row_per_person_confirmed=True,
        image_size=IMAGE_SIZE,
    )


def fake_pairs(n: int, *, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """``n`` rows and their images (uint8, (n, 16, 16, 3)), the images drawn from the rows."""
    rng = np.random.default_rng(seed)
    table = pd.DataFrame(
        {
            "colour": rng.choice(list(COLOURS), size=n),
            "size": rng.choice([2, 7], size=n),
            "group": rng.choice(["a", "b"], size=n),
        }
    )
    table["image"] = [f"img_{i:04d}.png" for i in range(n)]
    return table, draw_images(table, rng)


def draw_images(table: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
    images = np.zeros((len(table), IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.int64)
    for i, (colour, size) in enumerate(zip(table["colour"], table["size"], strict=True)):
        images[i] = COLOURS[colour]
        side = 2 * int(size)
        images[i, :side, :side] = 255
    return np.clip(images + rng.integers(-20, 21, images.shape), 0, 255).astype(np.uint8)


def write_real(folder: Path, table: pd.DataFrame, images: np.ndarray) -> tuple[Path, Path]:
    """A real dataset as a user would upload it: ``table.csv`` and ``images/``."""
    (folder / "images").mkdir(parents=True)
    for name, pixels in zip(table["image"], images, strict=True):
        Image.fromarray(pixels).save(folder / "images" / name)
    table.to_csv(folder / "table.csv", index=False)
    return folder / "table.csv", folder / "images"


def write_synthetic_run(
    out: Path,
    table: pd.DataFrame,
    images: np.ndarray,
    schema: Schema,
    *,
    epsilon: float = 1.0,
    audit: dict | None = None,
) -> Path:
    """A run folder in the pipeline's output format."""
    (out / "images").mkdir(parents=True)
    table = table.copy()
    table["image"] = [f"images/synthetic_{i:05d}.png" for i in range(len(table))]
    for name, pixels in zip(table["image"], images, strict=True):
        Image.fromarray(pixels).save(out / name)
    table.to_csv(out / "synthetic.csv", index=False)
    schema.save(out / "schema.json")
    (out / "privacy_report.json").write_text(
        json.dumps({"target": {"epsilon": epsilon, "delta": 1e-5}, "spent": {"epsilon": epsilon * 0.99, "delta": 1e-5}})
    )
    if audit is not None:
        (out / "audit.json").write_text(json.dumps(audit))
    return out
