"""Every schema fact is a declaration: a job reads the data through the confirmed schema, so changing
one row (an odd byte, a fractional value, a colour image, a new extreme) never changes how the other
rows are read nor what is released, unless the user confirms a new schema."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
from ingest_fixtures import rules, write_dataset, write_image

from dptab_core.data.csv_reader import read_csv_bytes
from dptab_core.data.encoding import encode_column
from dptab_core.data.infer import typed_table
from dptab_core.data.ingest import NO_PERSON_COLUMN, inspect_dataset, load_paired_dataset
from dptab_core.data.schema import Column, Schema
from dptab_core.privacy import Ledger
from dptab_core.privacy.domain import pay_for_domains

CITIES = ["Zürich", "Genève", "Bern"]


def _cities_csv(extra: bytes = b"") -> bytes:
    rows = "".join(f"{i},{CITIES[i % 3]}\n" for i in range(1000))
    return ("id,city\n" + rows).encode("utf-8") + extra


def _coded_missing(frame: pd.DataFrame) -> int:
    city = Column(name="city", kind="categorical", categories=tuple(CITIES), public=True)
    codes = encode_column(frame["city"], city)
    return int((codes == len(CITIES)).sum())


def test_one_row_with_an_odd_byte_never_changes_how_the_other_rows_decode():
    clean = read_csv_bytes(_cities_csv(), name="t.csv", encoding="utf-8", delimiter=",")
    dirty = read_csv_bytes(_cities_csv(b"1000,Gen\xe7ve\n"), name="t.csv", encoding="utf-8", delimiter=",")
    assert _coded_missing(clean.frame) == 0
    assert _coded_missing(dirty.frame) == 0, "one person's byte re-decoded other people's rows"
    assert dirty.frame.equals(clean.frame), "the other 1,000 rows must read exactly as before"
    assert rules(dirty.issues, "skipped") == ["csv_row_undecodable"], "the bad row is dropped and reported alone"
    assert "row 1001" in dirty.issues[0].where


def test_inspection_proposes_utf8_when_only_a_stray_row_fails_to_decode():
    proposed = read_csv_bytes(_cities_csv(b"1000,Gen\xe7ve\n"), name="t.csv")
    assert proposed.encoding == "utf-8" and _coded_missing(proposed.frame) == 0
    assert rules(proposed.issues) == ["csv_row_undecodable"]


def test_a_job_reads_with_the_confirmed_encoding_even_when_the_file_looks_otherwise():
    latin = "id,city\n1,Zürich\n2,Genève\n".encode("cp1252")
    read = read_csv_bytes(latin, name="t.csv", encoding="cp1252", delimiter=",")
    assert read.frame["city"].tolist() == ["Zürich", "Genève"] and read.issues == []


def test_a_job_splits_rows_with_the_confirmed_delimiter_not_a_sniffed_one():
    data = b"a;b,c\n1;2,3\n4;5,6\n"
    assert read_csv_bytes(data, name="t.csv", delimiter=",").frame.columns.tolist() == ["a;b", "c"]
    assert read_csv_bytes(data, name="t.csv", delimiter=";").frame.columns.tolist() == ["a", "b,c"]


def test_the_proposal_records_encoding_and_delimiter_for_the_user_to_confirm(tmp_path):
    csv_path, images = write_dataset(tmp_path, delimiter=";")
    schema = inspect_dataset(csv_path, images, person_column=NO_PERSON_COLUMN).schema
    assert (schema.encoding, schema.delimiter) == ("utf-8", ";")
    assert Schema.from_dict(schema.to_dict()) == schema
    assert schema.release_view().encoding is None, "the upload's encoding is not part of the release"


# ---------------------------------------------------------------- one row changed


def _rows(n: int = 40) -> list[dict[str, str]]:
    return [
        {"pid": f"P{i}", "size": str(20 + i % 30), "site": ["arm", "leg"][i % 2], "image": f"p{i}.png"}
        for i in range(n)
    ]


def _write_grey_dataset(root, rows):
    csv_path, images = write_dataset(root, rows, images=[])
    for k, row in enumerate(rows):
        write_image(images / row["image"], mode="L", color=(10 * k % 256,) * 3)
    return csv_path, images


def _confirmed(csv_path, images) -> Schema:
    """What the user confirms: the proposal with every fact declared public."""
    proposal = inspect_dataset(csv_path, images, person_column=NO_PERSON_COLUMN, confirm_one_row_per_person=True).schema
    size = replace(proposal.column("size"), public=True, bounds=(0.0, 100.0), binning="equal", missing="never")
    site = replace(proposal.column("site"), public=True, missing="never")
    return proposal.replace_column(size).replace_column(site)


def _released(csv_path, images, schema: Schema):
    data = load_paired_dataset(csv_path, images, schema)
    released = pay_for_domains(
        data.table, schema, rho=0.1, rng=np.random.default_rng(0), ledger=Ledger(), delta_budget=1e-6
    )
    return data, released


def test_one_changed_row_changes_the_proposal_but_nothing_released_under_the_confirmed_schema(tmp_path):
    rows = _rows()
    before_csv, before_img = _write_grey_dataset(tmp_path / "before", rows)
    schema = _confirmed(before_csv, before_img)
    assert (schema.column("size").dtype, schema.image_mode) == ("int", "L")

    changed = [dict(r) for r in rows]
    changed[3]["size"] = "70.5"  # a fractional value
    changed[5]["size"] = "9999"  # a new extreme
    after_csv, after_img = _write_grey_dataset(tmp_path / "after", changed)
    write_image(after_img / changed[7]["image"], color=(200, 30, 30))  # one colour image

    proposal = inspect_dataset(after_csv, after_img, person_column=NO_PERSON_COLUMN).schema
    assert proposal.column("size").dtype == "float" and proposal.image_mode == "RGB", (
        "the proposal follows the data: the user would have to confirm these facts again"
    )
    before, released_before = _released(before_csv, before_img, schema)
    after, released_after = _released(after_csv, after_img, schema)
    assert released_after == released_before == schema, "a released schema fact moved without confirmation"
    assert str(after.table["size"].dtype) == "Int64" and after.images.shape[-1] == 1
    assert after.images.shape == before.images.shape
    size = typed_table(after.table, schema)["size"]
    assert size.iloc[3] == 70 and size.iloc[5] == 9999
    codes = encode_column(after.table["size"], schema.column("size"))
    assert codes[5] == schema.column("size").bins - 1, "the extreme is clipped into the declared range"


def test_a_new_extreme_does_not_move_paid_dp_bounds():
    rng = np.random.default_rng(4)
    ages = pd.DataFrame({"age": rng.integers(20, 81, 2000), "image": [f"{i}.png" for i in range(2000)]})
    outlier = pd.concat([ages, pd.DataFrame({"age": [5000], "image": ["x.png"]})], ignore_index=True)
    schema = Schema(
        columns=(
            Column(name="age", kind="numeric", dtype="int", binning="quantile", missing="never"),
            Column(name="image", kind="image"),
        ),
        image_column="image",
    )

    def paid(table):
        return pay_for_domains(
            table, schema, rho=0.05, rng=np.random.default_rng(9), ledger=Ledger(), delta_budget=0.0
        ).column("age")

    assert paid(outlier).edges == paid(ages).edges, "one person's extreme value moved the released bins"
    assert paid(outlier).bounds[1] <= 100


def test_inspect_schema_out_writes_every_fact_for_the_user_to_declare(tmp_path):
    import json
    import subprocess
    import sys
    from pathlib import Path

    csv_path, images = write_dataset(tmp_path / "d", _rows(), delimiter=";")
    out = tmp_path / "schema.json"
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "dptab_core",
            "inspect",
            "--csv",
            str(csv_path),
            "--images",
            str(images),
            "--one-row-per-person",
            "--schema-out",
            str(out),
        ],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "paid: bounds, bin edges, missing values" in done.stdout
    data = json.loads(out.read_text())
    assert (data["encoding"], data["delimiter"], data["image_mode"]) == ("utf-8", ";", "RGB")
    size = next(c for c in data["columns"] if c["name"] == "size")
    assert (size["bounds"], size["binning"], size["missing"]) == ([10, 50], "quantile", "learn"), (
        "20–49 snapped outward"
    )
    size.update(public=True, bounds=[0, 120], binning="edges", edges=[0, 18, 65, 120], missing="never")
    out.write_text(json.dumps(data))
    declared = Schema.load(out).column("size")
    assert declared.paid_facts == [] and declared.bins == 3


def test_inspection_warns_about_a_category_held_by_fewer_than_a_handful_of_rows(tmp_path):
    rows = _rows()
    rows[0]["site"] = "toe"
    csv_path, images = write_dataset(tmp_path, rows)
    inspection = inspect_dataset(csv_path, images, person_column=NO_PERSON_COLUMN)
    warned = [i for i in inspection.issues if i.rule == "rare_category"]
    assert [i.where for i in warned] == ["column 'site'"] and warned[0].severity == "warning"
    assert "toe" not in warned[0].what, "the warning counts rare labels; the note names them for the owner"
