"""The own-data path in AppTest: directory upload, a public set, the dataset remembered across sessions,
and every page naming it (issue 16)."""

from __future__ import annotations

import pytest
from app_support import demo_home, home, page  # noqa: F401 (fixtures)
from own_data import CSV_NAME, write_own_dataset

from dptab_core.user_data import check_public_folder, load_dataset_choice, save_folder_upload
from ui.safe_text import md
from ui.state import STATE_KEY, StudioState

pytestmark = pytest.mark.usefixtures("home")
DATA, BUDGET, TRAIN = "pages/data.py", "pages/budget.py", "pages/train.py"


def texts(at) -> str:
    return " ".join(
        str(e.value)
        for kind in ("markdown", "info", "success", "error", "warning", "caption")
        for e in getattr(at, kind)
    )


@pytest.fixture(scope="module")
def own(tmp_path_factory):
    return write_own_dataset(tmp_path_factory.mktemp("own"))


def folder_files(folder, top):
    return [
        (f"{top}/{p.relative_to(folder).as_posix()}", p.read_bytes(), "image/png")
        for p in sorted(folder.rglob("*.png"))
    ]


def test_directory_upload_and_a_public_folder_make_the_dataset_that_later_sessions_remember(own):
    at = page(DATA, StudioState()).run()
    at.radio(key="data_source").set_value("Upload a CSV + images (folder or zip)").run()
    at.file_uploader(key="upload_csv").set_value((CSV_NAME, own.csv.read_bytes(), "text/csv")).run()
    uploader = at.file_uploader(key="upload_image_dir")
    assert uploader.accept_directory, "the image uploader must take a whole folder"
    uploader.set_value(folder_files(own.photos, "lesion_photos")).run()
    assert not at.exception, at.exception
    assert "Validation report" in [h.value for h in at.subheader], texts(at)
    at.selectbox(key="person_column").set_value("patient_id").run()
    at.radio(key="public_source").set_value("a folder on this server").run()
    at.text_input(key="server_public").set_value(str(own.public)).run()
    assert "Public set:" in texts(at), texts(at)
    at.button(key="use_dataset").click().run()
    assert not at.exception, at.exception
    state = at.session_state[STATE_KEY]
    assert state.dataset_name == CSV_NAME and state.public_dir is not None
    assert f"Using **{md(CSV_NAME)}**" in texts(at)
    assert md(CSV_NAME) in " ".join(c.value for c in at.caption if "So far" in c.value), "the So-far line lags"
    assert "upload.csv" not in texts(at)

    choice = load_dataset_choice()
    assert choice["dataset_name"] == CSV_NAME
    fresh = page(BUDGET).run()  # a new session, as after a browser refresh
    assert not fresh.exception, fresh.exception
    assert fresh.session_state[STATE_KEY].dataset_name == CSV_NAME
    assert md(CSV_NAME) in texts(fresh)
    assert "public-image query is off" not in texts(fresh), "the public set must enable the semantic query"


def test_a_job_spec_from_own_data_carries_the_public_folder_and_the_dataset_name(own):
    from ui.job_view import job_dataset, synth_spec
    from ui.state import restore_dataset

    state = StudioState()
    assert restore_dataset(state) or pytest.skip("needs the dataset chosen by the test above")
    spec = synth_spec(state, preset="quick", device="cpu")
    assert spec["public_dir"] and job_dataset(spec) == state.dataset_name


def test_folder_upload_refuses_unsafe_names_and_drops_the_chosen_folder_name():
    saved = save_folder_upload([("photos/a.png", b"x"), ("photos/sub/b.png", b"y"), ("photos/../evil.png", b"z")])
    assert saved.name == "photos" and saved.n_files == 2 and saved.refused == ["photos/../evil.png"]
    assert (saved.root / "a.png").read_bytes() == b"x" and (saved.root / "sub" / "b.png").is_file()


def test_public_folder_check_names_the_layout_problem(tmp_path, own):
    (tmp_path / "loose.png").write_bytes((own.photos / sorted(p.name for p in own.photos.iterdir())[0]).read_bytes())
    bad = check_public_folder(tmp_path)
    assert not bad.ok and "<label>/<image files>" in bad.problems[0]
    good = check_public_folder(own.public)
    assert good.ok and len(good.counts) >= 2 and good.previews


def test_a_zip_upload_keeps_its_name_and_is_not_counted_as_an_image(own, tmp_path):
    import zipfile

    archive = tmp_path / "my_photos.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for p in sorted(own.photos.iterdir()):
            z.write(p, p.name)
    at = page(DATA, StudioState()).run()
    at.radio(key="data_source").set_value("Upload a CSV + images (folder or zip)").run()
    at.radio(key="upload_images_as").set_value("a .zip of the images").run()
    at.file_uploader(key="upload_csv").set_value((CSV_NAME, own.csv.read_bytes(), "text/csv")).run()
    at.file_uploader(key="upload_zip").set_value(("my_photos.zip", archive.read_bytes(), "application/zip")).run()
    assert not at.exception, at.exception
    words = texts(at)
    assert "orphan" not in words.lower() or "my_photos.zip" not in words, words
    files = [m for m in at.metric if m.label == "Image files"]
    assert files and files[0].value == f"{len(list(own.photos.iterdir())):,}", [m.value for m in files]


def test_a_binary_file_gets_no_person_column_warning(tmp_path):
    at = page(DATA, StudioState()).run()
    at.radio(key="data_source").set_value("Folder on this server").run()
    junk = tmp_path / "scan.csv"
    junk.write_bytes(bytes(range(256)) * 40)
    (tmp_path / "imgs").mkdir()
    at.text_input(key="server_csv").set_value(str(junk)).run()
    at.text_input(key="server_images").set_value(str(tmp_path / "imgs")).run()
    assert not at.exception, at.exception
    assert at.error, "a binary file must be reported"
    assert not any("person" in w.value.lower() for w in at.warning), [w.value for w in at.warning]
