"""A small generated "own" dataset, laid out as a user would have it: a CSV under the user's own name,
a folder of photos, and a public labelled set (``<label>/<image>``) — for the own-data app tests.

Drawn with the demo's generators (a different seed, fewer rows), then renamed, so nothing about it
says "demo" to the app.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from dptab_core.data.demo import DemoConfig, write_demo

CSV_NAME = "clinic_records_2026.csv"
PHOTOS = "lesion_photos"
PUBLIC = "open_skin_set"


@dataclass(frozen=True)
class OwnData:
    csv: Path
    photos: Path
    public: Path


def write_own_dataset(folder: Path, *, rows: int = 240, public_per_label: int = 12) -> OwnData:
    """``folder/clinic_records_2026.csv``, ``folder/lesion_photos/``, ``folder/open_skin_set/<label>/``."""
    folder = Path(folder)
    generated = write_demo(folder / "generated", DemoConfig(rows=rows, seed=7, public_per_label=public_per_label))
    out = OwnData(folder / CSV_NAME, folder / PHOTOS, folder / PUBLIC)
    shutil.move(generated / "table.csv", out.csv)
    shutil.move(generated / "images", out.photos)
    shutil.move(generated / "public", out.public)
    shutil.rmtree(generated)
    return out
