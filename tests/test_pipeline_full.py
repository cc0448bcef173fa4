"""The whole pipeline on a tiny demo (foreground job): every output, and what the bundle holds."""

from __future__ import annotations

import json
import zipfile

import pandas as pd
import pytest
from test_pipeline_support import ROWS, TINY_PRESET, ledger_stages, make_demo

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """One foreground run of every stage (public pre-training included) on 200 rows."""
    from dptab_core.data.demo import demo_schema
    from dptab_core.jobs import JobStore, run_in_foreground
    from dptab_core.pipeline import make_synth_spec

    root = tmp_path_factory.mktemp("full")
    demo = make_demo(root / "demo")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DPTAB_HOME", str(root / "home"))
        spec = make_synth_spec(
            csv_path=demo / "table.csv",
            images_path=demo / "images",
            schema=demo_schema(),
            plan_options={"epsilon": 10.0},
            public_dir=demo / "public",
            seed=3,
            preset_overrides=TINY_PRESET,
            table_settings="fast",
            reproducible_noise=True,
        )
        spec["output_dir"] = str(root / "out")
        events: list[dict] = []
        job = run_in_foreground(spec, store=JobStore(root / "home" / "jobs"), on_progress=events.append)
    status = job.status()
    assert status.state == "succeeded", f"the tiny run did not succeed: {status.error}\n{job.log_tail(30)}"
    return root / "out", events, job


def test_full_run_writes_one_png_per_row_named_in_the_csv(finished):
    out, _, _ = finished
    table = pd.read_csv(out / "synthetic.csv")
    pngs = sorted(p.name for p in (out / "images").glob("*.png"))
    # The row count is the table model's noisy total (an exact n would reveal membership), so it is
    # close to the real count, not equal to it.
    assert abs(len(table) - ROWS) <= 0.2 * ROWS, f"expected about {ROWS} synthetic rows, got {len(table)}"
    assert len(pngs) == len(table), f"{len(pngs)} images for {len(table)} rows"
    image_column = json.loads((out / "schema.json").read_text())["image_column"]
    assert all((out / p).is_file() for p in table[image_column]), "an image path in synthetic.csv points nowhere"


def test_full_run_spends_at_most_the_target_with_a_ledger_item_per_enabled_stage(finished):
    out, _, _ = finished
    report = json.loads((out / "privacy_report.json").read_text())
    assert report["spent"]["epsilon"] <= report["target"]["epsilon"] + 1e-9, f"overspent: {report['spent']}"
    expected = {"semantic_query", "mean_pairs", "table", "dpsgd"}
    assert expected <= ledger_stages(report), f"ledger stages {ledger_stages(report)} miss some of {expected}"


def test_dpsgd_steps_go_to_the_latent_gaussian_then_the_decoder_and_add_up_to_the_plan(finished):
    _, _, job = finished
    work = job.dir / "checkpoints"
    plan = json.loads((work / "plan.json").read_text())["stages"]["dpsgd"]["params"]
    ledger = [json.loads(line) for line in (work / "ledger.jsonl").read_text().splitlines()]
    dpsgd = [e for e in ledger if e["stage"] == "dpsgd"]
    assert [e["details"]["model"] for e in dpsgd] == ["LatentGaussian", "DecoderFineTune"], dpsgd
    assert sum(e["steps"] for e in dpsgd) == plan["steps"], f"DP-SGD entries {dpsgd} vs the plan's {plan}"
    assert {(e["noise_multiplier"], e["sampling_rate"]) for e in dpsgd} == {
        (plan["noise_multiplier"], plan["sampling_rate"])
    }, "every DP-SGD step must run at the plan's noise and sampling rate"


def test_owner_view_is_written_next_to_the_job_never_in_the_release_folder(finished):
    out, _, job = finished
    assert (job.dir / "owner_view" / "evaluation.json").is_file(), "the data owner's evaluation is missing"
    assert not (out / "owner_view").exists(), "the owner's view (real rows and images) sits inside the release"
    names = zipfile.ZipFile(out / "bundle.zip").namelist()
    assert not [n for n in names if n.startswith("owner_view")], f"owner_view leaked into the bundle: {names}"
    expected = {"synthetic.csv", "schema.json", "privacy_report.json", "privacy_report.md"}
    expected |= {f"images/{p.name}" for p in (out / "images").glob("*.png")}
    assert set(names) == expected, f"bundle differs from the release: {set(names) ^ expected}"


def test_every_stage_reports_progress_several_times(finished):
    _, events, _ = finished
    per_stage: dict[str, int] = {}
    for event in events:
        per_stage[event["stage"]] = per_stage.get(event["stage"], 0) + 1
    few = {stage: n for stage, n in per_stage.items() if n < 3}
    assert not few, f"stages with fewer than 3 progress events: {few}"
    assert "evaluate" in per_stage and "dpsgd" in per_stage, f"stages seen: {sorted(per_stage)}"
