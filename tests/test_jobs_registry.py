"""A worker runs only registered job functions, whatever a spec.json names (issue 15, finding 8)."""

from __future__ import annotations

import os

import pytest
from jobfuncs import isolated_store, kill_leftover_workers, wait_for_state

from dptab_core.jobs import submit
from dptab_core.jobs.registry import JOB_ENTRIES


@pytest.fixture
def store(tmp_path, monkeypatch):
    store = isolated_store(tmp_path, monkeypatch)
    yield store
    kill_leftover_workers(store)


def test_a_spec_naming_an_unregistered_module_fails_without_importing_it(store, tmp_path, monkeypatch):
    planted = tmp_path / "planted"
    planted.mkdir()
    marker = tmp_path / "imported"
    (planted / "planted.py").write_text(f"open({str(marker)!r}, 'w').close()\ndef run(spec, ctx):\n    pass\n")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join((str(planted), os.environ["PYTHONPATH"])))
    job = submit({"entry": "planted:run"}, store=store)
    status = wait_for_state(job, "succeeded", "failed")
    assert status.state == "failed" and "not one this app runs" in status.error, status.error
    assert not marker.exists(), "the worker imported a module named only by the spec"


def test_the_engines_own_job_specs_name_registered_entries():
    from dptab_core.data.demo import demo_schema
    from dptab_core.pipeline import make_synth_spec
    from dptab_core.pipeline.sweep import sweep_job_spec

    synth = make_synth_spec(csv_path="t.csv", images_path="images", schema=demo_schema(), plan_options={})
    sweep = sweep_job_spec(synth, epsilons=[1.0], baselines=["dp-tabimage"])
    assert {synth["entry"], sweep["entry"]} <= set(JOB_ENTRIES), (synth["entry"], sweep["entry"])


def test_job_folders_written_before_the_registry_still_run_their_job():
    from dptab_core.jobs.registry import FORMER_NAMES, load_entry

    for former, name in FORMER_NAMES.items():
        assert load_entry(former) is load_entry(name), former
