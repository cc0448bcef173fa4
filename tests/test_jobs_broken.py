"""One job with an unreadable status.json never stops the other jobs (issue 15, finding 5).

Reproduction from the audit: truncate one job's status.json; ``refresh()`` and ``submit()`` raised,
and a new job was created but never started.
"""

from __future__ import annotations

import json

import pytest
from jobfuncs import isolated_store, kill_leftover_workers, wait_for_state

from dptab_core.jobs import JobCorruptError, refresh, submit


@pytest.fixture
def store(tmp_path, monkeypatch):
    store = isolated_store(tmp_path, monkeypatch)
    yield store
    kill_leftover_workers(store)


def _truncate_status(job) -> None:
    text = job.status_path.read_text()
    job.status_path.write_text(text[: len(text) // 2])


def test_a_new_job_starts_and_succeeds_next_to_a_job_whose_status_is_truncated(store):
    old = store.create({"entry": "jobfuncs:write_outputs"})
    _truncate_status(old)
    assert refresh(store) == [], "refresh should skip the broken job, not raise or change it"
    job = submit({"entry": "jobfuncs:write_outputs", "text": "still works"}, store=store)
    assert wait_for_state(job, "succeeded", "failed").state == "succeeded", job.log_tail()


def test_the_broken_job_is_listed_as_broken_with_its_reason_and_skipped(store):
    good = store.create({"entry": "jobfuncs:write_outputs"})
    bad = store.create({"entry": "jobfuncs:write_outputs"})
    bad.status_path.write_text('{"id": "x"}')  # valid JSON, not a status
    assert [j.id for j in store.list()] == [good.id]
    ((job, problem),) = store.broken()
    assert job.id == bad.id and "status.json" in problem, problem
    with pytest.raises(JobCorruptError, match="Delete this job's folder"):
        bad.status()


def test_cli_jobs_list_shows_a_broken_job_and_the_others(store, capsys):
    from dptab_core.cli import main

    good = store.create({"entry": "jobfuncs:wait_for_release", "heavy": True, "release": str(store.root / "never")})
    bad = store.create({"entry": "jobfuncs:write_outputs"})
    _truncate_status(bad)
    assert main(["jobs", "list", "--json"]) == 0
    shown = {row["id"]: row for row in json.loads(capsys.readouterr().out)}
    assert shown[bad.id]["state"] == "broken" and good.id in shown, shown
