"""benchmarks/gpu_check.sh keeps working: its CPU dry run takes the gpu preset's path end to end."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_gpu_check_dry_run_prints_stage_times_epsilon_and_the_quality_row(tmp_path):
    env = {**os.environ, "PYTHON": sys.executable, "DPTAB_HOME": str(tmp_path / "home")}
    done = subprocess.run(
        [str(ROOT / "benchmarks" / "gpu_check.sh"), "--dry-run", "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    assert done.returncode == 0, f"gpu_check --dry-run failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    out = done.stdout
    for stage in ("semantic_query", "pretrain", "mean_pairs", "table", "dpsgd", "sample", "release"):
        assert f"\n{stage} " in out, f"no time printed for stage {stage}:\n{out}"
    assert "ε spent:" in out and "peak GPU memory" in out, out
    assert "variety" in out and "recall" in out, f"the quality table is missing:\n{out}"
