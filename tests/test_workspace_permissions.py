"""The workspace is private: a new one is 0700, and what the CLI and the job worker write in it is 0600/0700.

Raw uploads, extracted images, checkpoints and owner views live there (issue 15, finding 3).
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from jobfuncs import isolated_store, kill_leftover_workers, wait_for_state

from dptab_core.jobs import submit

ROOT = Path(__file__).resolve().parents[1]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def loose_umask():
    """The caller's umask is the common 022 (files 0644): the code must not rely on it."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_a_new_workspace_made_by_the_cli_is_0700(tmp_path, loose_umask):
    home = tmp_path / "ws"
    result = subprocess.run(
        [sys.executable, "-m", "dptab_core", "jobs", "list"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "DPTAB_HOME": str(home), "PYTHONPATH": str(ROOT)},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert oct(_mode(home)) == oct(0o700), f"`stat` on the new workspace shows {oct(_mode(home))}"
    assert oct(_mode(home / "jobs")) == oct(0o700), f"jobs/ is {oct(_mode(home / 'jobs'))}"


def test_files_and_folders_the_worker_writes_are_private(tmp_path, monkeypatch, loose_umask):
    store = isolated_store(tmp_path, monkeypatch)
    try:
        job = submit({"entry": "jobfuncs:write_outputs", "text": "real rows"}, store=store)
        assert wait_for_state(job, "succeeded", "failed").state == "succeeded", job.log_tail()
    finally:
        kill_leftover_workers(store)
    written = [job.dir, *job.dir.rglob("*")]
    assert {"result.txt", "job.log", "spec.json", "progress.jsonl"} <= {p.name for p in written}
    loose = {str(path.relative_to(job.dir.parent)): oct(_mode(path)) for path in written if _mode(path) & 0o077}
    assert not loose, f"readable by other users: {loose}"
