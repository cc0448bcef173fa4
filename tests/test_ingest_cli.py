"""``python -m dptab_core inspect``: exit codes, messages naming files, JSON report, demo round trip."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from ingest_fixtures import write_dataset

from dptab_core.cli import main
from dptab_core.data.schema import Schema

REPO = Path(__file__).resolve().parents[1]


def test_clean_data_exits_0_and_writes_the_schema(tmp_path, capsys):
    csv_path, image_dir = write_dataset(tmp_path)
    code = main(
        [
            "inspect",
            "--csv",
            str(csv_path),
            "--images",
            str(image_dir),
            "--json",
            "--schema-out",
            str(tmp_path / "schema.json"),
            "--workspace",
            str(tmp_path / "ws"),
        ]
    )
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["ok"] and report["schema"]["image_column"] == "image"
    assert Schema.load(tmp_path / "schema.json").image_column == "image"


def test_truncated_and_missing_images_exit_2_naming_both_files(tmp_path, capsys):
    csv_path, image_dir = write_dataset(tmp_path)
    (image_dir / "p1.png").unlink()
    data = (image_dir / "p2.png").read_bytes()
    (image_dir / "p2.png").write_bytes(data[: len(data) // 2])
    code = main(["inspect", "--csv", str(csv_path), "--images", str(image_dir), "--workspace", str(tmp_path / "ws")])
    err = capsys.readouterr().err
    assert code == 2 and "p1.png" in err and "p2.png" in err, err


def test_drop_flags_turn_the_same_problems_into_skips(tmp_path, capsys):
    csv_path, image_dir = write_dataset(tmp_path)
    (image_dir / "p1.png").unlink()
    (image_dir / "p2.png").write_text("not an image")
    code = main(
        [
            "inspect",
            "--csv",
            str(csv_path),
            "--images",
            str(image_dir),
            "--drop-missing",
            "--drop-corrupt",
            "--one-row-per-person",
            "--json",
            "--workspace",
            str(tmp_path / "ws"),
        ]
    )
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["n_rows_kept"] == 2 and report["counts"]["skipped"] == 2


def test_zip_with_dotdot_entry_exits_2_and_writes_nothing_outside_the_workspace(tmp_path, capsys):
    csv_path, _ = write_dataset(tmp_path / "data")
    zip_path = tmp_path / "evil.zip"
    with zipfile.ZipFile(zip_path, "w") as archive:
        archive.writestr("images/p0.png", b"x")
        archive.writestr("../evil", b"pwned")
    code = main(["inspect", "--csv", str(csv_path), "--images", str(zip_path), "--workspace", str(tmp_path / "ws")])
    assert code == 2 and "../evil" in capsys.readouterr().err
    assert not (tmp_path / "evil").exists() and not (tmp_path / "ws" / "evil").exists()
    assert not any((tmp_path / "ws").rglob("p0.png")), "a refused zip must not be partly extracted"


@pytest.mark.slow
def test_demo_data_round_trip_through_inspect_json(tmp_path):
    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "dptab_core", *args],
            cwd=REPO,
            capture_output=True,
            text=True,
            env={"DPTAB_HOME": str(tmp_path / "ws"), "PATH": "/usr/bin:/bin"},
            timeout=300,
        )

    made = cli("demo-data", "--out", str(tmp_path / "d"), "--rows", "200")
    assert made.returncode == 0, made.stderr
    done = cli(
        "inspect", "--csv", str(tmp_path / "d" / "table.csv"), "--images", str(tmp_path / "d" / "images"), "--json"
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["schema"]["image_column"] == "image" and report["n_rows_kept"] == 200
    kinds = {c["name"]: c["kind"] for c in report["schema"]["columns"]}
    assert kinds["patient_id"] == "excluded" and kinds["diagnosis"] == "categorical"
    assert kinds["lesion_diameter_mm"] == "numeric"
