"""The Train page's table-synthesizer choice: offered in plain words, preselected as the engine's default,
and sent with the job spec (``SynthSpec.table_mechanism``)."""

from __future__ import annotations

import argparse

import pytest
from app_support import demo_home, demo_state, fake_job, home, page  # noqa: F401 (fixtures used by name)

from dptab_core.cli.synth import register
from dptab_core.pipeline import SynthSpec
from ui.budget_view import plan_options
from ui.job_view import DEFAULT_TABLE_MECHANISM, TABLE_MECHANISM_KEY

pytestmark = pytest.mark.usefixtures("home")
TRAIN = "pages/train.py"
PLAN = plan_options(epsilon=3.0, delta=1e-5, shares={}, epochs=2, batch_size=256, semantic_query=False)


def _capture_submits(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    """Replace job submission with one that records the spec and leaves a job this process owns (no worker)."""
    submitted: list[dict] = []

    def submit(spec: dict) -> object:
        submitted.append(spec)
        return fake_job("running")

    monkeypatch.setattr("dptab_core.jobs.submit", submit)
    return submitted


def test_the_app_preselects_the_same_table_synthesizer_as_the_engine_and_the_cli():
    parser = argparse.ArgumentParser()
    register(parser)
    cli_default = parser.get_default("mechanism")
    assert DEFAULT_TABLE_MECHANISM == SynthSpec.__dataclass_fields__["table_mechanism"].default == cli_default, (
        f"defaults differ: app {DEFAULT_TABLE_MECHANISM!r}, CLI {cli_default!r}"
    )


def test_the_table_synthesizer_is_offered_with_the_default_and_one_plain_words_line_each():
    at = page(TRAIN, demo_state(plan_options=PLAN)).run()
    assert not at.exception, at.exception
    radio = at.radio(key="table_mechanism")
    assert sorted(radio.options) == ["AIM", "MST"], f"unexpected table synthesizers: {radio.options}"
    assert radio.value == DEFAULT_TABLE_MECHANISM, (
        f"preselected {radio.value!r}, engine default {DEFAULT_TABLE_MECHANISM!r}"
    )
    captions = list(radio.proto.captions)
    assert len(captions) == 2 and all("Time:" in c and "Best for" in c for c in captions), (
        f"each choice needs a plain-words line with its time and what it is best for: {captions}"
    )


@pytest.mark.parametrize("mechanism", ["aim", "mst"])
def test_the_chosen_table_synthesizer_reaches_the_submitted_job_spec(monkeypatch, mechanism):
    submitted = _capture_submits(monkeypatch)
    at = page(TRAIN, demo_state(plan_options=PLAN)).run()
    at.radio(key="table_mechanism").set_value(mechanism).run()
    at.button(key="launch").click().run()
    assert not at.exception, at.exception
    assert len(submitted) == 1, f"expected one submitted job, got {len(submitted)}"
    assert submitted[0]["table_mechanism"] == mechanism, f"spec has {submitted[0]['table_mechanism']!r}"
    assert SynthSpec.from_job_spec(submitted[0]).table_mechanism == mechanism


def test_a_table_synthesizer_chosen_earlier_in_the_session_is_preselected():
    other = next(n for n in ("mst", "aim") if n != DEFAULT_TABLE_MECHANISM)
    at = page(TRAIN, demo_state(plan_options=PLAN))
    at.session_state[TABLE_MECHANISM_KEY] = other  # what the page kept when the user went to another page
    at.run()
    assert at.radio(key="table_mechanism").value == other, "the earlier choice was not preselected"


def test_a_jobs_table_stage_names_its_synthesizer():
    job = fake_job(
        "running",
        events=[
            {
                "t": "2026-01-01T10:00:00.000+00:00",
                "stage": "table",
                "fraction": 0.6,
                "stage_fraction": 0.5,
                "message": "round 3",
                "epsilon_spent": 1.0,
            }
        ],
    )
    at = page(TRAIN, demo_state(plan_options=PLAN, job_id=job.id)).run()
    bars = [p.proto.text for p in at.get("progress")]
    expected = f"Synthetic table ({job.spec['table_mechanism'].upper()})"
    assert any(t.startswith(expected) for t in bars), f"no bar starting {expected!r} in {bars}"
