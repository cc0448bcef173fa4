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


def test_the_engines_own_entries_are_registered():
    from dptab_core.cli.sweep import SWEEP_ENTRY
    from dptab_core.pipeline.spec import JOB_ENTRY

    assert {JOB_ENTRY, SWEEP_ENTRY} <= set(JOB_ENTRIES)
