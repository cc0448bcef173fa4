"""The Data page's schema editor: every schema fact can be edited, and pre-filled ones say so."""

from __future__ import annotations

from pathlib import Path

import pytest
from ingest_fixtures import write_dataset
from streamlit.testing.v1 import AppTest

from dptab_core.data.schema import Column, Schema
from dptab_core.errors import DataError
from ui.data_view import FACTS_ATTR, apply_edits, schema_frame

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "data.py")


def _schema() -> Schema:
    return Schema(
        columns=(
            Column(name="img", kind="image"),
            Column(name="size", kind="numeric", dtype="int", bounds=(0, 100), binning="quantile", missing="learn"),
            Column(name="site", kind="categorical", categories=("arm", "leg"), missing="learn"),
        ),
        image_column="img",
        image_mode="L",
        encoding="utf-8",
        delimiter=",",
    )


def test_type_blanks_and_bins_are_edited_per_column():
    frame = schema_frame(_schema())
    frame.loc[1, ["type", "blanks", "bins", "public"]] = ["float", "never", "0, 5, 10, 100", True]
    frame.loc[2, ["blanks", "public"]] = ["allowed", True]
    edited = apply_edits(_schema(), frame)
    size, site = edited.column("size"), edited.column("site")
    assert (size.dtype, size.missing, size.binning, size.edges) == ("float", "never", "edges", (0.0, 5.0, 10.0, 100.0))
    assert (site.missing, site.public) == ("allowed", True)
    assert edited.unpaid_domains() == [], "every fact declared: nothing left to pay"


def test_file_wide_facts_image_mode_encoding_and_delimiter_are_edited():
    frame = schema_frame(_schema())
    frame.attrs[FACTS_ATTR] = {"image_mode": "RGB", "encoding": "cp1252", "delimiter": ";"}
    edited = apply_edits(_schema(), frame)
    assert (edited.image_mode, edited.encoding, edited.delimiter) == ("RGB", "cp1252", ";")


def test_unreadable_bins_and_encodings_name_the_fault():
    frame = schema_frame(_schema())
    frame.loc[1, "bins"] = "wide"
    with pytest.raises(DataError, match="'size'"):
        apply_edits(_schema(), frame)
    frame = schema_frame(_schema())
    frame.attrs[FACTS_ATTR] = {"encoding": "klingon"}
    with pytest.raises(DataError, match="encoding"):
        apply_edits(_schema(), frame)


def test_facts_pre_filled_from_the_data_are_marked_until_declared():
    frame = schema_frame(_schema())
    assert frame["from data"].tolist() == [False, True, True]
    declared = _schema().replace_column(
        Column(name="site", kind="categorical", categories=("arm", "leg"), public=True, missing="never")
    )
    assert schema_frame(declared)["from data"].tolist() == [False, True, False]


def test_the_data_page_offers_the_file_wide_facts_for_a_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("DPTAB_HOME", str(tmp_path / "ws"))
    csv_path, image_dir = write_dataset(tmp_path / "data", delimiter=";")
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    at.radio(key="data_source").set_value("Folder on this server").run()
    at.text_input(key="server_csv").input(str(csv_path))
    at.text_input(key="server_images").input(str(image_dir))
    at.run()
    assert not at.exception, at.exception
    labels = {s.label: s.value for s in at.selectbox}
    assert labels.get("Delimiter (from data)") == ";" and labels.get("Image mode (from data)") == "RGB"
    assert any(t.label == "Text encoding (from data)" and t.value == "utf-8" for t in at.text_input)
