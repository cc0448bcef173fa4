"""The Results page: downloads, metric cards, real-vs-synthetic figures, the privacy report."""

from __future__ import annotations

import json

import pytest
from app_support import demo_home, demo_state, finished_job_with_release, home, page  # noqa: F401 (fixtures)

pytestmark = pytest.mark.usefixtures("home")
RESULTS = "pages/results.py"
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
