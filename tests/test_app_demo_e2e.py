"""The demo path end to end with a tiny job: Budget's plan → the Train page's job spec → a real pipeline
run (tiny knobs, in this process) → the Train and Results pages on its real outputs."""

from __future__ import annotations

import pytest
from app_support import page
from test_pipeline_support import ROWS, TINY_PRESET, make_demo

from dptab_core.data.demo import demo_schema
from ui import job_view
from ui.state import STATE_KEY, StudioState

pytestmark = pytest.mark.slow


def test_a_tiny_demo_run_reaches_results_with_marginals_grids_and_downloads(tmp_path, monkeypatch):
    from dptab_core.jobs import JobStore, run_in_foreground

    monkeypatch.setenv("DPTAB_HOME", str(tmp_path / "home"))
    demo = make_demo(tmp_path / "demo")
    state = StudioState(
        dataset_name="tiny demo",
        csv_path=demo / "table.csv",
        images_path=demo / "images",
        image_column="image",
        public_dir=None,
        schema=demo_schema(),
        n_rows=ROWS,
    )

    budget = page("pages/budget.py", state).run()
    assert not budget.exception and not budget.error, budget.exception or [e.value for e in budget.error]
    assert state.plan_options, "the Budget page stored no plan"

    spec = job_view.synth_spec(state, preset="quick", device="cpu")
    job = run_in_foreground({**spec, "preset_overrides": TINY_PRESET, "table_settings": "fast"}, store=JobStore())
    assert job.status().state == "succeeded", f"{job.status().error}\n{job.log_tail(30)}"
    state.job_id = job.id

    train = page("pages/train.py", state).run()
    assert not train.exception, train.exception
    assert any("Finished" in s.value for s in train.success)
    bars = [p.value for p in train.get("progress")]
    assert bars and all(v == 100 for v in bars), f"a finished run should show every stage done: {bars}"

    results = page("pages/results.py", state).run()
    assert not results.exception and not results.error, results.exception or [e.value for e in results.error]
    assert results.session_state[STATE_KEY].job_id == job.id
    assert len(results.get("plotly_chart")) == 5, "marginals, pair heatmap, associations, grid, mean images"
    labels = [d.proto.label for d in results.get("download_button")]
    assert any("bundle.zip" in label for label in labels), labels
    assert results.metric, "no metric cards from the run's evaluation"
