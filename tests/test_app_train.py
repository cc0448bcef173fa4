"""The Train page: launch form, reattaching through the URL, progress, plain-words endings, cancel."""

from __future__ import annotations

import pytest
from app_support import demo_home, demo_state, fake_job, home, page  # noqa: F401 (fixtures used by name)

from dptab_core.jobs import JobStore
from ui.budget_view import plan_options
from ui.state import STATE_KEY, StudioState

pytestmark = pytest.mark.usefixtures("home")
TRAIN = "pages/train.py"
PLAN = plan_options(epsilon=3.0, delta=1e-5, shares={}, epochs=2, batch_size=256, semantic_query=False)
EVENTS = [
    {"t": "2026-01-01T10:00:00.000+00:00", "stage": "load", "fraction": 1.0, "message": "done", "epsilon_spent": 0.0},
    {
        "t": "2026-01-01T10:00:30.000+00:00",
        "stage": "mean_pairs",
        "fraction": 1.0,
        "message": "done",
        "epsilon_spent": 0.9,
    },
    {
        "t": "2026-01-01T10:01:00.000+00:00",
        "stage": "table",
        "fraction": 0.6,
        "stage_fraction": 0.5,
        "message": "MST: measuring",
        "epsilon_spent": 1.4,
    },
]


def texts(at) -> str:
    return " ".join(
        str(e.value)
        for kind in ("markdown", "info", "success", "error", "warning", "caption")
        for e in getattr(at, kind)
    )


def test_without_a_dataset_the_page_offers_the_demo_in_one_click():
    at = page(TRAIN, StudioState()).run()
    at.button(key="use_demo").click().run()
    assert not at.exception, at.exception
    assert at.session_state[STATE_KEY].has_dataset, "the demo button did not choose the demo dataset"


def test_with_a_plan_the_page_names_the_device_and_the_presets():
    at = page(TRAIN, demo_state(plan_options=PLAN)).run()
    assert not at.exception, at.exception
    assert "Training will run on" in texts(at) and ("CPU" in texts(at) or "GPU" in texts(at))
    options = at.radio(key="preset").options
    assert any("quick" in o and "min" in o for o in options), f"preset options lack durations: {options}"
    assert not at.button(key="launch").disabled


def test_a_running_job_in_the_url_is_reattached_with_stage_bars_and_epsilon_chart():
    job = fake_job("running", events=EVENTS, stage="table", fraction=0.5)
    at = page(TRAIN, demo_state(plan_options=PLAN))
    at.query_params["job"] = job.id
    at.run()
    assert not at.exception, at.exception
    assert at.session_state[STATE_KEY].job_id == job.id, "the job in ?job= was not followed"
    bars = {p.proto.text: p.value for p in at.get("progress")}
    assert any("Synthetic table" in t and v == 50 for t, v in bars.items()), f"no half-done table bar in {bars}"
    assert len(at.get("plotly_chart")) == 1, "ε spent vs planned chart missing"
    assert "Running" in texts(at)
    assert at.button(key="cancel") is not None


def test_finished_failed_and_cancelled_jobs_are_told_in_plain_words():
    wording = {"succeeded": "Finished", "failed": "stopped with an error", "cancelled": "You cancelled this run"}
    for state, words in wording.items():
        job = fake_job(state, error="images/x.png: cannot be read." if state == "failed" else None)
        at = page(TRAIN, demo_state(plan_options=PLAN, job_id=job.id)).run()
        assert not at.exception, at.exception
        assert words in texts(at), f"{state}: expected '{words}' in the page"


def test_the_error_of_a_failed_job_is_shown():
    job = fake_job("failed", error="images/x.png: cannot be read.")
    at = page(TRAIN, demo_state(plan_options=PLAN, job_id=job.id)).run()
    assert "images/x.png: cannot be read." in " ".join(e.value for e in at.error)


def test_after_an_app_restart_earlier_jobs_are_listed_from_disk():
    job = fake_job("succeeded")
    at = page(TRAIN, demo_state(plan_options=PLAN)).run()
    assert job.id in texts(at), "an earlier job on disk is not listed"
    at.button(key=f"open_{job.id}").click().run()
    assert at.session_state[STATE_KEY].job_id == job.id


def test_cancel_stops_a_queued_job():
    fake_job("running", events=EVENTS)  # holds the single heavy slot, so the queued job is not started
    queued = JobStore().create(fake_job("succeeded").spec)
    at = page(TRAIN, demo_state(plan_options=PLAN, job_id=queued.id)).run()
    at.button(key="cancel").click().run()
    assert not at.exception, at.exception
    assert queued.status().state == "cancelled"
    assert "You cancelled this run" in texts(at)
