"""The Results page: downloads, metric cards, real-vs-synthetic figures, the privacy report."""

from __future__ import annotations

import json

import numpy as np
import pytest
from app_support import demo_home, demo_state, fake_job, home, page  # noqa: F401 (fixtures used by name)

from dptab_core.data.ingest import load_paired_dataset
from dptab_core.release import write_release
from ui.results_data import COMPARISON_REPORT, OWNER_VIEW

pytestmark = pytest.mark.usefixtures("home")
RESULTS = "pages/results.py"
METRICS = {"table": {"tvd_1way": 0.02, "tvd_2way": 0.08, "tstr": {"synthetic": 0.61, "real": 0.7}},
           "image": {"precision": 0.5, "recall": 0.4}, "privacy": {"nn_distance_ratio": 1.02}}


def finished_job_with_release():
    """A succeeded job whose release is a shuffled copy of 300 demo rows (stands in for a trained run)."""
    state = demo_state()
    real = load_paired_dataset(state.csv_path, state.images_path, state.schema)
    pick = np.random.default_rng(0).permutation(len(real.table))[:300]
    job = fake_job("succeeded")
    out = job.output_path
    write_release(out, table=real.table.iloc[pick].reset_index(drop=True), images=real.images[pick],
                  image_column="image", schema_dict=state.schema.to_dict(),
                  privacy_report={"target": {"epsilon": 3.0, "delta": 1e-5}}, privacy_report_md="# Privacy report\nε = 3")
    (out / OWNER_VIEW).mkdir()
    (out / OWNER_VIEW / "evaluation.json").write_text(json.dumps(METRICS))
    (out / OWNER_VIEW / COMPARISON_REPORT).write_text("<html>report</html>")
    return job


def test_without_a_finished_job_the_page_points_to_training():
    at = page(RESULTS, demo_state()).run()
    assert not at.exception, at.exception
    assert any("once a training run has finished" in i.value for i in at.info)


def test_a_finished_job_shows_downloads_cards_figures_and_the_report():
    job = finished_job_with_release()
    at = page(RESULTS, demo_state(job_id=job.id)).run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert any("Data owner's view" in w.value for w in at.warning)
    downloads = [d.proto.label for d in at.get("download_button")]
    assert any("bundle.zip" in d for d in downloads) and any("HTML" in d for d in downloads), downloads
    labels = [m.label for m in at.metric]
    assert "Column histograms (1-way TVD)" in labels and "Memorisation check" in labels, labels
    charts = [c.proto.id for c in at.get("plotly_chart")]
    assert len(charts) == 5, f"expected 1-way, 2-way, association, sample grid, mean images; got {len(charts)}"
    assert any("Privacy report" in m.value for m in at.markdown)


def test_choosing_values_filters_the_sample_grid():
    job = finished_job_with_release()
    at = page(RESULTS, demo_state(job_id=job.id)).run()
    at.selectbox(key="res_attr").set_value("diagnosis").run()
    at.multiselect(key="res_vals_diagnosis").set_value(["melanoma"]).run()
    assert not at.exception, at.exception
    grid = json.loads(at.get("plotly_chart")[3].proto.spec)
    assert grid["layout"]["yaxis"]["ticktext"] == ["melanoma"], grid["layout"]["yaxis"].get("ticktext")
