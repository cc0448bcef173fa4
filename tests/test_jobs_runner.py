"""Background jobs with real worker processes and real files: success, failure, crash, cancel, queue, resume."""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import pytest
from jobfuncs import isolated_store, kill_leftover_workers, wait_for_stage, wait_for_state, wait_until

from dptab_core.errors import InputError
from dptab_core.jobs import cancel, refresh, resume, run_in_foreground, submit
from dptab_core.jobs.process import is_alive


@pytest.fixture
def store(tmp_path, monkeypatch):
    store = isolated_store(tmp_path, monkeypatch)
    yield store
    kill_leftover_workers(store)


def test_a_submitted_job_succeeds_with_progress_events_and_its_outputs_moved_into_place(store):
    job = submit({"entry": "jobfuncs:write_outputs", "text": "hello"}, store=store)
    status = wait_for_state(job, "succeeded", "failed")
    assert status.state == "succeeded", f"job failed: {status.error}"
    assert (status.fraction, status.epsilon_spent, status.epsilon_planned) == (1.0, 1.5, 2.0)
    assert [e["stage"] for e in job.progress_events()] == ["prepare", "train"]
    assert (job.dir / "out" / "result.txt").read_text() == "hello", "outputs were not moved to out/"
    assert not job.partial_output_path.exists(), "out.partial/ should be gone once out/ is in place"
    assert status.output_dir == str(job.dir / "out")
    assert "halfway there" in job.log_tail(), "ctx.log should write to the job log"


@pytest.mark.parametrize("exists_empty", [False, True])
def test_outputs_go_to_the_spec_output_dir_when_it_names_one(store, tmp_path, exists_empty):
    target = tmp_path / "results"
    if exists_empty:
        target.mkdir()
    job = submit({"entry": "jobfuncs:write_outputs", "output_dir": str(target)}, store=store)
    assert wait_for_state(job, "succeeded", "failed").state == "succeeded"
    assert (target / "result.txt").is_file(), "outputs should be moved into the requested folder"
    assert not (tmp_path / "results.partial").exists()


def test_a_non_empty_output_dir_is_refused_before_the_job_is_created(store, tmp_path):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "old.csv").write_text("x")
    with pytest.raises(InputError, match="already exists and is not empty"):
        submit({"entry": "jobfuncs:write_outputs", "output_dir": str(tmp_path / "taken")}, store=store)
    assert store.list() == [], "no job should be created for an unusable output folder"


def test_an_input_error_fails_the_job_with_its_message_as_it_is(store):
    job = submit({"entry": "jobfuncs:fail_with_input_error"}, store=store)
    status = wait_for_state(job, "succeeded", "failed")
    assert status.state == "failed"
    assert status.error == "table.csv: column 'age' has no values. Fill the column or drop it."
    assert status.stage == "schema", "the failed job should keep the stage it was in"
    assert not (job.dir / "out").exists() and not job.partial_output_path.exists()


def test_an_unexpected_exception_fails_with_plain_words_and_the_traceback_only_in_the_log(store):
    job = submit({"entry": "jobfuncs:fail_with_bug"}, store=store)
    status = wait_for_state(job, "succeeded", "failed")
    assert status.state == "failed"
    assert "during stage 'table'" in status.error and "bug" in status.error, status.error
    assert "Traceback" not in status.error, "the traceback belongs in the log, not the status"
    assert "Traceback" in job.log_path.read_text(), "the traceback should be in the job log"


def test_a_worker_killed_with_sigkill_is_marked_failed_by_refresh_with_its_stage_and_log_tail(store):
    job = submit({"entry": "jobfuncs:wait_for_release", "release": str(store.root / "never")}, store=store)
    running = wait_for_stage(job, "waiting")
    wait_until(lambda: "worker is waiting" in job.log_tail(), what="the worker's print in the log")
    os.kill(running.pid, signal.SIGKILL)
    wait_until(lambda: not is_alive(running.pid, running.start_token), what="the worker to die")
    assert job.status().state == "running", "before refresh the files still say running"
    assert refresh(store) == [job]
    status = job.status()
    assert status.state == "failed"
    assert "stopped unexpectedly" in status.error and "during stage 'waiting'" in status.error, status.error
    assert "worker is waiting" in status.log_tail, "the log tail should be kept with the failure"
    assert not (job.dir / "out").exists(), "no output folder may present itself as complete"
    assert not job.partial_output_path.exists(), "half-written outputs should be removed"


def test_cancel_stops_a_running_job_leaves_no_outputs_and_the_worker_is_gone(store):
    job = submit({"entry": "jobfuncs:wait_for_release", "release": str(store.root / "never")}, store=store)
    running = wait_for_stage(job, "waiting")
    status = cancel(job.id, store=store)
    assert status.state == "cancelled", f"cancel should end in cancelled, got {status.state}: {status.error}"
    wait_until(lambda: not is_alive(running.pid, running.start_token), timeout_s=10, what="the worker to exit")
    assert not (job.dir / "out").exists() and not job.partial_output_path.exists()


def test_cancel_kills_a_job_that_ignores_the_stop_request_after_the_grace_period(store):
    spec = {"entry": "jobfuncs:wait_for_release", "release": str(store.root / "never"), "ignore_stop": True}
    job = submit(spec, store=store)
    running = wait_for_stage(job, "waiting")
    started = time.monotonic()
    status = cancel(job.id, store=store, grace_s=0.5)
    assert status.state == "cancelled"
    assert time.monotonic() - started < 10, "cancel should not wait much past its grace period"
    wait_until(lambda: not is_alive(running.pid, running.start_token), timeout_s=5, what="SIGKILL to land")
    assert not job.partial_output_path.exists()


def test_a_second_heavy_job_stays_queued_until_the_first_ends_then_runs(store):
    release = store.root / "release"
    first = submit({"entry": "jobfuncs:wait_for_release", "release": str(release)}, store=store)
    wait_for_stage(first, "waiting")
    second = submit({"entry": "jobfuncs:write_outputs"}, store=store)
    time.sleep(0.5)
    refresh(store)
    assert second.status().state == "queued", "only one heavy job may run at a time"
    release.touch()
    assert wait_for_state(first, "succeeded", "failed").state == "succeeded"
    assert wait_for_state(second, "succeeded", "failed").state == "succeeded", "the queued job should run next"
    assert second.status().started_at >= first.status().finished_at


def test_cancelling_a_queued_job_cancels_it_without_running_it(store):
    first = submit({"entry": "jobfuncs:wait_for_release", "release": str(store.root / "never")}, store=store)
    wait_for_stage(first, "waiting")
    second = submit({"entry": "jobfuncs:write_outputs"}, store=store)
    assert cancel(second.id, store=store).state == "cancelled"
    assert second.status().started_at is None and second.progress_events() == []


def test_refresh_starts_the_queued_job_when_the_running_one_died(store):
    first = submit({"entry": "jobfuncs:wait_for_release", "release": str(store.root / "never")}, store=store)
    running = wait_for_stage(first, "waiting")
    second = submit({"entry": "jobfuncs:write_outputs"}, store=store)
    os.kill(running.pid, signal.SIGKILL)
    wait_until(lambda: not is_alive(running.pid, running.start_token), what="the worker to die")
    refresh(store)
    assert first.status().state == "failed"
    assert wait_for_state(second, "succeeded", "failed").state == "succeeded"


def test_resume_runs_a_failed_job_again_with_resuming_true_from_its_checkpoint(store):
    job = submit({"entry": "jobfuncs:resumable"}, store=store)
    assert wait_for_state(job, "succeeded", "failed").state == "failed"
    resume(job.id, store=store)
    status = wait_for_state(job, "succeeded", "failed")
    assert status.state == "succeeded", status.error
    assert json.loads((job.dir / "out" / "resumed.json").read_text()) == {"resuming": True, "from_step": 1}
    assert status.attempt == 2 and status.error is None


def test_status_json_is_always_valid_json_while_a_job_reports_progress_rapidly(store):
    job = submit({"entry": "jobfuncs:rapid_progress", "events": 300}, store=store)
    reads = 0
    while True:
        text = job.status_path.read_text()
        status = json.loads(text)  # a torn write would raise here
        reads += 1
        if status["state"] in ("succeeded", "failed"):
            break
    assert status["state"] == "succeeded", status.get("error")
    assert len(job.progress_events()) == 300
    assert reads > 10, f"the reader only got {reads} reads in: the test did not overlap the writes"


def test_a_foreground_run_takes_the_same_path_and_reports_progress_to_the_caller(store):
    seen = []
    job = run_in_foreground({"entry": "jobfuncs:write_outputs"}, store=store, on_progress=seen.append)
    status = job.status()
    assert status.state == "succeeded" and status.pid == os.getpid()
    assert [e["fraction"] for e in seen] == [0.25, 0.75]
    assert (job.dir / "out" / "result.txt").is_file()


def test_a_foreground_job_stops_when_cancel_is_requested_from_another_thread(store):
    release = store.root / "never"

    def cancel_when_waiting():
        job = next(iter(store.list()), None)
        while job is None or job.status().stage != "waiting":
            time.sleep(0.02)
            job = next(iter(store.list()), None)
        cancel(job.id, store=store, wait=False)

    helper = threading.Thread(target=cancel_when_waiting)
    helper.start()
    job = run_in_foreground({"entry": "jobfuncs:wait_for_release", "release": str(release)}, store=store)
    helper.join(timeout=30)
    assert job.status().state == "cancelled"
    assert not (job.dir / "out").exists()
