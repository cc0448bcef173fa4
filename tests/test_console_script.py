"""The `dptab` command that `pip install -e .` installs (./studio start and ./studio test run it) works from any folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

DPTAB = Path(sys.executable).parent / "dptab"


def test_dptab_help_works_outside_the_checkout(tmp_path):
    assert DPTAB.exists(), f"{DPTAB} is missing: `pip install -e .` (./studio test does it) installs the dptab command"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([str(DPTAB), "--help"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("usage: dptab ") and "demo-data" in done.stdout and "synth" in done.stdout


def test_dptab_plans_a_budget_outside_the_checkout(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [str(DPTAB), "plan", "--epsilon", "1", "--delta", "1e-5", "--rows", "2000", "--json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert '"epsilon"' in done.stdout
