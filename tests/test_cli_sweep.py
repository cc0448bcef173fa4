"""``sweep``: a background ε sweep whose bad options are refused before anything runs."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _cli(*args: str, home: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dptab_core", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"DPTAB_HOME": str(home), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )


def test_an_unknown_method_is_refused_with_the_known_ones_listed(tmp_path):
    done = _cli("sweep", "--csv", "t.csv", "--images", "imgs", "--baselines", "dp-tabimage,magic", home=tmp_path)
    assert done.returncode == 2, done.stderr
    assert "magic" in done.stderr and "independent" in done.stderr, done.stderr
    assert not (tmp_path / "jobs").exists() or not any((tmp_path / "jobs").iterdir()), "a job was created anyway"


def test_epsilons_that_are_not_positive_numbers_are_refused(tmp_path):
    done = _cli("sweep", "--csv", "t.csv", "--images", "imgs", "--epsilons", "1,zero", home=tmp_path)
    assert done.returncode == 2 and "--epsilons" in done.stderr, done.stderr
