"""Latency of planning a full 5-stage budget, the call the budget page makes on every slider move.

Goal: median < 50 ms on 2 cores (the page redraws within 100 ms). Each repetition plans with a
slightly different ε (as a slider drags), so nothing is answered from a cache. Prints median and p95
per scenario; the first, ``slider``, is the headline (ε around 1, δ = 1e-5, 2,000 rows, every stage on,
2 paid domains).

    .venv/bin/python benchmarks/bench_plan.py [--repeats 40]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from dptab_core.privacy import DPSGDSettings, plan_budget  # noqa: E402

SCENARIOS = {
    "slider": {"epsilon": 1.0, "delta": 1e-5, "n_rows": 2000},
    "strong": {"epsilon": 0.3, "delta": 1e-6, "n_rows": 2000},
    "weak": {"epsilon": 8.0, "delta": 1e-6, "n_rows": 2000},
    "large": {"epsilon": 1.0, "delta": 1e-7, "n_rows": 50_000},
}


def time_scenario(base: dict, *, repeats: int) -> tuple[list[float], list[float]]:
    """Wall and CPU milliseconds per plan, ε nudged by 0.5 % each repetition. CPU time is what an
    idle machine's wall time would be; on a shared machine wall time includes waiting for a core."""
    wall, cpu = [], []
    for i in range(repeats + 3):
        start, start_cpu = time.perf_counter(), time.process_time()
        plan = plan_budget(
            epsilon=base["epsilon"] * (1 + 0.005 * i),
            delta=base["delta"],
            n_rows=base["n_rows"],
            dpsgd=DPSGDSettings(epochs=10, batch_size=256),
            n_paid_columns=2,
            n_columns=8,
        )
        elapsed, elapsed_cpu = (time.perf_counter() - start) * 1000, (time.process_time() - start_cpu) * 1000
        assert len(plan.enabled_stages()) == 5, "the benchmark must plan all five stages"
        if i >= 3:  # warm-up: first calls pay for imports and caches of numpy/scipy
            wall.append(elapsed)
            cpu.append(elapsed_cpu)
    return wall, cpu


def p95(values: list[float]) -> float:
    """The 95th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=40)
    args = parser.parse_args()
    print(f"{'scenario':<8} {'median ms':>10} {'p95 ms':>8} {'median CPU ms':>14} {'p95 CPU ms':>11}")
    for name, base in SCENARIOS.items():
        wall, cpu = time_scenario(base, repeats=args.repeats)
        print(
            f"{name:<8} {statistics.median(wall):>10.1f} {p95(wall):>8.1f} {statistics.median(cpu):>14.1f} "
            f"{p95(cpu):>11.1f}"
        )


if __name__ == "__main__":
    main()
