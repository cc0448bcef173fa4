"""A whole demo run through the CLI, checked as a privacy officer would before sharing its output
(issue 15): the bundle states no exact row count, the owner's view is not in the output folder, and
everything written is private to the user."""

from __future__ import annotations

import json
import re
import stat
import zipfile

import pytest
from test_pipeline_support import cli, job_dirs, make_demo, save_demo_schema, tiny_overrides

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One tiny full run (public pre-training and the owner's evaluation included) on 203 demo rows."""
    root = tmp_path_factory.mktemp("trust")
    demo, home, out = make_demo(root / "demo", rows=203), root / "home", root / "out"
    cli(
        "synth",
        "--csv",
        str(demo / "table.csv"),
        "--images",
        str(demo / "images"),
        "--out",
        str(out),
        "--schema",
        str(save_demo_schema(root / "schema.json")),
        "--public",
        str(demo / "public"),
        "--table-settings",
        "fast",
        "--reproducible-noise",
        *tiny_overrides(),
        home=home,
        check=True,
    )
    (job,) = job_dirs(home)
    return out, job


def test_no_file_of_the_bundle_states_n_or_half_of_n(run):
    out, job = run
    n = json.loads((job / "checkpoints" / "plan.json").read_text())["n_rows"]
    assert n > 150, f"the run kept {n} rows"
    with zipfile.ZipFile(out / "bundle.zip") as bundle:
        found = {}
        for name in bundle.namelist():
            data = bundle.read(name)
            for value in (n, n // 2):
                if re.search(rb"(?<![\d.])%d(?!\d)" % value, data):
                    found.setdefault(name, []).append(value)
    assert not found, f"the bundle gives the row count away (n = {n}): {found}"


def test_the_owners_view_is_next_to_the_job_and_not_in_the_output_folder(run):
    out, job = run
    assert not (out / "owner_view").exists(), "the output folder holds the owner's view (real rows and images)"
    assert (job / "owner_view" / "evaluation.json").is_file(), "the owner's evaluation was not written"


def test_every_file_and_folder_the_run_wrote_is_private(run):
    out, job = run
    written = [out, *out.rglob("*"), job, *job.rglob("*")]
    loose = [f"{p} {oct(stat.S_IMODE(p.stat().st_mode))}" for p in written if stat.S_IMODE(p.stat().st_mode) & 0o077]
    assert not loose, f"readable by other users: {loose[:10]}"
