"""Schema proposal: column kinds, proposed domains (never public), person column and one row per person."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from ingest_fixtures import rules, write_dataset

from dptab_core.data.infer import infer_column, propose_person_columns, propose_schema
from dptab_core.data.ingest import IngestPolicy, inspect_dataset

HAM = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ham10000"


def _col(values, name="c"):
    return infer_column(name, pd.Series(values, dtype=object))


def test_whole_numbers_with_many_values_are_numeric_int_with_bounds_snapped_outward_to_the_public_grid():
    col = _col([str(v) for v in range(20, 60, 2)] + [None], name="age")
    assert (col.kind, col.dtype, col.bounds) == ("numeric", "int", (10, 100)), "never the observed 20 and 58"
    assert "pre-filled from the data" in col.note


def test_decimal_numbers_are_numeric_float_with_snapped_bounds():
    col = _col(["1.5", "2.25", "3", "-4e1"])
    assert (col.kind, col.dtype, col.bounds) == ("numeric", "float", (-50.0, 5.0))


def test_a_numeric_proposal_pays_for_quantile_bins_and_learns_blanks_privately():
    col = _col([str(v) for v in range(20, 60, 2)], name="age")
    assert (col.binning, col.missing) == ("quantile", "learn")
    assert col.paid_facts == ["bounds", "bin edges", "missing values"]


def test_categories_held_by_fewer_than_a_handful_of_rows_are_named_in_a_warning():
    col = _col(["arm"] * 30 + ["leg"] * 20 + ["toe"] * 2, name="site")
    assert "WARNING: 1 held by fewer than 5 rows (toe)" in col.note
    assert "WARNING" not in _col(["arm"] * 30 + ["leg"] * 20, name="site").note


def test_whole_numbers_with_few_values_are_categories():
    col = _col(["1", "2", "2.0", "3", "1"], name="score")
    assert (col.kind, col.dtype, col.categories) == ("categorical", "int", ("1", "2", "3"))


def test_text_with_few_values_is_categorical_sorted():
    col = _col(["leg", "arm", "leg", None, "arm"])
    assert (col.kind, col.categories) == ("categorical", ("arm", "leg"))


def test_unique_text_per_row_is_excluded_as_identifier():
    col = _col([f"id-{i}" for i in range(30)], name="record")
    assert col.kind == "excluded" and "identifier" in col.note


def test_consecutive_row_numbers_are_excluded_as_identifier():
    col = _col([str(i) for i in range(1, 40)], name="n")
    assert col.kind == "excluded" and "identifier" in col.note


def test_free_text_is_excluded_with_a_reason():
    notes = [f"patient reports itching {i % 60} days" for i in range(200)]
    col = _col(notes, name="notes")
    assert col.kind == "excluded" and "free text" in col.note


def test_empty_column_is_excluded():
    col = _col([None, None])
    assert col.kind == "excluded" and "no values" in col.note


def test_every_proposed_domain_is_not_public():
    frame = pd.DataFrame(
        {"img": ["a", "b", "c"], "site": ["arm", "leg", "arm"], "size": ["1.5", "2", "3.5"]}, dtype=object
    )
    schema = propose_schema(frame, image_column="img")
    assert [c.name for c in schema.unpaid_domains()] == ["site", "size"], "a proposal must never be public"


def test_person_column_is_proposed_by_repetition_and_name():
    frame = pd.DataFrame(
        {
            "patient_id": ["a", "a", "b", "c", "c", "d"],
            "image": list("123456"),
            "dx": ["x", "y", "x", "x", "y", "x"],
            "size": ["1.5", "1.5", "2.5", "3", "3", "4"],
        },
        dtype=object,
    )
    assert propose_person_columns(frame, image_column="image")[0] == "patient_id"
    assert "size" not in propose_person_columns(frame, image_column="image"), "measurements are not people"


def _persons_dataset(tmp_path):
    rows = [
        {"patient_id": p, "age": a, "image": f"{k}.png"}
        for k, (p, a) in enumerate([("A", "40"), ("A", "41"), ("B", "50"), ("C", "60"), ("C", "61"), ("C", "62")])
    ]
    return write_dataset(tmp_path, rows)


def test_one_row_per_person_keeps_the_first_row_and_reports_the_drop(tmp_path):
    csv_path, image_dir = _persons_dataset(tmp_path)
    report = inspect_dataset(csv_path, image_dir, workspace=tmp_path / "ws")
    assert report.person_column == "patient_id" and report.schema.person_column == "patient_id"
    assert (report.n_rows_kept, report.rows_dropped_per_person) == (3, 3)
    assert report.schema.column("patient_id").kind == "excluded"
    assert "person_rows_dropped" in rules(report.issues, "warning")
    assert report.schema.column("age").categories == ("40", "50", "60"), "the first row of each person must be kept"


def test_keeping_every_person_row_is_a_warning(tmp_path):
    csv_path, image_dir = _persons_dataset(tmp_path)
    report = inspect_dataset(
        csv_path, image_dir, workspace=tmp_path / "ws", policy=IngestPolicy(keep_one_row_per_person=False)
    )
    assert report.n_rows_kept == 6 and "person_unbounded" in rules(report.issues, "warning")


def test_without_person_column_the_assumption_must_be_confirmed(tmp_path):
    csv_path, image_dir = write_dataset(tmp_path)
    report = inspect_dataset(csv_path, image_dir, workspace=tmp_path / "ws")
    assert report.person_column is None and report.needs_person_confirmation
    assert "person_unconfirmed" in rules(report.issues, "warning")
    confirmed = inspect_dataset(csv_path, image_dir, workspace=tmp_path / "ws", confirm_one_row_per_person=True)
    assert confirmed.schema.one_row_per_person_confirmed and not confirmed.needs_person_confirmation


def test_unknown_person_column_is_fatal(tmp_path):
    csv_path, image_dir = write_dataset(tmp_path)
    report = inspect_dataset(csv_path, image_dir, workspace=tmp_path / "ws", person_column="nope")
    assert rules(report.issues, "fatal") == ["person_column_not_found"]


@pytest.mark.slow
def test_ham10000_proposes_lesion_id_and_matches_stems(tmp_path):
    if not (HAM / "HAM10000_metadata.csv").is_file():
        pytest.skip("shared HAM10000 copy not present")
    report = inspect_dataset(HAM / "HAM10000_metadata.csv", HAM / "images", workspace=tmp_path / "ws")
    assert report.ok(), report.issues_of("fatal")[:3]
    assert report.image_column == "image_id" and report.person_column == "lesion_id"
    assert report.n_rows_kept == 7470 and report.rows_dropped_per_person == 10015 - 7470
    kinds = {c.name: c.kind for c in report.schema.columns}
    assert kinds == {
        "lesion_id": "excluded",
        "image_id": "image",
        "dx": "categorical",
        "dx_type": "categorical",
        "age": "numeric",
        "sex": "categorical",
        "localization": "categorical",
    }
