"""Stage bookkeeping without a whole run: the resumable ledger, stale checkpoints, a failing evaluation."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest


def _record(ledger, stage: str) -> None:
    ledger.record(stage=stage, mechanism="zcdp", label=f"{stage} release", rho=0.1)


def test_resumed_ledger_keeps_only_the_entries_of_finished_stages(tmp_path):
    from dptab_core.pipeline import checkpoints

    first = checkpoints.resumable_ledger(tmp_path, resuming=False)
    _record(first, "schema")
    _record(first, "table")
    checkpoints.mark_done(tmp_path, "schema")  # table was interrupted
    resumed = checkpoints.resumable_ledger(tmp_path, resuming=True)
    assert [e.stage for e in resumed.entries] == ["schema"], f"kept: {[e.stage for e in resumed.entries]}"


def test_fresh_run_in_a_used_folder_forgets_done_markers_and_models(tmp_path):
    from dptab_core.pipeline import checkpoints

    _record(checkpoints.resumable_ledger(tmp_path, resuming=False), "table")
    checkpoints.mark_done(tmp_path, "table")
    (tmp_path / "model_dpsgd.pt").write_bytes(b"an earlier run's model")
    ledger = checkpoints.resumable_ledger(tmp_path, resuming=False)
    assert ledger.entries == [], "a fresh run inherited ledger entries"
    assert not checkpoints.is_done(tmp_path, "table"), "a fresh run would skip a stage it never paid for"
    assert not (tmp_path / "model_dpsgd.pt").exists(), "a fresh run could train on an earlier run's model"


@pytest.mark.slow
def test_dpsgd_stage_never_continues_from_an_earlier_attempts_checkpoint(tmp_path):
    from dptab_core.data.demo import demo_schema
    from dptab_core.pipeline import SynthSpec, stages
    from dptab_core.pipeline.run import Run
    from dptab_core.privacy import DPSGDSettings, plan_budget

    spec = SynthSpec(
        csv_path="-",
        images_path="-",
        schema=demo_schema().to_dict(),
        plan_options={},
        preset_overrides={"width": 8},
        device="cpu",
    )
    run = Run.start(spec, out_dir=tmp_path / "out", work_dir=tmp_path)
    (tmp_path / "dpsgd").mkdir()
    (tmp_path / "dpsgd" / "dpsgd.pt").write_bytes(b"steps taken but dropped from the ledger")
    (tmp_path / "model_dpsgd.pt").write_bytes(b"not loadable: loading it would fail the test")
    run.plan = plan_budget(epsilon=5.0, delta=1e-5, n_rows=4, dpsgd=DPSGDSettings(enabled=False))
    run.images = np.zeros((4, 32, 32, 3), dtype=np.uint8)
    stages.dpsgd(run)
    assert not (tmp_path / "dpsgd").exists(), "the partial DP-SGD checkpoint survived into the new attempt"
    assert (tmp_path / "model_dpsgd.pt").stat().st_size > 100, "the stage did not save its own model"


def test_failed_evaluation_leaves_a_warning_and_the_release_intact(tmp_path, monkeypatch):
    from dptab_core.pipeline import stages

    def broken(run, owner):
        raise ValueError("too few rows for a held-out split")

    monkeypatch.setattr(stages, "_evaluate", broken)
    (tmp_path / "synthetic.csv").write_text("a\n1\n")
    messages: list[str] = []
    run = SimpleNamespace(
        out_dir=tmp_path,
        owner_dir=tmp_path.parent / "owner_view",
        report=lambda stage, fraction, message="": messages.append(message),
    )
    stages.evaluate(run)
    warning = json.loads((tmp_path.parent / "owner_view" / "evaluation.json").read_text())["warning"]
    assert "too few rows" in warning, f"the warning does not say why: {warning}"
    assert (tmp_path / "synthetic.csv").read_text() == "a\n1\n", "the release was touched"
    assert any("evaluation skipped" in m for m in messages), f"no progress message about it: {messages}"


def test_cancel_during_evaluation_still_cancels(tmp_path, monkeypatch):
    from dptab_core.jobs import JobCancelled
    from dptab_core.pipeline import stages

    def cancelled(run, owner):
        raise JobCancelled("cancelled during evaluate")

    monkeypatch.setattr(stages, "_evaluate", cancelled)
    with pytest.raises(JobCancelled):
        stages.evaluate(
            SimpleNamespace(out_dir=tmp_path / "out", owner_dir=tmp_path / "owner_view", report=lambda *a, **k: None)
        )


def test_unknown_preset_override_is_refused_with_the_field_named():
    from dptab_core.errors import InputError
    from dptab_core.pipeline.planning import resolve_preset

    with pytest.raises(InputError, match="dpsgd_stpes"):
        resolve_preset("quick", {"dpsgd_stpes": 3})
