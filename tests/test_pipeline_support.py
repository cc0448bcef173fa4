"""Shared helpers of the pipeline tests: a tiny demo, tiny knobs, running the CLI, polling a job.

Holds no tests itself. The knobs shrink every step count so that a whole run on 200 rows takes
about a minute on 2 loaded cores, through the same spec fields the app and the CLI use
(``preset_overrides``, ``table_settings``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ROWS = 200
TINY_PRESET = {
    "resolution": 8,
    "width": 8,
    "latent_dim": 4,
    "warmup_steps": 4,
    "warmup_composites": 64,
    "pretrain_steps": 2,
    "public_per_label": 20,
    "classifier_steps": 2,
    "classifier_width": 8,
    "dpsgd_batch": 64,
    "dpsgd_steps": 4,
    "sample_batch": 64,
}


def make_demo(folder: Path, *, rows: int = ROWS) -> Path:
    """The built-in demo dataset, small: ``folder/table.csv``, ``images/``, ``public/``."""
    cli("demo-data", "--out", str(folder), "--rows", str(rows), "--public-per-label", "20", check=True)
    return folder


def save_demo_schema(path: Path) -> Path:
    """The demo's confirmed schema (every domain public) as a schema.json file."""
    from dptab_core.data.demo import demo_schema

    demo_schema().save(path)
    return path


def env(home: Path) -> dict[str, str]:
    """The environment of a CLI call: the workspace (job store) under ``home``."""
    return {**os.environ, "DPTAB_HOME": str(home), "PYTHONPATH": str(ROOT)}


def cli(*args: str, home: Path | None = None, check: bool = False, timeout: float = 900) -> subprocess.CompletedProcess:
    """``python -m dptab_core ARGS`` in a fresh process, its output captured as text."""
    result = subprocess.run(
        [sys.executable, "-m", "dptab_core", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env(home) if home else {**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=timeout,
    )
    if check:
        assert result.returncode == 0, f"{' '.join(args)} exited {result.returncode}:\n{result.stderr[-3000:]}"
    return result


def tiny_overrides() -> list[str]:
    """``--preset-override`` flags for :data:`TINY_PRESET`."""
    return [flag for key, value in TINY_PRESET.items() for flag in ("--preset-override", f"{key}={value}")]


def job_dirs(home: Path) -> list[Path]:
    """The job folders of the workspace ``home`` (not the hidden ones still being built)."""
    return sorted(p for p in (home / "jobs").iterdir() if p.is_dir() and not p.name.startswith("."))


def submit_tiny_background_synth(tmp_path: Path, *extra: str) -> tuple[Path, Path, Path]:
    """A tiny demo ``synth --background`` job (public folder given, :data:`TINY_PRESET`, no evaluation).

    ``extra`` flags go before ``--background``. Returns ``(home, job folder, output folder)``.
    """
    demo = make_demo(tmp_path / "demo")
    home, out = tmp_path / "home", tmp_path / "out"
    result = cli(
        "synth",
        "--csv",
        str(demo / "table.csv"),
        "--images",
        str(demo / "images"),
        "--out",
        str(out),
        "--schema",
        str(save_demo_schema(tmp_path / "schema.json")),
        "--table-settings",
        "fast",
        "--reproducible-noise",
        "--no-evaluate",
        "--public",
        str(demo / "public"),
        *tiny_overrides(),
        *extra,
        "--background",
        home=home,
    )
    assert result.returncode == 0, f"submit failed:\n{result.stderr[-2000:]}"
    (job,) = job_dirs(home)
    return home, job, out


def read_status(job_dir: Path) -> dict[str, Any]:
    return json.loads((job_dir / "status.json").read_text(encoding="utf-8"))


def wait_for(job_dir: Path, ok, *, what: str, timeout: float = 600) -> dict[str, Any]:
    """Poll ``status.json`` until ``ok(status)``; fail with the last status when it never comes."""
    deadline = time.monotonic() + timeout
    status: dict[str, Any] = {}
    while time.monotonic() < deadline:
        try:
            status = read_status(job_dir)
        except (OSError, json.JSONDecodeError):
            status = {}
        if status and ok(status):
            return status
        if status.get("state") in ("failed", "succeeded", "cancelled") and not ok(status):
            break
        time.sleep(0.3)
    log = (job_dir / "job.log").read_text(errors="replace")[-3000:] if (job_dir / "job.log").exists() else ""
    raise AssertionError(f"job never reached: {what}; last status {status}\nlog tail:\n{log}")


def progress_events(job_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (job_dir / "progress.jsonl").read_text().splitlines() if line.strip()]


def ledger_stages(report: dict[str, Any]) -> set[str]:
    return {item["stage"] for item in report["ledger"]}
