"""``python -m dptab_core jobs list|show|cancel|resume`` against real jobs in a temporary workspace."""

from __future__ import annotations

import json
import os
import signal

import pytest
from jobfuncs import isolated_store, kill_leftover_workers, wait_for_stage, wait_for_state, wait_until

from dptab_core.cli import main
from dptab_core.jobs import submit
from dptab_core.jobs.process import is_alive


@pytest.fixture
def store(tmp_path, monkeypatch):
    store = isolated_store(tmp_path, monkeypatch)
    yield store
    kill_leftover_workers(store)


def test_jobs_list_json_shows_every_job_newest_first(store, capsys):
    old = store.create({"entry": "m:f"})
    new = store.create({"entry": "m:g"})
    old.update_status(state="cancelled")  # keep refresh from launching them
    new.update_status(state="cancelled")
    assert main(["jobs", "list", "--json"]) == 0
    assert [row["id"] for row in json.loads(capsys.readouterr().out)] == [new.id, old.id]


def test_jobs_list_says_so_when_there_are_no_jobs(store, capsys):
    assert main(["jobs", "list"]) == 0
    assert "no jobs" in capsys.readouterr().out


@pytest.mark.parametrize("action", ["show", "cancel", "resume"])
def test_an_unknown_job_id_exits_2_with_a_clear_message(store, capsys, action):
    assert main(["jobs", action, "20991231-000000-000000"]) == 2
    err = capsys.readouterr().err
    assert "no job with id '20991231-000000-000000'" in err and "jobs list" in err, err


def test_jobs_show_reports_a_killed_worker_with_its_stage_and_log_tail(store, capsys):
    job = submit(
        {"entry": "jobfuncs:wait_for_release", "release": str(store.root / "never"), "epsilon_planned": 1.0},
        store=store,
    )
    running = wait_for_stage(job, "waiting")
    wait_until(lambda: "worker is waiting" in job.log_tail(), what="the worker's print in the log")
    os.kill(running.pid, signal.SIGKILL)
    wait_until(lambda: not is_alive(running.pid, running.start_token), what="the worker to die")
    assert main(["jobs", "show", job.id]) == 0
    out = capsys.readouterr().out
    assert "state:    failed" in out
    assert "stopped unexpectedly" in out and "during stage 'waiting'" in out, out
    assert "worker is waiting" in out, "the log tail should be shown"
    assert "/ 1" in out, "the planned ε should be shown"


def test_jobs_show_json_has_status_spec_and_log_tail(store, capsys):
    job = submit({"entry": "jobfuncs:write_outputs"}, store=store)
    wait_for_state(job, "succeeded", "failed")
    assert main(["jobs", "show", job.id, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["status"]["state"] == "succeeded" and shown["spec"]["entry"] == "jobfuncs:write_outputs"
    assert "succeeded" in shown["log_tail"]


def test_jobs_cancel_then_resume_runs_the_job_again(store, capsys):
    release = store.root / "release"
    job = submit({"entry": "jobfuncs:wait_for_release", "release": str(release)}, store=store)
    wait_for_stage(job, "waiting")
    assert main(["jobs", "cancel", job.id]) == 0
    assert f"job {job.id} cancelled" in capsys.readouterr().out
    release.touch()
    assert main(["jobs", "resume", job.id]) == 0
    assert "resumed" in capsys.readouterr().out
    status = wait_for_state(job, "succeeded", "failed")
    assert status.state == "succeeded" and status.resuming and status.attempt == 2


def test_cancelling_a_finished_job_exits_2_and_says_why(store, capsys):
    job = store.create({"entry": "m:f"})
    job.update_status(state="succeeded")
    assert main(["jobs", "cancel", job.id]) == 2
    assert "already succeeded" in capsys.readouterr().err
