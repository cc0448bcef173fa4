"""Uploads (issue 15, finding 7): capped with a clear message, written as a stream (never held twice),
zips kept apart from their extraction, and uploads and jobs deletable by their owner."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
from PIL import Image

from dptab_core.errors import DataError, InputError
from dptab_core.uploads import (
    BLOCK,
    UploadLimits,
    check_table_size,
    delete_job,
    delete_upload,
    list_uploads,
    save_stream,
    save_table_upload,
)


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("DPTAB_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def _csv(tmp_path, rows: int, columns: int = 3):
    path = tmp_path / "t.csv"
    header = ",".join(f"c{j}" for j in range(columns))
    path.write_text(header + "\n" + "".join(",".join("1" * columns) + "\n" for _ in range(rows)))
    return path


def test_a_table_within_the_caps_is_counted_with_quoted_newlines_as_one_row(tmp_path):
    path = tmp_path / "q.csv"
    path.write_text('name,note\na,"two\nlines"\nb,plain\n')
    assert check_table_size(path) == (2, 2)


@pytest.mark.parametrize(
    ("rows", "columns", "limits", "says"),
    [
        (3, 12, UploadLimits(max_columns=10), "12 columns; the app takes at most 10"),
        (6, 2, UploadLimits(max_rows=5), "more than 5 rows"),
        (6, 4, UploadLimits(max_cells=20), "more than 20 cells (4 columns × 6+ rows)"),
    ],
)
def test_a_table_over_a_cap_is_refused_with_the_count_the_cap_and_what_to_do(tmp_path, rows, columns, limits, says):
    with pytest.raises(DataError) as refused:
        check_table_size(_csv(tmp_path, rows, columns), limits=limits)
    assert says in str(refused.value) and "t.csv" in str(refused.value), str(refused.value)
    assert refused.value.hint, "the refusal says what to do"


def test_a_refused_table_upload_is_not_kept(tmp_path):
    with pytest.raises(DataError):
        save_table_upload(io.BytesIO(_csv(tmp_path, 6, 2).read_bytes()), "big.csv", limits=UploadLimits(max_rows=5))
    assert not list_uploads(), "the refused table stayed in the workspace"


class Watched(io.BytesIO):
    """An uploaded file that records how it is read."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.largest_read, self.copied_whole = 0, False

    def read(self, size=-1):
        self.largest_read = max(self.largest_read, len(self.getbuffer()) if size is None or size < 0 else size)
        return super().read(size)

    def getvalue(self):
        self.copied_whole = True
        return super().getvalue()


def test_an_upload_is_streamed_to_disk_never_copied_whole(tmp_path):
    data = np.random.default_rng(0).bytes(3 * BLOCK + 17)
    upload = Watched(data)
    path = save_stream(upload, "../../images.zip")
    assert path.read_bytes() == data and path.name == "images.zip"
    assert not upload.copied_whole and upload.largest_read <= BLOCK, (upload.copied_whole, upload.largest_read)


def test_a_zip_upload_is_never_inside_its_extraction_folder_so_reruns_count_the_same_images(tmp_path):
    from dptab_core.data.ingest import inspect_dataset

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for i in range(3):
            png = io.BytesIO()
            Image.new("RGB", (8, 8), (i * 60, 0, 0)).save(png, format="PNG")
            archive.writestr(f"img{i}.png", png.getvalue())
    zip_path = save_stream(io.BytesIO(buffer.getvalue()), "images.zip")
    csv = save_stream(io.BytesIO(b"age,image\n30,img0.png\n40,img1.png\n50,img2.png\n"), "table.csv")
    first = inspect_dataset(csv, zip_path)
    second = inspect_dataset(csv, zip_path)  # the app's next rerun
    assert zip_path.is_file(), "extraction removed the uploaded zip"
    assert first.n_image_files == second.n_image_files == 3, (first.n_image_files, second.n_image_files)


def test_an_upload_can_be_deleted_unless_an_unfinished_job_reads_it(tmp_path):
    from dptab_core.jobs import JobStore

    csv = save_stream(io.BytesIO(b"a\n1\n"), "table.csv")
    images = save_stream(io.BytesIO(b"not really a zip"), "images.zip")
    job = JobStore().create({"entry": "synth", "csv_path": str(csv), "images_path": str(images)})
    with pytest.raises(InputError, match=f"job\\(s\\) {job.id} still read this upload"):
        delete_upload(csv.parent)
    job.update_status(state="succeeded")
    delete_upload(csv.parent)
    assert not csv.exists() and images.exists()
    with pytest.raises(InputError, match="only an upload inside"):
        delete_upload(tmp_path)


def test_a_finished_job_can_be_deleted_and_its_spend_stays_on_the_dataset(tmp_path):
    from dptab_core.jobs import JobStateError, JobStore
    from dptab_core.privacy import dataset_budget as db

    csv = save_stream(io.BytesIO(b"a\n1\n"), "table.csv")
    spec = {
        "entry": "synth",
        "kind": "synth",
        "csv_path": str(csv),
        "images_path": str(csv),
        "plan_options": {"epsilon": 2.0},
    }
    store = JobStore()
    with db.admitting(spec) as charge:
        job = store.create(spec)
        charge(job.id)
    with pytest.raises(JobStateError, match="Cancel it first"):
        delete_job(job.id)
    job.update_status(state="failed")
    (job.dir / "out").mkdir()
    delete_job(job.id)
    assert not job.dir.exists() and store.list() == []
    assert db.spend_of(csv, csv).epsilon == pytest.approx(2.0), "deleting the job removed its privacy spend"
