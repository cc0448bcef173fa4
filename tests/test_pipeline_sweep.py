"""The ε sweep runs each baseline's spec through the pipeline function and evaluates every release."""

import pytest
from eval_fakes import fake_pairs, fake_schema, write_synthetic_run

from dptab_core.eval.evaluate import EvalConfig
from dptab_core.eval.features import FeatureConfig
from dptab_core.eval.figures import metric_vs_epsilon_figure
from dptab_core.pipeline import SynthSpec
from dptab_core.pipeline.sweep import BASELINES, baseline_spec, load_sweep, run_sweep

CONFIG = EvalConfig(features=FeatureConfig(epochs=5, batch_size=64, image_size=16, width=16))


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _spec() -> SynthSpec:
    return SynthSpec(
        csv_path="real.csv",
        images_path="images",
        schema=fake_schema().to_dict(),
        plan_options={"epsilon": 3.0, "delta": 1e-5},
        public_dir="public",
    )


def test_baseline_specs_change_one_ingredient_and_the_epsilon():
    spec = _spec()
    no_warmup = baseline_spec(spec, BASELINES["no-warmup"], epsilon=1.0)
    assert no_warmup.plan_options == {"epsilon": 1.0, "delta": 1e-5, "mean_pairs": {"enabled": False}}
    assert no_warmup.public_dir == "public" and no_warmup.evaluate is False
    assert baseline_spec(spec, BASELINES["no-pretrain"], epsilon=1.0).public_dir is None
    assert baseline_spec(spec, BASELINES["table-only"], epsilon=1.0).table_only is True


@pytest.mark.slow
def test_sweep_evaluates_every_method_at_every_epsilon_and_reuses_the_full_run_for_independent(tmp_path):
    real_table, real_images = fake_pairs(160, seed=0)
    calls = []

    def fake_pipeline(spec, *, out_dir, work_dir, progress, should_stop):
        calls.append(spec)
        table, images = fake_pairs(80, seed=len(calls))  # a perfectly linked "release"
        write_synthetic_run(
            out_dir, table.drop(columns="image"), images, fake_schema(), epsilon=spec.plan_options["epsilon"]
        )

    rows = run_sweep(
        _spec(),
        epsilons=[1.0, 10.0],
        baselines=["dp-tabimage", "independent"],
        out_root=tmp_path,
        real_table=real_table,
        real_images=real_images,
        run_fn=fake_pipeline,
        config=CONFIG,
        cache_dir=tmp_path / "cache",
    )
    assert len(calls) == 2, "the independent baseline must reuse the full run, not run again"
    assert sorted((r["method"], r["epsilon"]) for r in rows) == [
        ("dp-tabimage", 1.0),
        ("dp-tabimage", 10.0),
        ("independent", 1.0),
        ("independent", 10.0),
    ]
    by = {(r["method"], r["epsilon"]): r for r in rows}
    linked, unlinked = (by[(m, 1.0)]["cross_modal.agreement_normalised"] for m in ("dp-tabimage", "independent"))
    assert linked > 0.8 and abs(unlinked) < 0.3, f"linked {linked}, re-paired {unlinked}"
    assert load_sweep(tmp_path) == rows
    figure = metric_vs_epsilon_figure(rows, metric="cross_modal.agreement_normalised", current_epsilon=3.0)
    assert [t.name for t in figure.data] == ["dp-tabimage", "independent"]
