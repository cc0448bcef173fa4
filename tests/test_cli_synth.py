"""``python -m dptab_core synth`` end to end, in real processes on a 200-row demo."""

from __future__ import annotations

import json
import os
import signal
import time
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from test_pipeline_support import (
    cli,
    job_dirs,
    ledger_stages,
    make_demo,
    read_status,
    save_demo_schema,
    tiny_overrides,
    wait_for,
)

from dptab_core.data.schema import Schema
from dptab_core.pipeline.stages import STAGES

RELEASE = {"synthetic.csv", "schema.json", "privacy_report.json", "privacy_report.md"}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return make_demo(tmp_path_factory.mktemp("demo") / "demo")


def _synth(demo, out, home, *extra: str):
    return cli(
        "synth",
        "--csv",
        str(demo / "table.csv"),
        "--images",
        str(demo / "images"),
        "--out",
        str(out),
        "--table-settings",
        "fast",
        "--reproducible-noise",
        *extra,
        home=home,
    )


@pytest.mark.slow
def test_table_only_synth_writes_the_release_within_budget(demo, tmp_path):
    schema = save_demo_schema(tmp_path / "schema.json")
    out = tmp_path / "out"
    result = _synth(demo, out, tmp_path / "home", "--table-only", "--schema", str(schema))
    assert result.returncode == 0, f"synth failed:\n{result.stderr[-3000:]}"
    synthesized = [c.name for c in Schema.load(schema).synthesized_columns()]
    assert list(pd.read_csv(out / "synthetic.csv").columns) == synthesized, "synthetic.csv columns differ"
    report = json.loads((out / "privacy_report.json").read_text())
    assert report["spent"]["epsilon"] <= report["target"]["epsilon"] + 1e-9, f"overspent: {report['spent']}"
    assert ledger_stages(report) == {"table"}, f"table-only ledger stages: {ledger_stages(report)}"
    assert (out / "schema.json").is_file(), "schema.json missing"
    assert set(zipfile.ZipFile(out / "bundle.zip").namelist()) == RELEASE, "bundle.zip is not exactly the release"


@pytest.mark.slow
def test_inferred_schema_is_paid_for_and_released_with_domains(demo, tmp_path):
    out = tmp_path / "out"
    result = _synth(demo, out, tmp_path / "home", "--table-only")
    assert result.returncode == 0, f"synth failed:\n{result.stderr[-3000:]}"
    report = json.loads((out / "privacy_report.json").read_text())
    assert "schema" in ledger_stages(report), f"the schema stage was not paid: {ledger_stages(report)}"
    assert report["spent"]["epsilon"] <= report["target"]["epsilon"] + 1e-9, f"overspent: {report['spent']}"
    released = json.loads((out / "schema.json").read_text())
    synthesized = [c for c in released["columns"] if c["kind"] in ("categorical", "numeric")]
    assert synthesized, f"no synthesized column in the released schema: {released['columns']}"
    for column in synthesized:
        filled = column["categories"] if column["kind"] == "categorical" else column["bounds"]
        assert filled, f"released column {column['name']!r} has no domain: {column}"


@pytest.mark.slow
def test_missing_image_exits_2_naming_the_file_and_writes_nothing(demo, tmp_path):
    broken = tmp_path / "broken"
    (broken / "images").mkdir(parents=True)
    table = pd.read_csv(demo / "table.csv").head(40)
    table.to_csv(broken / "table.csv", index=False)
    for name in table["image"][1:]:
        (broken / "images" / name).write_bytes((demo / "images" / name).read_bytes())
    missing = table["image"][0]
    schema = save_demo_schema(tmp_path / "schema.json")
    out = tmp_path / "out"
    result = _synth(broken, out, tmp_path / "home", "--table-only", "--schema", str(schema))
    assert result.returncode == 2, f"expected exit 2, got {result.returncode}:\n{result.stderr[-2000:]}"
    assert missing in result.stderr, f"the message does not name {missing}:\n{result.stderr[-2000:]}"
    assert not out.exists() or not any(out.iterdir()), f"files were written to OUT: {list(out.iterdir())}"


@pytest.mark.slow
def test_killed_background_worker_reads_failed_with_its_stage(demo, tmp_path):
    home = tmp_path / "home"
    out = tmp_path / "out"
    slow = ["--preset-override", "dpsgd_steps=400"]  # after the tiny flags: DP-SGD outlasts the kill
    result = _synth(
        demo,
        out,
        home,
        "--schema",
        str(save_demo_schema(tmp_path / "schema.json")),
        "--no-evaluate",
        *tiny_overrides(),
        *slow,
        "--background",
    )
    assert result.returncode == 0, f"submit failed:\n{result.stderr[-2000:]}"
    (job,) = job_dirs(home)
    status = wait_for(
        job, lambda s: s.get("state") == "running" and s.get("stage") not in (None, "load"), what="running past load"
    )
    stage = status["stage"]
    os.kill(status["pid"], signal.SIGKILL)
    _wait_until_gone(status["pid"])
    shown = cli("jobs", "show", job.name, home=home)
    assert "failed" in shown.stdout, f"`jobs show` does not report the failure:\n{shown.stdout}"
    final = read_status(job)
    assert final["state"] == "failed", f"state after kill -9: {final['state']}"
    assert final["stage"] in shown.stdout and final["stage"] != "load", f"stage missing:\n{shown.stdout}"
    assert list(STAGES).index(final["stage"]) >= list(STAGES).index(stage), "the stage went backwards"
    assert not out.exists(), "an output folder presents itself after the worker died"


def _wait_until_gone(pid: int, timeout: float = 30.0) -> None:
    """SIGKILL is asynchronous: wait until the process has left (or is a zombie) before asking about it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return
        if state == "Z":
            return
        time.sleep(0.1)
    raise AssertionError(f"process {pid} still runs {timeout} s after SIGKILL")
