"""The canary audit around a pipeline function: data goes in as files, and a copying 'pipeline' is caught."""

import json

from eval_fakes import fake_pairs, fake_schema, write_real, write_synthetic_run

from dptab_core.data.ingest import load_paired_dataset
from dptab_core.eval.privacy_checks import AuditConfig
from dptab_core.pipeline import SynthSpec
from dptab_core.pipeline.audit import audit_pipeline


def test_audit_of_a_pipeline_that_releases_its_training_images_reports_a_large_epsilon(tmp_path, monkeypatch):
    monkeypatch.setenv("DPTAB_HOME", str(tmp_path / "ws"))
    table, images = fake_pairs(40, seed=0)
    csv, folder = write_real(tmp_path / "real", table, images)
    spec = SynthSpec(
        csv_path=str(csv),
        images_path=str(folder),
        schema=fake_schema().to_dict(),
        plan_options={"epsilon": 1.0, "delta": 1e-6},
    )
    seen = {}

    def copying_pipeline(run_spec, *, out_dir, work_dir, progress):
        data = load_paired_dataset(run_spec.csv_path, run_spec.images_path, fake_schema())
        seen["rows"] = len(data.table)
        write_synthetic_run(out_dir, data.table.drop(columns="image"), data.images, fake_schema())

    result = audit_pipeline(
        spec,
        work_root=tmp_path / "audit",
        config=AuditConfig(n_canaries=100),
        seed=3,
        write_to=tmp_path / "run",
        run_fn=copying_pipeline,
    )
    assert seen["rows"] == 40 + result["n_inserted"], "the pipeline must train on the real rows plus the canaries"
    assert result["n_correct"] == result["n_guesses"] == 50
    assert result["epsilon_lower_bound"] > 2.5 > result["claimed_epsilon"], result
    assert (
        json.loads((tmp_path / "run" / "audit.json").read_text())["epsilon_lower_bound"]
        == result["epsilon_lower_bound"]
    )


def test_audit_uses_the_delta_the_planner_picks_when_the_spec_leaves_it_out(tmp_path, monkeypatch):
    from dptab_core.pipeline.planning import DEFAULT_EPSILON, default_delta

    monkeypatch.setenv("DPTAB_HOME", str(tmp_path / "ws"))
    table, images = fake_pairs(40, seed=0)
    csv, folder = write_real(tmp_path / "real", table, images)
    spec = SynthSpec(csv_path=str(csv), images_path=str(folder), schema=fake_schema().to_dict(), plan_options={})
    planned = {}

    def copying_pipeline(run_spec, *, out_dir, work_dir, progress):
        planned["delta"] = run_spec.plan_options.get("delta")
        data = load_paired_dataset(run_spec.csv_path, run_spec.images_path, fake_schema())
        write_synthetic_run(out_dir, data.table.drop(columns="image"), data.images, fake_schema())

    result = audit_pipeline(
        spec, work_root=tmp_path / "audit", config=AuditConfig(n_canaries=100), seed=3, run_fn=copying_pipeline
    )
    expected = default_delta(40)
    assert planned["delta"] == expected, "the audited run must be pinned to the δ of the real data's plan"
    assert result["delta"] == result["claimed_delta"] == expected > 0, f"audit judged δ = {result['delta']}"
    assert result["claimed_epsilon"] == DEFAULT_EPSILON
