"""Linking rows to images: one test per image rule, plus formats, matching and the conversion rule."""

from __future__ import annotations

import numpy as np
import pytest
from ingest_fixtures import rules, write_dataset, write_image, zip_folder
from PIL import Image

from dptab_core.data.images import load_image
from dptab_core.data.ingest import IngestPolicy, inspect_dataset, load_paired_dataset
from dptab_core.errors import DataError

DEFAULT_ROWS = 4


def _inspect(csv_path, image_dir, tmp_path, **kwargs):
    return inspect_dataset(csv_path, image_dir, workspace=tmp_path / "ws", person_column="", **kwargs)


def test_clean_dataset_is_ok_and_detects_the_image_column(tmp_path):
    csv_path, image_dir = write_dataset(tmp_path)
    report = _inspect(csv_path, image_dir, tmp_path)
    assert report.ok(), report.issues
    assert report.image_column == "image" and report.schema.image_column == "image"
    assert (report.n_rows_read, report.n_rows_kept) == (DEFAULT_ROWS, DEFAULT_ROWS)


def test_missing_image_is_fatal_and_names_the_row_and_file(tmp_path):
    csv_path, image_dir = write_dataset(tmp_path)
    (image_dir / "p2.png").unlink()
    report = _inspect(csv_path, image_dir, tmp_path)
    fatal = report.issues_of("fatal")
    assert [i.rule for i in fatal] == ["image_missing"]
    assert "row 3 (line 4)" in fatal[0].where and "'p2.png'" in fatal[0].what
    with pytest.raises(DataError, match="p2.png"):
        report.raise_for_fatal()


def test_missing_image_rows_are_dropped_when_the_user_chooses(tmp_path):
    csv_path, image_dir = write_dataset(tmp_path)
    (image_dir / "p2.png").unlink()
    report = _inspect(csv_path, image_dir, tmp_path, policy=IngestPolicy(drop_missing_images=True))
    assert report.ok() and rules(report.issues, "skipped") == ["image_missing"]
    assert report.n_rows_kept == DEFAULT_ROWS - 1


def test_empty_image_reference_is_reported_like_a_missing_image(tmp_path):
    rows = [{"id": "a", "image": "a.png"}, {"id": "b", "image": ""}, {"id": "c", "image": "c.png"}]
    csv_path, image_dir = write_dataset(tmp_path, rows)
    report = _inspect(csv_path, image_dir, tmp_path)
    assert rules(report.issues, "fatal") == ["image_ref_empty"]


def test_orphan_image_is_only_a_warning(tmp_path):
    csv_path, image_dir = write_dataset(tmp_path)
    write_image(image_dir / "stray.png")
    report = _inspect(csv_path, image_dir, tmp_path)
    assert report.ok()
    orphans = [i for i in report.issues if i.rule == "image_orphan"]
    assert [i.where for i in orphans] == ["stray.png"] and orphans[0].severity == "warning"


def test_two_rows_pointing_to_one_image_is_fatal_and_names_both_rows(tmp_path):
    rows = [{"id": "a", "image": "x.png"}, {"id": "b", "image": "y.png"}, {"id": "c", "image": "x.png"}]
    csv_path, image_dir = write_dataset(tmp_path, rows)
    report = _inspect(csv_path, image_dir, tmp_path)
    fatal = report.issues_of("fatal")
    assert [i.rule for i in fatal] == ["image_duplicate_ref", "image_duplicate_ref"]
    assert "row 1" in fatal[0].where and "row 3" in fatal[0].what, fatal[0]
    assert "row 3" in fatal[1].where and "row 1" in fatal[1].what, fatal[1]


def test_dropping_shared_images_drops_every_row_that_shares_one(tmp_path):
    """Keeping the first row would let one added person remove another person's row (two rows change)."""
    rows = [{"id": "a", "image": "x.png"}, {"id": "b", "image": "y.png"}, {"id": "c", "image": "x.png"}]
    csv_path, image_dir = write_dataset(tmp_path, rows)
    dropped = _inspect(csv_path, image_dir, tmp_path, policy=IngestPolicy(drop_duplicate_image_refs=True))
    assert dropped.ok() and dropped.n_rows_kept == 1, f"kept {dropped.n_rows_kept} rows, expected only row 2"


def test_truncated_image_is_fatal_and_droppable(tmp_path):
    csv_path, image_dir = write_dataset(tmp_path)
    write_image(image_dir / "p1.png", size=(64, 64))
    data = (image_dir / "p1.png").read_bytes()
    (image_dir / "p1.png").write_bytes(data[: len(data) // 2])
    report = _inspect(csv_path, image_dir, tmp_path)
    fatal = report.issues_of("fatal")
    assert [i.rule for i in fatal] == ["image_corrupt"], report.issues
    assert fatal[0].where.startswith("p1.png") and "row 2" in fatal[0].where
    dropped = _inspect(csv_path, image_dir, tmp_path, policy=IngestPolicy(drop_corrupt_images=True))
    assert dropped.ok() and dropped.n_rows_kept == DEFAULT_ROWS - 1


def test_truncated_jpeg_is_corrupt(tmp_path):
    path = write_image(tmp_path / "a.jpg", size=(120, 90))
    path.write_bytes(path.read_bytes()[:300])
    assert load_image(path, size=8).error_rule == "image_corrupt"


def test_non_image_file_is_reported_as_not_an_image(tmp_path):
    csv_path, image_dir = write_dataset(tmp_path)
    (image_dir / "p0.png").write_text("this is a text file, not a picture")
    report = _inspect(csv_path, image_dir, tmp_path)
    assert rules(report.issues, "fatal") == ["image_not_an_image"]


def test_decompression_bomb_is_refused_by_pillows_pixel_limit(tmp_path, monkeypatch):
    csv_path, image_dir = write_dataset(tmp_path)
    write_image(image_dir / "p3.png", size=(40, 40))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    report = _inspect(csv_path, image_dir, tmp_path)
    fatal = report.issues_of("fatal")
    assert [i.rule for i in fatal] == ["image_too_large"] and "decompression-bomb" in fatal[0].what
    assert fatal[0].where.startswith("p3.png")


def test_references_without_extension_and_relative_paths_match(tmp_path):
    rows = [{"id": "a", "image": "ISIC_1"}, {"id": "b", "image": "scans/b.png"}, {"id": "c", "image": "./c.png"}]
    csv_path, image_dir = write_dataset(tmp_path, rows, images=["ISIC_1.jpg", "scans/b.png", "c.png"])
    report = _inspect(csv_path, image_dir, tmp_path)
    assert report.ok(), report.issues
    assert report.image_column == "image"


def test_image_column_is_detected_among_other_columns_and_can_be_named(tmp_path):
    rows = [{"file": f"{i}.png", "note": f"n{i}", "label": "x"} for i in range(3)]
    csv_path, image_dir = write_dataset(tmp_path, rows, images=["0.png", "1.png", "2.png"])
    assert _inspect(csv_path, image_dir, tmp_path).image_column == "file"
    report = _inspect(csv_path, image_dir, tmp_path, image_column="note")
    assert rules(report.issues, "fatal")[:1] == ["image_missing"], "a wrong --image-column must not match"


def test_no_matching_column_is_fatal_with_example_file_names(tmp_path):
    rows = [{"id": str(i), "label": "x"} for i in range(3)]
    csv_path, image_dir = write_dataset(tmp_path, rows, images=["scan_a.png"])
    report = _inspect(csv_path, image_dir, tmp_path)
    assert rules(report.issues, "fatal") == ["image_column_not_found"]
    assert "scan_a.png" in report.issues_of("fatal")[0].hint
    assert report.schema is None


@pytest.mark.parametrize("ext", ["png", "jpg", "bmp", "tiff", "webp", "gif"])
def test_every_common_format_is_read(tmp_path, ext):
    path = write_image(tmp_path / f"a.{ext}", size=(20, 10), color=(255, 0, 0))
    result = load_image(path, size=4)
    assert result.error is None, result.error
    assert result.pixels.shape == (4, 4, 3) and result.pixels[..., 0].mean() > 200


def test_conversion_centre_crops_to_a_square_before_resizing(tmp_path):
    img = Image.new("RGB", (30, 10), (0, 0, 255))
    img.paste((255, 0, 0), (10, 0, 20, 10))  # red centre square, blue side bands
    img.save(tmp_path / "wide.png")
    pixels = load_image(tmp_path / "wide.png", size=5).pixels
    assert (pixels[..., 0] > 200).all() and (pixels[..., 2] < 60).all(), "the side bands must be cropped away"


def test_transparency_is_flattened_onto_white(tmp_path):
    Image.new("RGBA", (8, 8), (0, 0, 0, 0)).save(tmp_path / "clear.png")
    assert (load_image(tmp_path / "clear.png", size=4).pixels == 255).all()


def test_all_grayscale_images_give_mode_l_and_one_channel(tmp_path):
    csv_path, image_dir = write_dataset(tmp_path)
    for name in ("p0.png", "p1.png", "p2.png"):
        write_image(image_dir / name, mode="L")
    write_image(image_dir / "p3.png", color=(90, 90, 90))  # RGB file with equal channels counts as grey
    report = _inspect(csv_path, image_dir, tmp_path)
    assert report.image_mode == "L" and report.schema.image_mode == "L"
    data = load_paired_dataset(csv_path, image_dir, report.schema, workspace=tmp_path / "ws")
    assert data.images.shape == (DEFAULT_ROWS, 32, 32, 1) and data.images.dtype == np.uint8


def test_one_colour_image_makes_the_mode_rgb(tmp_path):
    csv_path, image_dir = write_dataset(tmp_path)
    assert _inspect(csv_path, image_dir, tmp_path).image_mode == "RGB"


def test_zip_of_images_is_extracted_inside_the_workspace(tmp_path):
    csv_path, image_dir = write_dataset(tmp_path / "data")
    zip_path = zip_folder(image_dir, tmp_path / "images.zip")
    report = inspect_dataset(csv_path, zip_path, workspace=tmp_path / "ws", person_column="")
    assert report.ok(), report.issues
    assert report.images_root.is_relative_to((tmp_path / "ws" / "uploads").resolve())


def test_unsafe_zip_is_a_fatal_issue_and_writes_nothing_outside_the_workspace(tmp_path):
    import zipfile

    csv_path, _ = write_dataset(tmp_path / "data")
    zip_path = tmp_path / "evil.zip"
    with zipfile.ZipFile(zip_path, "w") as archive:
        archive.writestr("../evil", "x")
    report = inspect_dataset(csv_path, zip_path, workspace=tmp_path / "ws")
    assert rules(report.issues, "fatal") == ["zip_refused"]
    assert not (tmp_path / "evil").exists() and not (tmp_path / "ws" / "evil").exists()


def test_images_path_that_does_not_exist_is_fatal(tmp_path):
    csv_path, _ = write_dataset(tmp_path)
    report = _inspect(csv_path, tmp_path / "nowhere", tmp_path)
    assert rules(report.issues, "fatal") == ["images_not_found"]


def test_paired_dataset_aligns_rows_and_images_in_row_order(tmp_path):
    csv_path, image_dir = write_dataset(tmp_path)
    write_image(image_dir / "p2.png", color=(0, 255, 0))
    schema = _inspect(csv_path, image_dir, tmp_path).schema
    data = load_paired_dataset(csv_path, image_dir, schema, workspace=tmp_path / "ws")
    assert data.image_names == ["p0.png", "p1.png", "p2.png", "p3.png"]
    assert data.images.shape == (DEFAULT_ROWS, 32, 32, 3)
    assert data.images[2, ..., 1].mean() > 250 and data.images[2, ..., 0].mean() < 5, "row 3's image is not p2.png"
    assert data.table["site"].tolist() == ["arm", "leg", "arm", "leg"]


def test_load_raises_one_error_naming_every_bad_file(tmp_path):
    csv_path, image_dir = write_dataset(tmp_path)
    schema = _inspect(csv_path, image_dir, tmp_path).schema
    (image_dir / "p1.png").unlink()
    (image_dir / "p3.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    with pytest.raises(DataError) as err:
        load_paired_dataset(csv_path, image_dir, schema, workspace=tmp_path / "ws")
    assert "p1.png" in str(err.value) and "p3.png" in str(err.value), str(err.value)


def test_load_refuses_a_schema_for_other_columns(tmp_path):
    csv_path, image_dir = write_dataset(tmp_path)
    schema = _inspect(csv_path, image_dir, tmp_path).schema
    other, _ = write_dataset(tmp_path / "other", [{"name": "a", "image": "p0.png"}])
    with pytest.raises(DataError, match="columns differ"):
        load_paired_dataset(other, image_dir, schema, workspace=tmp_path / "ws")


def test_reference_without_extension_matching_two_files_is_a_warning_naming_the_choice(tmp_path):
    rows = [{"id": "a", "image": "scan"}, {"id": "b", "image": "other.png"}]
    csv_path, image_dir = write_dataset(tmp_path, rows, images=["scan.jpg", "scan.png", "other.png"])
    report = _inspect(csv_path, image_dir, tmp_path)
    ambiguous = [i for i in report.issues if i.rule == "image_ambiguous"]
    assert len(ambiguous) == 1 and ambiguous[0].severity == "warning" and "'scan.jpg'" in ambiguous[0].what
