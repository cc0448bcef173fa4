"""Fuzzing ingest: arbitrary CSV bytes and arbitrary zip members give a report or a DataError, never a crash."""

from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ingest_fixtures import write_image

from dptab_core.data.archive import ZipLimits, extract_zip_safely
from dptab_core.data.csv_reader import read_csv_bytes
from dptab_core.data.ingest import inspect_dataset, load_paired_dataset
from dptab_core.errors import DataError

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# Bytes biased towards CSV structure: delimiters, quotes, newlines, BOMs, non-UTF-8 and NUL bytes.
csv_bytes = st.one_of(
    st.binary(max_size=300),
    st.lists(
        st.sampled_from(
            [
                b",",
                b";",
                b"\t",
                b'"',
                b"\n",
                b"\r\n",
                b"a",
                b"1",
                b"2.5",
                b"img.png",
                b"\xef\xbb\xbf",
                b"\xe9",
                b"\x00",
                b"NA",
                b" ",
                b"image",
                b"x.png",
            ]
        ),
        max_size=60,
    ).map(b"".join),
)

member_names = st.lists(
    st.sampled_from(["a", "b.png", "..", ".", "/", "\\", "C:", "img", "x.zip", "__MACOSX", "é", ".hidden"]),
    min_size=1,
    max_size=5,
).map("/".join)
members = st.lists(st.tuples(member_names, st.binary(max_size=64)), max_size=6)


def _images(root: Path) -> Path:
    write_image(root / "images" / "img.png")
    write_image(root / "images" / "x.png")
    return root / "images"


@FUZZ
@given(data=csv_bytes)
def test_arbitrary_csv_bytes_give_issues_not_exceptions(data):
    table = read_csv_bytes(data, name="fuzz.csv")
    assert table.frame.empty or len(table.frame) == len(table.lines)


@FUZZ
@given(data=csv_bytes)
def test_arbitrary_csv_through_inspect_and_load_raises_only_data_error(data):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "t.csv").write_bytes(data)
        report = inspect_dataset(root / "t.csv", _images(root), workspace=root / "ws")
        report.to_dict()
        if report.schema is not None:
            try:
                load_paired_dataset(root / "t.csv", root / "images", report.schema, workspace=root / "ws")
            except DataError:
                pass


@pytest.mark.filterwarnings("ignore:Duplicate name")
@FUZZ
@given(entries=members, garbage=st.binary(max_size=40))
def test_arbitrary_zip_members_raise_only_data_error_and_stay_inside(entries, garbage):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            for name, content in entries:
                archive.writestr(name, content)
        for k, blob in enumerate([buffer.getvalue(), buffer.getvalue()[: len(garbage)] + garbage]):
            zip_path = root / f"f{k}.zip"
            zip_path.write_bytes(blob)
            dest = root / "ws" / "uploads" / f"x{k}"
            try:
                extract_zip_safely(zip_path, dest, limits=ZipLimits(max_total_bytes=10_000))
            except DataError:
                assert not dest.exists(), "a refused zip must leave nothing behind"
            outside = {p.name for p in root.iterdir()} - {"ws", "f0.zip", "f1.zip"}
            assert not outside, f"extraction wrote outside the workspace: {outside}"
