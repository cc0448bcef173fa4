"""The ε explorer: the planner's answer for every ε with the current plan marked; sweep results when present."""

from __future__ import annotations

import json

import pytest
from app_support import demo_home, demo_state, fake_job, home, page  # noqa: F401 (fixtures used by name)

pytestmark = pytest.mark.usefixtures("home")
EXPLORER = "pages/explorer.py"


def test_every_epsilon_of_the_scale_is_planned_and_noise_falls_as_epsilon_grows():
    at = page(EXPLORER, demo_state(plan_options={"epsilon": 5.0})).run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert len(table) >= 10, f"only {len(table)} ε values planned"
    noise = table["DP-SGD noise multiplier"].tolist()
    assert noise == sorted(noise, reverse=True), f"DP-SGD noise does not fall with ε: {noise}"
    chart = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert chart["layout"]["shapes"][0]["x0"] == 5.0, "the current plan's ε is not marked"
    assert any("No ε sweep" in i.value for i in at.info)


@pytest.mark.slow
@pytest.mark.usefixtures("one_torch_thread")
def test_a_finished_sweep_job_is_charted_with_a_utility_metric_first(tmp_path):
    """The rows come from the real sweep code (run_sweep + evaluate_arrays), with a stand-in pipeline."""
    from eval_fakes import fake_pairs, fake_schema, write_synthetic_run

    from dptab_core.eval.evaluate import EvalConfig
    from dptab_core.eval.features import FeatureConfig
    from dptab_core.pipeline import SynthSpec
    from dptab_core.pipeline.sweep import UTILITY_METRICS, run_sweep

    def stand_in_pipeline(spec, *, out_dir, work_dir, progress, should_stop):
        table, images = fake_pairs(80, seed=int(spec.plan_options["epsilon"]))
        write_synthetic_run(
            out_dir, table.drop(columns="image"), images, fake_schema(), epsilon=spec.plan_options["epsilon"]
        )

    job = fake_job("succeeded")
    spec = json.loads(job.spec_path.read_text())
    job.spec_path.write_text(json.dumps({**spec, "kind": "sweep"}))
    real_table, real_images = fake_pairs(160, seed=0)
    synth = SynthSpec(
        csv_path="real.csv",
        images_path="images",
        schema=fake_schema().to_dict(),
        plan_options={"epsilon": 3.0, "delta": 1e-5},
    )
    run_sweep(
        synth,
        epsilons=[1.0, 10.0],
        baselines=["dp-tabimage", "independent"],
        out_root=job.output_path,
        real_table=real_table,
        real_images=real_images,
        run_fn=stand_in_pipeline,
        config=EvalConfig(features=FeatureConfig(epochs=3, batch_size=64, image_size=16, width=16)),
        cache_dir=tmp_path / "cache",
    )
    at = page(EXPLORER, demo_state()).run()
    assert not at.exception, at.exception
    metric = at.selectbox(key="explorer_metric")
    assert metric.value in UTILITY_METRICS, metric.options
    assert metric.options[-1].startswith("ε spent"), "ε spent is the cost, offered last"
    assert len(at.get("plotly_chart")) == 2


def test_a_sweep_starts_from_the_app_with_its_cost_and_budget(monkeypatch):
    from dptab_core.jobs import runner

    monkeypatch.setattr(runner, "start_next", lambda store: [])  # queued, never trained here
    at = page(EXPLORER, demo_state(plan_options={"epsilon": 3.0, "delta": 1e-6})).run()
    assert not at.exception, at.exception
    at.multiselect(key="sweep_eps").set_value([1.0, 3.0]).run()
    cost = " ".join(m.value for m in at.markdown if "Cost:" in m.value)
    assert "2 training run(s)" in cost and "ε = 4" in cost, cost  # ε 1 and 3 for dp-tabimage; independent is free
    at.button(key="start_sweep").click().run()
    assert not at.exception, at.exception
    from dptab_core.jobs import JobStore
    from dptab_core.pipeline.spec import SWEEP_KIND

    sweeps = [j for j in JobStore().list() if j.spec.get("kind") == SWEEP_KIND]
    assert len(sweeps) == 1 and sweeps[0].spec["epsilons"] == [1.0, 3.0]
    assert sweeps[0].spec["synth"]["csv_path"] == str(demo_state().csv_path)
    assert "Sweep" in " ".join(p.proto.text for p in at.get("progress")), "the started sweep is followed"
