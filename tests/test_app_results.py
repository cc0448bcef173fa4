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


def test_after_start_a_new_run_the_last_release_stays_on_results():
    job = finished_job_with_release()
    at = page(RESULTS, demo_state(job_id=None)).run()
    assert not at.exception, at.exception
    assert any(job.id in c.value and "latest finished run" in c.value for c in at.caption)
    assert any("bundle.zip" in d.proto.label for d in at.get("download_button"))


def test_the_release_shows_while_the_owner_view_evaluation_still_runs():
    from app_support import fake_job

    from dptab_core.release import write_release

    state = demo_state()
    events = [
        {"t": "2026-01-01T00:00:00+00:00", "stage": "release", "fraction": 0.8, "stage_fraction": 1.0},
        {
            "t": "2026-01-01T00:00:01+00:00",
            "stage": "evaluate",
            "fraction": 0.85,
            "stage_fraction": 0.2,
            "message": "training the data owner's attribute classifier",
        },
    ]
    job = fake_job("running", events=events)
    from dptab_core.data.ingest import load_paired_dataset

    real = load_paired_dataset(state.csv_path, state.images_path, state.schema)
    write_release(
        job.partial_output_path,
        table=real.table.head(120),
        images=real.images[:120],
        image_column="image",
        schema_dict=state.schema.to_dict(),
        privacy_report={"target": {"epsilon": 3.0}},
        privacy_report_md="# Privacy report",
    )
    at = page(RESULTS, demo_state(job_id=job.id)).run(timeout=60)
    assert not at.exception, at.exception
    assert any("bundle.zip" in d.proto.label for d in at.get("download_button")), "the release must be downloadable"
    bars = " ".join(p.proto.text for p in at.get("progress"))
    assert "The release is ready" in bars and "attribute classifier" in bars, bars
    assert any("quality numbers appear" in i.value for i in at.info)
