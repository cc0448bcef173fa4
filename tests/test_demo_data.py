"""Specification of the built-in demo dataset (``python -m dptab_core demo-data``).

The read-back tests train a small linear classifier (shrinkage LDA on pooled colours, edge energy and
lesion-area features, closed form and fast) on 1,500 demo photos and test it on the other 500: columns
the ground truth says are drawn must be readable well above chance, the others must not be.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy import ndimage

from dptab_core.cli import main
from dptab_core.data.demo import (
    BODY_SITES,
    CLINICS,
    DEMO_COLUMNS,
    DEMO_GROUND_TRUTH,
    DIAGNOSES,
    IMAGE_EXPRESSED_COLUMNS,
    NOT_EXPRESSED_COLUMNS,
    SKIN_TYPES,
    DemoConfig,
    demo_schema,
    ensure_demo,
    is_complete,
    write_demo,
)
from dptab_core.data.demo_public import CLOSE_LABELS, PUBLIC_LABELS
from dptab_core.data.encoding import domain_size, encode_table
from dptab_core.errors import DataError

SMALL = DemoConfig(rows=60, seed=3, public_per_label=4)


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    """The default demo (2,000 patients), generated once for the module; prints the generation time."""
    out = tmp_path_factory.mktemp("demo") / "demo"
    start = time.perf_counter()
    assert main(["demo-data", "--out", str(out)]) == 0
    print(f"\ndemo-data (default size) took {time.perf_counter() - start:.1f} s")
    return out


@pytest.fixture(scope="module")
def table(demo: Path) -> pd.DataFrame:
    return pd.read_csv(demo / "table.csv")


@pytest.fixture(scope="module")
def features(demo: Path, table: pd.DataFrame) -> np.ndarray:
    return image_features(load_images([demo / "images" / f for f in table["image"]]))


def load_images(paths: list[Path]) -> np.ndarray:
    return np.stack([np.asarray(Image.open(p).convert("RGB")) for p in paths]).astype(np.float32) / 255


def image_features(x: np.ndarray) -> np.ndarray:
    """Generic photo features: 8×8 mean colours, 4×4 pooled edge energy, skin colour at the border, and
    the area of the blob around the strongest colour difference from that skin (log, three thresholds)."""
    n = len(x)

    def pool(a: np.ndarray, k: int) -> np.ndarray:
        c = min(a.shape[1], a.shape[2]) // k * k
        return a[:, :c, :c].reshape(n, k, c // k, k, c // k, *a.shape[3:]).mean(axis=(2, 4)).reshape(n, -1)

    gray = x.mean(-1)
    dx, dy = np.abs(np.diff(gray, axis=2)), np.abs(np.diff(gray, axis=1))
    lap = np.abs(
        4 * gray[:, 1:-1, 1:-1] - gray[:, :-2, 1:-1] - gray[:, 2:, 1:-1] - gray[:, 1:-1, :-2] - gray[:, 1:-1, 2:]
    )
    skin = np.median(np.concatenate([x[:, :3].reshape(n, -1, 3), x[:, -3:].reshape(n, -1, 3)], 1), axis=1)
    diff = ndimage.median_filter(np.sqrt(((x - skin[:, None, None, :]) ** 2).sum(-1)), size=(1, 3, 3))
    areas = np.zeros((n, 3))
    for i in range(n):
        centre = diff[i, 6:26, 6:26]
        y0, x0 = np.unravel_index(centre.argmax(), centre.shape)
        for j, share in enumerate((0.3, 0.5, 0.7)):
            labels, _ = ndimage.label(diff[i] > share * centre[y0, x0])
            areas[i, j] = (labels == labels[y0 + 6, x0 + 6]).sum()
    return np.concatenate([pool(x, 8), pool(dx, 4), pool(dy, 4), pool(lap, 4), skin, np.log(areas)], axis=1)


def lda_predict(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, *, shrink: float = 0.1) -> np.ndarray:
    """Linear discriminant analysis with a shrunk pooled covariance (closed form, no iterations)."""
    k = int(train_y.max()) + 1
    mu, sd = train_x.mean(0), train_x.std(0) + 1e-6
    a, b = (train_x - mu) / sd, (test_x - mu) / sd
    means = np.stack([a[train_y == c].mean(0) if (train_y == c).any() else np.zeros(a.shape[1]) for c in range(k)])
    resid = a - means[train_y]
    cov = (1 - shrink) * resid.T @ resid / len(a) + shrink * np.eye(a.shape[1])
    proj = np.linalg.solve(cov, means.T)
    prior = np.log(np.bincount(train_y, minlength=k) + 1)
    return (b @ proj - 0.5 * (means * proj.T).sum(1) + prior).argmax(1)


def read_back(table: pd.DataFrame, features: np.ndarray, column: str) -> tuple[float, float]:
    """(accuracy on rows 1500+, majority-class accuracy) of predicting ``column`` from the photo;
    numeric columns are cut into tertiles."""
    values = table[column]
    known = values.notna().to_numpy()
    if pd.api.types.is_numeric_dtype(values):
        codes = pd.qcut(values, 3, labels=False).to_numpy()
    else:
        codes = pd.Categorical(values).codes.astype(float)
    codes = np.nan_to_num(codes, nan=-1).astype(int)
    rows = np.arange(len(table))
    train, test = rows[(rows < 1500) & known], rows[(rows >= 1500) & known]
    predicted = lda_predict(features[train], codes[train], features[test])
    majority = np.bincount(codes[train]).argmax()
    return float((predicted == codes[test]).mean()), float((codes[test] == majority).mean())


# --- the table -------------------------------------------------------------------------------------


@pytest.mark.slow
def test_default_demo_has_2000_patients_with_the_documented_columns_and_types(table):
    assert len(table) == 2000, f"expected 2,000 patients by default, got {len(table)}"
    assert tuple(table.columns) == DEMO_COLUMNS, f"columns differ: {list(table.columns)}"
    ages = table["age"].dropna()
    assert (ages == ages.round()).all() and ages.between(18, 90).all(), "age must be whole years 18–90"
    assert table["lesion_diameter_mm"].dtype == float and table["lesion_diameter_mm"].between(1.5, 30).all()
    for column, allowed in [
        ("skin_type", SKIN_TYPES),
        ("body_site", BODY_SITES),
        ("diagnosis", DIAGNOSES),
        ("clinic", CLINICS),
    ]:
        assert set(table[column]) == set(allowed), f"{column} has values {sorted(set(table[column]))}"


@pytest.mark.slow
def test_only_age_has_missing_values_and_only_a_few(table):
    missing = table.isna().sum()
    assert set(missing[missing > 0].index) == {"age"}, f"missing values in {missing[missing > 0].to_dict()}"
    assert 5 <= missing["age"] <= 100, f"{missing['age']} missing ages: expected a few (~2 %)"


@pytest.mark.slow
def test_patient_id_is_unique_and_every_row_has_its_own_32px_rgb_image(demo, table):
    assert table["patient_id"].is_unique, "patient_id must be unique per row (an identifier)"
    files = sorted(p.name for p in (demo / "images").iterdir())
    assert files == sorted(table["image"]), "images/ must hold exactly one file per row"
    with Image.open(demo / "images" / files[0]) as img:
        assert (img.size, img.mode, img.format) == ((32, 32), "RGB", "PNG")


@pytest.mark.slow
def test_columns_depend_on_each_other_as_documented(table):
    age_by_dx = table.groupby("diagnosis")["age"].mean()
    assert age_by_dx["basal_cell_carcinoma"] > age_by_dx["nevus"] + 10, f"BCC should affect older patients: {age_by_dx}"
    size_by_dx = table.groupby("diagnosis")["lesion_diameter_mm"].median()
    assert size_by_dx["melanoma"] > 1.5 * size_by_dx["nevus"], f"melanomas should be larger than nevi: {size_by_dx}"
    fair = table["skin_type"].isin(["I", "II"])
    dark = table["skin_type"].isin(["V", "VI"])
    bcc = table["diagnosis"] == "basal_cell_carcinoma"
    assert bcc[fair].mean() > 2 * bcc[dark].mean(), "BCC should be far more common on fair skin"
    acral = table["body_site"] == "acral"
    assert acral[dark].mean() > 2 * acral[fair].mean(), "acral sites should be more common on dark skin"
    assert (table.loc[bcc, "body_site"] == "face").mean() > 0.4, "BCC should mostly sit on the face"
    melanoma = table["diagnosis"] == "melanoma"
    family = table["family_history"] == "yes"
    assert melanoma[family].mean() > 1.3 * melanoma[~family].mean(), "family history should raise melanoma risk"


# --- determinism, layout, CLI ------------------------------------------------------------------------


def _all_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_gives_identical_csv_and_image_bytes(tmp_path):
    first = _all_bytes(write_demo(tmp_path / "a", SMALL))
    second = _all_bytes(write_demo(tmp_path / "b", SMALL))
    assert first.keys() == second.keys(), "the two runs wrote different files"
    differing = [name for name in first if first[name] != second[name]]
    assert not differing, f"same seed, different bytes in {differing[:5]}"


def test_another_seed_gives_other_data(tmp_path):
    one = write_demo(tmp_path / "a", SMALL)
    other = write_demo(tmp_path / "b", DemoConfig(rows=SMALL.rows, seed=SMALL.seed + 1, public_per_label=4))
    assert (one / "table.csv").read_bytes() != (other / "table.csv").read_bytes()
    assert (one / "images" / "lesion_00001.png").read_bytes() != (other / "images" / "lesion_00001.png").read_bytes()


def test_public_set_has_many_labels_a_few_of_them_close_to_skin_photos(tmp_path):
    out = write_demo(tmp_path / "demo", SMALL)
    labels = sorted(p.name for p in (out / "public").iterdir())
    assert labels == sorted(PUBLIC_LABELS) and len(labels) >= 10, f"public labels: {labels}"
    assert set(CLOSE_LABELS) < set(labels) and len(CLOSE_LABELS) <= len(labels) // 2
    for label in labels:
        files = list((out / "public" / label).glob("*.png"))
        assert len(files) == SMALL.public_per_label, f"{label}: {len(files)} images"
        with Image.open(files[0]) as img:
            assert (img.size, img.mode) == ((32, 32), "RGB"), f"{label}: {img.size} {img.mode}"


def test_if_missing_keeps_a_complete_demo_and_redoes_an_incomplete_one(tmp_path, capsys):
    out = tmp_path / "demo"
    args = ["demo-data", "--out", str(out), "--rows", "30", "--public-per-label", "2", "--if-missing"]
    assert main(args) == 0
    table_mtime = (out / "table.csv").stat().st_mtime_ns
    assert main(args) == 0
    assert "already complete" in capsys.readouterr().out
    assert (out / "table.csv").stat().st_mtime_ns == table_mtime, "--if-missing rewrote a complete demo"
    (out / "demo.json").unlink()
    assert main(args) == 0
    assert is_complete(out, DemoConfig(rows=30, public_per_label=2)), "an incomplete demo was not regenerated"


def test_refuses_to_overwrite_a_folder_that_is_not_a_demo(tmp_path, capsys):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.docx").write_text("precious")
    assert main(["demo-data", "--out", str(tmp_path / "mine"), "--rows", "10"]) == 2
    assert "not empty" in capsys.readouterr().err
    assert (tmp_path / "mine" / "thesis.docx").read_text() == "precious"


def test_ensure_demo_generates_into_the_workspace_once(tmp_path, monkeypatch):
    monkeypatch.setenv("DPTAB_HOME", str(tmp_path / "ws"))
    out = ensure_demo(config=SMALL)
    assert out == tmp_path / "ws" / "demo" and is_complete(out, SMALL)
    stamp = (out / "demo.json").stat().st_mtime_ns
    assert ensure_demo(config=SMALL) == out and (out / "demo.json").stat().st_mtime_ns == stamp


def test_an_impossible_row_count_is_refused_with_exit_code_2(tmp_path, capsys):
    assert main(["demo-data", "--out", str(tmp_path / "d"), "--rows", "0"]) == 2
    assert "--rows must be between 1" in capsys.readouterr().err
    assert not (tmp_path / "d").exists(), "nothing may be written for a refused request"


# --- schema and ground truth -------------------------------------------------------------------------


def test_ground_truth_covers_every_column_with_three_drawn_and_two_not():
    assert set(DEMO_GROUND_TRUTH) == set(DEMO_COLUMNS) - {"image"}
    assert len(IMAGE_EXPRESSED_COLUMNS) >= 3 and len(NOT_EXPRESSED_COLUMNS) >= 2
    assert "patient_id" not in NOT_EXPRESSED_COLUMNS


def test_demo_schema_declares_every_domain_public_and_excludes_the_identifier(tmp_path):
    out = write_demo(tmp_path / "demo", SMALL)
    table = pd.read_csv(out / "table.csv")
    schema = demo_schema(table)
    assert schema.image_column == "image" and schema.column("image").kind == "image"
    assert schema.column("patient_id").kind == "excluded"
    assert schema.unpaid_domains() == [], "every synthesized domain must be declared public"
    assert schema.one_row_per_person_confirmed and (schema.image_size, schema.image_mode) == (32, "RGB")
    assert {c.name for c in schema.synthesized_columns()} == set(DEMO_COLUMNS) - {"patient_id", "image"}
    codes = encode_table(table, schema)
    for column in schema.synthesized_columns():
        recorded = table[column.name].notna().to_numpy()
        outside = recorded & (codes[column.name] == domain_size(column) - 1)
        assert not outside.any(), (
            f"{column.name}: values outside the declared domain, e.g. {table[column.name][outside].iloc[:3].tolist()}"
        )


def test_demo_schema_refuses_a_table_that_is_not_the_demo():
    with pytest.raises(DataError, match="not the demo table"):
        demo_schema(pd.DataFrame({"age": [1]}))


# --- what the photos carry ---------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("column", IMAGE_EXPRESSED_COLUMNS)
def test_drawn_columns_are_read_back_from_the_photos(table, features, column):
    accuracy, majority = read_back(table, features, column)
    print(f"\nread-back {column}: {accuracy:.3f} (majority {majority:.3f})")
    assert accuracy > max(majority + 0.2, 0.55), f"{column} read back at {accuracy:.2f} vs majority {majority:.2f}"


@pytest.mark.slow
@pytest.mark.parametrize("column", ["sex", "family_history", "clinic"])
def test_undrawn_columns_are_not_readable_from_the_photos(table, features, column):
    accuracy, majority = read_back(table, features, column)
    print(f"\nread-back {column}: {accuracy:.3f} (majority {majority:.3f})")
    assert accuracy < majority + 0.08, f"{column} is read back at {accuracy:.2f} (majority {majority:.2f})"


@pytest.mark.slow
def test_a_classifier_of_public_labels_votes_for_the_close_labels(demo, features):
    labels, images = [], []
    for i, label in enumerate(PUBLIC_LABELS):
        files = sorted((demo / "public" / label).glob("*.png"))
        images.append(load_images(files))
        labels += [i] * len(files)
    votes = lda_predict(image_features(np.concatenate(images)), np.array(labels), features)
    close = np.isin(np.array(PUBLIC_LABELS)[votes], CLOSE_LABELS).mean()
    print(f"\nshare of sensitive photos voting for a close public label: {close:.3f}")
    assert close > 0.8, f"only {close:.0%} of the lesion photos look like a close public label"
