"""The Data page (AppTest): demo by default, a folder or an upload checked in plain words, then used."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from ingest_fixtures import write_dataset, zip_folder
from streamlit.testing.v1 import AppTest

import ui.demo
from dptab_core.data.demo import DemoConfig, ensure_demo
from dptab_core.data.schema import Column, Schema
from dptab_core.errors import DataError
from ui.data_view import apply_edits, schema_frame
from ui.safe_text import md
from ui.state import STATE_KEY, StudioState

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "data.py")
FOLDER = "Folder on this server"


@pytest.fixture(autouse=True)
def workspace(tmp_path, monkeypatch):
    """Each test gets its own workspace, and a small demo (the full one takes ~20 s to draw)."""
    monkeypatch.setenv("DPTAB_HOME", str(tmp_path / "ws"))
    monkeypatch.setattr(ui.demo, "ensure_demo", lambda: ensure_demo(config=DemoConfig(rows=40, public_per_label=2)))
    return tmp_path / "ws"


def _page(state: StudioState | None = None) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60)
    if state is not None:
        at.session_state[STATE_KEY] = state
    return at.run()


def _own_folder(at: AppTest, csv_path, image_dir) -> AppTest:
    at.radio(key="data_source").set_value(FOLDER).run()
    at.text_input(key="server_csv").input(str(csv_path))
    at.text_input(key="server_images").input(str(image_dir))
    return at.run()


def _state(at: AppTest) -> StudioState:
    return at.session_state[STATE_KEY]


def test_first_launch_uses_the_demo_dataset():
    at = _page()
    assert not at.exception, at.exception
    state = _state(at)
    assert state.dataset_name == ui.demo.DEMO_NAME and state.n_rows == 40 and state.schema.image_column == "image"
    assert any("public by design" in s.value for s in at.success)


def test_folder_with_a_missing_image_shows_the_file_and_blocks_use(tmp_path):
    csv_path, image_dir = write_dataset(tmp_path / "data")
    (image_dir / "p2.png").unlink()
    at = _own_folder(_page(StudioState()), csv_path, image_dir)
    assert not at.exception, at.exception
    assert any(md("p2.png") in e.value and "What to do" in e.value for e in at.error), [e.value for e in at.error]
    assert at.button(key="use_dataset").disabled, "bad data must not be usable"


def test_dropping_missing_images_makes_the_folder_usable_after_confirming_one_row_per_person(tmp_path):
    csv_path, image_dir = write_dataset(tmp_path / "data")
    (image_dir / "p2.png").unlink()
    at = _own_folder(_page(StudioState()), csv_path, image_dir)
    at.checkbox(key="drop_missing").check().run()
    assert at.button(key="use_dataset").disabled, "the one-row-per-person assumption is not confirmed yet"
    at.selectbox(key="person_column").set_value("none: every row is a different person").run()
    at.checkbox(key="confirm_one_per_person").check().run()
    at.button(key="use_dataset").click().run()
    state = _state(at)
    assert not at.exception, at.exception
    assert state.n_rows == 3 and state.schema.one_row_per_person_confirmed
    assert state.csv_path == csv_path and state.ingest_policy["drop_missing_images"] is True


def test_person_column_is_proposed_and_rows_are_bounded(tmp_path):
    rows = [{"patient_id": p, "age": str(20 + k), "image": f"{k}.png"} for k, p in enumerate("AABCCD")]
    csv_path, image_dir = write_dataset(tmp_path / "data", rows)
    at = _own_folder(_page(StudioState()), csv_path, image_dir)
    assert any(md("patient_id") in i.value and "2 rows dropped" in i.value for i in at.info), [i.value for i in at.info]
    at.button(key="use_dataset").click().run()
    assert _state(at).n_rows == 4 and _state(at).schema.person_column == "patient_id"


def test_upload_of_csv_and_zip_is_checked_inside_the_workspace(tmp_path, workspace):
    csv_path, image_dir = write_dataset(tmp_path / "data")
    zip_path = zip_folder(image_dir, tmp_path / "images.zip")
    at = _page(StudioState())
    at.radio(key="data_source").set_value("Upload a CSV + images (folder or zip)").run()
    at.radio(key="upload_images_as").set_value("a .zip of the images").run()
    at.file_uploader(key="upload_csv").upload("table.csv", csv_path.read_bytes(), "text/csv")
    at.file_uploader(key="upload_zip").upload("images.zip", zip_path.read_bytes(), "application/zip").run()
    assert not at.exception, at.exception
    assert any("No blocking problems" in s.value for s in at.success), [e.value for e in at.error]
    assert list((workspace / "uploads").rglob("p0.png")), "the zip must be extracted under the workspace"


def test_unreadable_csv_shows_a_plain_error_not_a_traceback(tmp_path):
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "images").mkdir()
    at = _own_folder(_page(StudioState()), tmp_path / "empty.csv", tmp_path / "images")
    assert not at.exception, at.exception
    assert any("empty" in e.value for e in at.error)


def test_schema_edits_set_public_domains_and_name_the_column_at_fault():
    schema = Schema(
        columns=(Column(name="img", kind="image"), Column(name="site", kind="categorical", categories=("arm", "leg"))),
        image_column="img",
    )
    frame = schema_frame(schema)
    frame.loc[1, ["domain", "public"]] = ["arm | leg | trunk", True]
    assert apply_edits(schema, frame).column("site").categories == ("arm", "leg", "trunk")
    frame.loc[1, ["kind", "domain"]] = ["numeric", "zero to ten"]
    with pytest.raises(DataError, match="'site'"):
        apply_edits(schema, frame)
    frame = schema_frame(schema)
    frame.loc[0, "kind"] = "excluded"
    with pytest.raises(DataError, match="must stay 'image'"):
        apply_edits(schema, pd.DataFrame(frame))
