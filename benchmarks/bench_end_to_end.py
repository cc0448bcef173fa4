"""Benchmark the whole pipeline: the default demo data (2,000 rows) through the quick preset, in one process.

Prints wall time and peak resident memory per stage and in total, next to the goal of issue 7
(under 5 minutes and under 4 GiB on 2 CPU cores), plus the machine's load average, because on a
shared machine the wall time says as much about the neighbours as about the pipeline.

Peak memory per stage: the kernel's high-water mark of this process (``VmHWM``, which counts every
thread: torch's and JAX's worker threads share the process's memory) is reset at each stage start
by writing ``5`` to ``/proc/self/clear_refs`` and read at the stage's end. Where the reset is not
allowed, the column shows the running peak since the start instead (and says so).

    .venv/bin/python benchmarks/bench_end_to_end.py                 # the demo exactly as `demo` runs it
    .venv/bin/python benchmarks/bench_end_to_end.py --no-evaluate   # the release only
    .venv/bin/python benchmarks/bench_end_to_end.py --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dptab_core.data.demo import demo_schema, ensure_demo  # noqa: E402
from dptab_core.pipeline import SynthSpec, run_pipeline  # noqa: E402

GOAL_S = 300.0
"""Issue 7: the demo finishes in under 5 minutes on 2 cores."""
GOAL_GIB = 4.0
"""Issue 7: and stays under 4 GiB."""


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _reset_peak() -> bool:
    """Reset this process's RSS high-water mark; False where the kernel does not allow it."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


class StageMeter:
    """Turns the pipeline's progress events into (stage, wall seconds, peak RSS) rows."""

    def __init__(self) -> None:
        self.rows: list[dict] = []
        self.stage: str | None = None
        self.started = time.perf_counter()
        self.per_stage_peak = True

    def __call__(
        self, stage: str, fraction: float, message: str = "", epsilon_spent: float | None = None, **_: object
    ) -> None:
        if stage != self.stage:
            self.close()
            self.stage, self.started = stage, time.perf_counter()
            self.per_stage_peak = _reset_peak() and self.per_stage_peak

    def close(self) -> None:
        if self.stage is not None:
            self.rows.append(
                {
                    "stage": self.stage,
                    "wall_s": time.perf_counter() - self.started,
                    "peak_rss_mib": _status_kib("VmHWM") / 1024,
                }
            )
            self.stage = None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epsilon", type=float, default=10.0)
    parser.add_argument("--no-evaluate", action="store_true", help="stop after the release")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    load_before = os.getloadavg()
    data = ensure_demo()  # the default demo: 2,000 rows, as `python -m dptab_core demo` uses
    spec = SynthSpec(
        csv_path=str(data / "table.csv"),
        images_path=str(data / "images"),
        schema=demo_schema().to_dict(),
        plan_options={"epsilon": args.epsilon},
        preset="quick",
        public_dir=str(data / "public"),
        evaluate=not args.no_evaluate,
    )
    meter = StageMeter()
    with tempfile.TemporaryDirectory(prefix="bench_e2e_") as tmp:
        started = time.perf_counter()
        run_pipeline(spec, out_dir=Path(tmp) / "out", work_dir=Path(tmp) / "work", progress=meter)
        meter.close()
        total = time.perf_counter() - started
    peak_total = max(row["peak_rss_mib"] for row in meter.rows)
    load_after = os.getloadavg()

    peak_label = "peak RSS (MiB)" if meter.per_stage_peak else "running peak RSS (MiB)"
    print(f"{'stage':<16}{'wall (s)':>10}{peak_label:>24}")
    for row in meter.rows:
        print(f"{row['stage']:<16}{row['wall_s']:>10.1f}{row['peak_rss_mib']:>24.0f}")
    release_s = sum(r["wall_s"] for r in meter.rows if r["stage"] != "evaluate")
    print(f"{'total':<16}{total:>10.1f}{peak_total:>24.0f}")
    print(f"{'(release only)':<16}{release_s:>10.1f}")
    print(
        f"goal: < {GOAL_S:.0f} s and < {GOAL_GIB:g} GiB on 2 cores -> "
        f"time {'met' if total < GOAL_S else 'NOT met'}, memory {'met' if peak_total < GOAL_GIB * 1024 else 'NOT met'}"
    )
    print(
        f"cores: {os.cpu_count()}, load average (1/5/15 min) before {load_before[0]:.1f}/{load_before[1]:.1f}/"
        f"{load_before[2]:.1f}, after {load_after[0]:.1f}/{load_after[1]:.1f}/{load_after[2]:.1f}"
    )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "stages": meter.rows,
                    "total_s": total,
                    "peak_rss_mib": peak_total,
                    "release_s": release_s,
                    "load_before": load_before,
                    "load_after": load_after,
                    "per_stage_peak": meter.per_stage_peak,
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
