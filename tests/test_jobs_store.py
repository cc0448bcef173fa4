"""The job store's files: creation, lookup, ordering, atomic status, progress and log reading."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from dptab_core.errors import JobError
from dptab_core.jobs import JobNotFoundError, JobStateError, JobStore, cancel, resume
from dptab_core.jobs.process import is_alive, start_token
from dptab_core.jobs.store import write_json_atomic


@pytest.fixture
def store(tmp_path):
    return JobStore(tmp_path / "jobs")


def test_create_writes_the_spec_and_a_queued_status(store):
    job = store.create({"entry": "pkg.mod:run", "rows": 5, "epsilon_planned": 3.0})
    assert json.loads(job.spec_path.read_text()) == {"entry": "pkg.mod:run", "rows": 5, "epsilon_planned": 3.0}
    status = job.status()
    assert (status.state, status.id, status.epsilon_planned, status.heavy) == ("queued", job.id, 3.0, True)
    assert [p.name for p in store.root.iterdir() if p.name.startswith(".")] == [], "no half-built job folder may remain"


def test_the_default_store_lives_in_the_workspace(tmp_path, monkeypatch):
    monkeypatch.setenv("DPTAB_HOME", str(tmp_path / "ws"))
    assert JobStore().root == (tmp_path / "ws" / "jobs").resolve()


@pytest.mark.parametrize(
    "spec", [{}, {"entry": "module.without_function"}, {"entry": "a/b:c"}, {"entry": "m:f", "epsilon_planned": "x"}]
)
def test_a_spec_without_a_valid_entry_is_refused(store, spec):
    with pytest.raises(JobError):
        store.create(spec)


def test_list_returns_jobs_newest_first(store):
    ids = [store.create({"entry": "m:f"}).id for _ in range(3)]
    assert [job.id for job in store.list()] == sorted(ids, reverse=True)


@pytest.mark.parametrize("job_id", ["nope", "../jobs", "20261123-130155-000001", "20261123-130155-a61cb4"])
def test_an_unknown_or_malformed_id_raises_job_not_found_naming_the_fix(store, job_id):
    with pytest.raises(JobNotFoundError, match="jobs list"):
        store.get(job_id)


def test_progress_events_skip_a_line_torn_by_a_crash(store):
    job = store.create({"entry": "m:f"})
    job.append_progress({"stage": "a", "fraction": 0.1})
    with open(job.progress_path, "a") as fh:
        fh.write('{"stage": "b", "fra')
    assert job.progress_events() == [{"stage": "a", "fraction": 0.1}]


def test_log_tail_returns_the_last_lines(store):
    job = store.create({"entry": "m:f"})
    assert job.log_tail() == ""
    job.log_path.write_text("".join(f"line {i}\n" for i in range(100)))
    assert job.log_tail(3) == "line 97\nline 98\nline 99"


def test_an_atomic_write_that_fails_leaves_the_old_file_and_no_temp_file(tmp_path):
    path = tmp_path / "status.json"
    write_json_atomic(path, {"state": "queued"})
    with pytest.raises(TypeError):
        write_json_atomic(path, {"state": object()})
    assert json.loads(path.read_text()) == {"state": "queued"}
    assert [p.name for p in tmp_path.iterdir()] == ["status.json"]


def test_a_queued_job_cancels_at_once_and_cannot_be_cancelled_twice(store):
    job = store.create({"entry": "m:f"})
    assert cancel(job.id, store=store, wait=False).state == "cancelled"
    with pytest.raises(JobStateError, match="nothing to cancel"):
        cancel(job.id, store=store)


def test_only_failed_or_cancelled_jobs_can_be_resumed(store):
    job = store.create({"entry": "m:f"})
    job.update_status(state="succeeded")
    with pytest.raises(JobStateError, match="already succeeded"):
        resume(job.id, store=store)


def test_a_process_is_recognised_by_pid_and_start_token_and_a_reaped_one_is_dead():
    assert is_alive(os.getpid(), start_token(os.getpid()))
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    token = start_token(child.pid)
    child.wait()
    assert not is_alive(child.pid, token), "a process that exited must read as dead"


def test_the_jobs_package_and_cli_import_without_torch_jax_or_streamlit(tmp_path):
    code = textwrap.dedent("""
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in {"torch", "jax", "streamlit", "opacus", "mbi"}:
                    raise ImportError("blocked import of " + name)
        sys.meta_path.insert(0, Block())
        import dptab_core.jobs, dptab_core.jobs.worker, dptab_core.cli.jobs
        from dptab_core.cli import main
        sys.exit(main(["jobs", "list", "--json"]))
    """)
    env = dict(os.environ, DPTAB_HOME=str(tmp_path))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, f"importing the jobs package needed a blocked module:\n{done.stderr}"
    assert json.loads(done.stdout) == []
