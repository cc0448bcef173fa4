"""The built-in demo dataset: a dermatology clinic's patient records, each with a skin-lesion photo.

Why a generated dataset: the app must show something meaningful on a fresh machine with no downloads,
and the evaluation needs data whose *ground truth* is known — which columns an image carries and how
columns depend on each other — to tell a synthesizer that keeps the links from one that loses them.

The design, which is also the public domain knowledge :func:`demo_schema` declares:

* ``patient_id`` — unique per row (an identifier: excluded from synthesis).
* ``age`` (int, 18–90, about 2 % missing: "not recorded") — older patients get more carcinomas and
  keratoses, younger ones more nevi.
* ``sex`` — men get more melanomas on the trunk, women more on the legs (``extremity``).
* ``skin_type`` (Fitzpatrick I–VI) — fair skin raises melanoma and basal cell carcinoma risk; deeply
  pigmented skin makes acral (palm/sole) sites more likely.
* ``body_site`` — depends on diagnosis (BCC on the face), sex and skin type.
* ``diagnosis`` — depends on age, skin type and family history.
* ``lesion_diameter_mm`` (float, 1.5–30) — depends on diagnosis (nevi small, melanomas large).
* ``family_history`` (of melanoma) — raises melanoma risk.
* ``clinic`` — older patients go to the hospital and rural practice, younger ones to teledermatology.
* ``image`` — the photo's file name (see :data:`DEMO_GROUND_TRUTH` for what the photo shows).

>>> table = generate_table(50, rng=np.random.default_rng(0))
>>> list(table.columns) == list(DEMO_COLUMNS)
True
>>> table["patient_id"].is_unique
True
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from dptab_core.data.schema import Column, Schema
from dptab_core.errors import DataError, InputError
from dptab_core.workspace import workspace_dir

SKIN_TYPES = ("I", "II", "III", "IV", "V", "VI")
SEXES = ("female", "male")
BODY_SITES = ("face", "scalp", "trunk", "extremity", "acral")
DIAGNOSES = ("nevus", "melanoma", "basal_cell_carcinoma", "seborrheic_keratosis", "vascular_lesion")
YES_NO = ("no", "yes")
CLINICS = ("university_hospital", "city_practice", "rural_practice", "teledermatology")
AGE_BOUNDS = (18, 90)
DIAMETER_BOUNDS = (1.5, 30.0)
IMAGE_COLUMN = "image"
DEMO_COLUMNS = (
    "patient_id",
    "age",
    "sex",
    "skin_type",
    "body_site",
    "diagnosis",
    "lesion_diameter_mm",
    "family_history",
    "clinic",
    IMAGE_COLUMN,
)

DEMO_GROUND_TRUTH: dict[str, str | None] = {
    "patient_id": None,
    "age": None,
    "sex": None,
    "skin_type": "background skin tone, light (I) to dark (VI)",
    "body_site": "skin texture: dense hair on the scalp, sparse hairs on an extremity, fine parallel ridges "
    "on acral skin, pores and redness on the face, smooth trunk",
    "diagnosis": "lesion colour, border and inner structure: nevus uniform brown and round; melanoma "
    "irregular, multicoloured (black, blue-grey, red-brown); basal cell carcinoma pink, "
    "translucent with a pearly rim and red vessels; seborrheic keratosis sharp-edged, granular "
    "tan-to-brown; vascular lesion red-purple and glossy",
    "lesion_diameter_mm": "lesion size (radius in pixels grows with the log of the diameter)",
    "family_history": None,
    "clinic": None,
}
"""What each column drives in the photo (None: nothing). Columns that are None may still be *predictable*
from a photo through their dependence on an expressed column (age ↔ diagnosis), never drawn into it."""

IMAGE_EXPRESSED_COLUMNS = tuple(c for c, look in DEMO_GROUND_TRUTH.items() if look)
NOT_EXPRESSED_COLUMNS = tuple(c for c, look in DEMO_GROUND_TRUTH.items() if look is None and c != "patient_id")

MANIFEST = "demo.json"
"""Written last: its presence means the folder holds a complete demo."""
DEMO_FORMAT_VERSION = 1
_DEMO_ENTRIES = {"table.csv", "images", "public", MANIFEST}
DOMAIN_NOTE = "declared by the demo's documentation"
MAX_ROWS = 200_000
"""Patient ids are drawn without replacement from 900,000 numbers; 200,000 rows is minutes of drawing."""


@dataclass(frozen=True)
class DemoConfig:
    """What to generate. ``rows``: 2,000 individuals is enough for 2-way marginals and a small image
    model on 2 CPU cores; ``public_per_label``: 150 images per public label trains the semantic-query
    classifier without slowing the first launch; ``missing_age_rate``: like real registries (HAM10000),
    a few ages are not recorded."""

    rows: int = 2000
    seed: int = 0
    public_per_label: int = 150
    image_size: int = 32
    missing_age_rate: float = 0.02

    def __post_init__(self) -> None:
        if not 1 <= self.rows <= MAX_ROWS:
            raise InputError(f"--rows must be between 1 and {MAX_ROWS}, not {self.rows}", where="demo-data")
        if not 0 <= self.public_per_label <= 2000:
            raise InputError(f"public images per label must be 0–2000, not {self.public_per_label}", where="demo-data")


def generate_table(rows: int, *, rng: np.random.Generator, missing_age_rate: float = 0.02) -> pd.DataFrame:
    """The patient table (image file names included), following the dependencies in the module docstring."""
    skin = rng.choice(len(SKIN_TYPES), rows, p=[0.10, 0.24, 0.26, 0.18, 0.13, 0.09])
    fair, dark = skin <= 1, skin >= 4
    male = rng.random(rows) < 0.47
    age = np.rint(AGE_BOUNDS[0] + (AGE_BOUNDS[1] - AGE_BOUNDS[0]) * rng.beta(2.0, 2.3, rows)).astype(int)
    family = rng.random(rows) < 0.14
    a = (age - 50) / 10
    logits = np.stack(
        [
            1.4 - 0.55 * a,  # nevus: the young
            -0.3 + 0.15 * a + 0.9 * family + 0.5 * fair - 1.0 * dark,  # melanoma
            -0.7 + 0.60 * a + 0.7 * fair - 1.6 * dark,  # basal cell carcinoma: old, fair
            -0.6 + 0.65 * a + 0.2 * dark,  # seborrheic keratosis: old
            np.full(rows, -1.0),  # vascular lesion: any age
        ],
        axis=1,
    )
    diagnosis = _draw_categorical(rng, logits)

    site_weights = np.array(
        [  # face, scalp, trunk, extremity, acral — per diagnosis
            [0.08, 0.03, 0.50, 0.36, 0.03],
            [0.08, 0.04, 0.42, 0.40, 0.06],
            [0.55, 0.10, 0.25, 0.09, 0.01],
            [0.20, 0.05, 0.55, 0.18, 0.02],
            [0.15, 0.05, 0.45, 0.32, 0.03],
        ]
    )[diagnosis]
    melanoma = diagnosis == 1
    site_weights[:, 2] *= np.where(melanoma & male, 1.5, 1.0)
    site_weights[:, 3] *= np.where(melanoma & ~male, 1.5, 1.0)
    site_weights[:, 4] *= np.where(dark, 5.0, 1.0)
    site = _draw_categorical(rng, np.log(site_weights))

    median_mm = np.array([4.0, 9.0, 6.5, 9.5, 4.5])[diagnosis]
    spread = np.array([0.35, 0.45, 0.45, 0.40, 0.40])[diagnosis]
    diameter = np.round(np.clip(median_mm * np.exp(spread * rng.standard_normal(rows)), *DIAMETER_BOUNDS), 1)

    clinic = _draw_categorical(rng, np.stack([0.2 * a, np.full(rows, 0.4), -0.3 + 0.2 * a, -0.5 - 0.35 * a], 1))
    ids = rng.choice(900_000, rows, replace=False) + 100_000
    width = max(5, len(str(rows)))
    recorded_age = pd.array(age, dtype="Int64")
    recorded_age[rng.random(rows) < missing_age_rate] = pd.NA
    return pd.DataFrame(
        {
            "patient_id": [f"PT-{i}" for i in ids],
            "age": recorded_age,
            "sex": np.array(SEXES)[male.astype(int)],
            "skin_type": np.array(SKIN_TYPES)[skin],
            "body_site": np.array(BODY_SITES)[site],
            "diagnosis": np.array(DIAGNOSES)[diagnosis],
            "lesion_diameter_mm": diameter,
            "family_history": np.array(YES_NO)[family.astype(int)],
            "clinic": np.array(CLINICS)[clinic],
            IMAGE_COLUMN: [f"lesion_{i:0{width}d}.png" for i in range(1, rows + 1)],
        }
    )


def _draw_categorical(rng: np.random.Generator, logits: np.ndarray) -> np.ndarray:
    """One category index per row of ``logits`` (softmax sampling by inverse CDF)."""
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    cdf = np.cumsum(p / p.sum(axis=1, keepdims=True), axis=1)
    return np.minimum((rng.random((len(logits), 1)) > cdf).sum(axis=1), logits.shape[1] - 1)


def demo_schema(table: pd.DataFrame | None = None) -> Schema:
    """The demo's schema, every domain declared public from the design above (never from the data).

    ``table``, when given, is only checked to have the demo's columns (a clear error otherwise).

    >>> s = demo_schema()
    >>> s.image_column, s.column("patient_id").kind, len(s.unpaid_domains())
    ('image', 'excluded', 0)
    """
    if table is not None:
        missing = [c for c in DEMO_COLUMNS if c not in table.columns]
        if missing:
            raise DataError(
                f"this is not the demo table: columns {missing} are missing",
                hint="Use demo_schema() only with the table written by `demo-data`.",
            )

    def cat(name: str, categories: tuple[str, ...]) -> Column:
        return Column(
            name=name,
            kind="categorical",
            dtype="str",
            categories=categories,
            public=True,
            missing="never",
            note=DOMAIN_NOTE,
        )

    columns = (
        Column(name="patient_id", kind="excluded", dtype="str", note="identifier: unique per patient"),
        Column(
            name="age",
            kind="numeric",
            dtype="int",
            bounds=(float(AGE_BOUNDS[0]), float(AGE_BOUNDS[1])),
            public=True,
            missing="allowed",
            note=DOMAIN_NOTE,
        ),
        cat("sex", SEXES),
        cat("skin_type", SKIN_TYPES),
        cat("body_site", BODY_SITES),
        cat("diagnosis", DIAGNOSES),
        Column(
            name="lesion_diameter_mm",
            kind="numeric",
            dtype="float",
            bounds=DIAMETER_BOUNDS,
            public=True,
            missing="never",
            note=DOMAIN_NOTE,
        ),
        cat("family_history", YES_NO),
        cat("clinic", CLINICS),
        Column(name=IMAGE_COLUMN, kind="image", dtype="str", note="photo file names in images/"),
    )
    return Schema(
        columns=columns,
        image_column=IMAGE_COLUMN,
        one_row_per_person_confirmed=True,
        image_size=32,
        image_mode="RGB",
        encoding="utf-8",
        delimiter=",",
    )


def write_demo(out: Path, config: DemoConfig | None = None) -> Path:
    """Generate the demo into ``out`` (``table.csv``, ``images/``, ``public/<label>/``, then ``demo.json``).

    Writes into a temporary sibling folder and renames it into place, so an interrupted run never
    leaves a folder that looks complete. Refuses to replace a folder holding anything but a demo.
    """
    from dptab_core.data.demo_images import render_lesion_images, save_pngs
    from dptab_core.data.demo_public import write_public_set

    config = config or DemoConfig()
    out = Path(out).expanduser().resolve()
    if out.exists() and not _replaceable(out):
        raise InputError(
            "the folder is not empty and does not hold a demo dataset",
            where=str(out),
            hint="Choose an empty or new folder for --out.",
        )
    table_rng, image_rng, public_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(config.seed).spawn(3))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "images").mkdir(parents=True)
    try:
        table = generate_table(config.rows, rng=table_rng, missing_age_rate=config.missing_age_rate)
        table.to_csv(tmp / "table.csv", index=False, lineterminator="\n")
        images = render_lesion_images(table, rng=image_rng, size=config.image_size)
        save_pngs(images, [tmp / "images" / name for name in table[IMAGE_COLUMN]])
        public_counts = write_public_set(
            tmp / "public", per_label=config.public_per_label, size=config.image_size, rng=public_rng
        )
        manifest = {
            "format": "dptab-demo",
            "version": DEMO_FORMAT_VERSION,
            "rows": config.rows,
            "seed": config.seed,
            "public_per_label": config.public_per_label,
            "image_size": config.image_size,
            "image_column": IMAGE_COLUMN,
            "public_labels": public_counts,
            "ground_truth": DEMO_GROUND_TRUTH,
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def _replaceable(out: Path) -> bool:
    """True for a folder that is empty or holds only what a demo run writes."""
    return out.is_dir() and all(p.name in _DEMO_ENTRIES for p in out.iterdir())


def read_manifest(out: Path) -> dict | None:
    """The demo's manifest, or None when the folder does not hold a complete demo."""
    try:
        manifest = json.loads((Path(out) / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) and manifest.get("format") == "dptab-demo" else None


def is_complete(out: Path, config: DemoConfig | None = None) -> bool:
    """True when ``out`` holds a complete demo generated with ``config`` by this version of the generator."""
    config = config or DemoConfig()
    manifest = read_manifest(out)
    if manifest is None:
        return False
    wanted = {
        "version": DEMO_FORMAT_VERSION,
        "rows": config.rows,
        "seed": config.seed,
        "public_per_label": config.public_per_label,
        "image_size": config.image_size,
    }
    if any(manifest.get(k) != v for k, v in wanted.items()):
        return False
    images = Path(out) / "images"
    return (Path(out) / "table.csv").is_file() and images.is_dir() and sum(1 for _ in images.iterdir()) == config.rows


def default_demo_dir() -> Path:
    """Where the app keeps its demo dataset: ``<workspace>/demo``."""
    return workspace_dir("demo")


def ensure_demo(dir: Path | None = None, config: DemoConfig | None = None) -> Path:  # noqa: A002
    """The demo folder, generated first when it is missing or incomplete (the app's first launch)."""
    config = config or DemoConfig()
    out = Path(dir) if dir is not None else default_demo_dir()
    if not is_complete(out, config):
        write_demo(out, config)
    return out
