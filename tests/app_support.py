"""Helpers for the app's AppTest and browser tests: a workspace with the demo, seeded state, fake jobs.

A fake job is a real job folder written through :class:`dptab_core.jobs.JobStore` in a chosen state
(its "worker" is the test process itself, so ``refresh`` sees it alive and starts nothing), which
lets the Train and Results pages be tested without training a model.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from dptab_core.data.ingest import load_paired_dataset
from dptab_core.jobs import JobStore
from dptab_core.jobs.process import start_token
from dptab_core.pipeline import make_synth_spec
from dptab_core.release import write_release
from ui.demo import use_demo
from ui.results_data import COMPARISON_REPORT
from ui.state import STATE_KEY, StudioState

TIMEOUT_S = 120
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One workspace with the demo generated once per test session (generation takes seconds)."""
    home = tmp_path_factory.mktemp("dptab_home")
    old = os.environ.get("DPTAB_HOME")
    os.environ["DPTAB_HOME"] = str(home)
    use_demo(StudioState())
    yield home
    if old is None:
        os.environ.pop("DPTAB_HOME", None)
    else:
        os.environ["DPTAB_HOME"] = old


@pytest.fixture
def home(demo_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The session workspace with an empty job store (jobs of earlier tests moved aside)."""
    jobs = demo_home / "jobs"
    if jobs.exists():
        jobs.rename(demo_home / f"jobs-old-{len(list(demo_home.glob('jobs-old-*')))}")
    monkeypatch.setenv("DPTAB_HOME", str(demo_home))
    return demo_home


def demo_state(**changes: object) -> StudioState:
    """A state as the Data page leaves it for the demo, plus ``changes``."""
    state = StudioState()
    use_demo(state)
    for key, value in changes.items():
        setattr(state, key, value)
    return state


def page(path: str, state: StudioState | None = None) -> AppTest:
    """An AppTest of one page file with ``state`` seeded (not yet run)."""
    at = AppTest.from_file(str(ROOT / path), default_timeout=TIMEOUT_S)
    if state is not None:
        at.session_state[STATE_KEY] = state
    return at


def fake_job(state: str, *, events: list[dict] = (), epsilon_planned: float = 3.0, **status: object):
    """A job folder in ``state`` with these progress events; a 'running' one is owned by this process."""
    demo = demo_state()
    spec = make_synth_spec(
        csv_path=demo.csv_path,
        images_path=demo.images_path,
        schema=demo.schema,
        plan_options={"epsilon": epsilon_planned},
        public_dir=None,
    )
    job = JobStore().create({**spec, "epsilon_planned": epsilon_planned})
    for event in events:
        job.append_progress(event)
    alive = {"pid": os.getpid(), "start_token": start_token(os.getpid())} if state == "running" else {}
    job.update_status(state=state, **alive, **status)
    return job


METRICS = {
    "table": {"tvd_1way": 0.02, "tvd_2way": 0.08, "tstr": {"synthetic": 0.61, "real": 0.7}},
    "image": {"precision": 0.5, "recall": 0.4},
    "privacy": {"nn_distance_ratio": 1.02},
}


def finished_job_with_release():
    """A succeeded job whose release is a shuffled copy of 300 demo rows (stands in for a trained run)."""
    state = demo_state()
    real = load_paired_dataset(state.csv_path, state.images_path, state.schema)
    pick = np.random.default_rng(0).permutation(len(real.table))[:300]
    job = fake_job("succeeded")
    out = job.output_path
    write_release(
        out,
        table=real.table.iloc[pick].reset_index(drop=True),
        images=real.images[pick],
        image_column="image",
        schema_dict=state.schema.to_dict(),
        privacy_report={"target": {"epsilon": 3.0, "delta": 1e-5}},
        privacy_report_md="# Privacy report\nε = 3",
    )
    owner = job.owner_view_path  # next to the job, outside the release
    owner.mkdir()
    (owner / "evaluation.json").write_text(json.dumps(METRICS))
    (owner / COMPARISON_REPORT).write_text("<html>report</html>")
    return job
