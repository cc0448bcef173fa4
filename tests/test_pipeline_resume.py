"""Cancel a background job mid-DP-SGD, resume it: done stages are skipped and nothing is counted twice."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from test_pipeline_support import (
    cli,
    progress_events,
    read_status,
    submit_tiny_background_synth,
    wait_for,
)

pytestmark = pytest.mark.slow


def _dpsgd_steps_done(job) -> int:
    steps = [e["message"] for e in progress_events(job) if e["stage"] == "dpsgd" and "DP-SGD step" in e["message"]]
    return int(steps[-1].split("step ")[1].split("/")[0]) if steps else 0


def test_cancel_then_resume_skips_done_stages_and_counts_every_stage_once(tmp_path):
    home, job, out = submit_tiny_background_synth(tmp_path, "--preset-override", "dpsgd_steps=400")
    # Cancel after a DP-SGD checkpoint exists (one per epoch of 4 steps): the resumed run must not reuse it.
    wait_for(
        job, lambda s: s.get("stage") == "dpsgd" and _dpsgd_steps_done(job) >= 6, what="6 DP-SGD steps", timeout=900
    )
    cancelled = cli("jobs", "cancel", job.name, home=home)
    assert cancelled.returncode == 0, f"cancel failed:\n{cancelled.stderr}"
    assert read_status(job)["state"] == "cancelled", f"state after cancel: {read_status(job)}"
    assert not out.exists(), "a cancelled job left an output folder"

    resumed = cli("jobs", "resume", job.name, home=home)
    assert resumed.returncode == 0, f"resume failed:\n{resumed.stderr}"
    wait_for(job, lambda s: s.get("state") == "succeeded", what="succeeded after resume", timeout=900)

    skipped = {e["stage"] for e in progress_events(job) if e["message"] == "already done in an earlier attempt"}
    expected_skipped = {"schema", "semantic_query", "pretrain", "mean_pairs", "warmup", "table"}
    assert skipped == expected_skipped, f"skipped on resume: {sorted(skipped)}, expected {sorted(expected_skipped)}"
    entries = [json.loads(line) for line in (job / "checkpoints" / "ledger.jsonl").read_text().splitlines()]
    repeated = [label for label, n in Counter((e["stage"], e["label"]) for e in entries).items() if n > 1]
    assert not repeated, f"ledger entries counted twice after resume: {repeated}"
    plan = json.loads((job / "checkpoints" / "plan.json").read_text())
    dpsgd_steps = sum(e["steps"] for e in entries if e["stage"] == "dpsgd")
    assert dpsgd_steps == plan["stages"]["dpsgd"]["params"]["steps"], (
        f"the ledger records {dpsgd_steps} DP-SGD steps, the plan {plan['stages']['dpsgd']['params']['steps']}: "
        "a resumed run reused a checkpoint whose steps were dropped from the ledger"
    )
    report = json.loads((out / "privacy_report.json").read_text())
    assert report["spent"]["epsilon"] <= report["target"]["epsilon"] + 1e-9, f"overspent: {report['spent']}"
