"""The ``gpu`` preset end to end on a 1,500-row HAM10000 subset, timed per stage (goal: under 8 minutes).

Prints each stage's wall time, the peak GPU memory, the ε spent against the ε planned and the image
quality row of benchmarks/bench_image_quality.py (variety, k-NN precision/recall, FD, read-back).
Run it through ``benchmarks/gpu_check.sh`` on a CUDA machine; ``--dry-run`` runs the same code path on
the CPU at tiny sizes on a generated demo dataset (what CI runs, to keep the script working).

    benchmarks/gpu_check.sh                # on a GPU machine with ../shared/data/ham10000
    benchmarks/gpu_check.sh --dry-run      # anywhere, ~1-2 minutes on 2 CPU cores
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

GOAL_SECONDS = 8 * 60
DRY_RUN_OVERRIDES = {
    "width": 8,
    "latent_dim": 4,
    "pretrain_steps": 4,
    "pretrain_batch": 16,
    "public_per_label": 12,
    "classifier_steps": 4,
    "classifier_width": 8,
    "dpsgd_batch": 64,
    "dpsgd_steps": 3,
    "sample_batch": 64,
}
"""Tiny sizes for the CPU dry run: the gpu preset's code path (64x64 latent family), not its cost."""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="CPU, tiny sizes, generated demo data")
    parser.add_argument("--rows", type=int, default=1500, help="HAM10000 lesions (default 1500)")
    parser.add_argument("--epsilon", type=float, default=10.0)
    parser.add_argument("--out", type=Path, default=Path("/tmp/gpu_check"))
    args = parser.parse_args()

    import torch
    from bench_image_quality import Judge, demo_dataset, ham_dataset, print_table

    from dptab_core.data.schema import Schema
    from dptab_core.pipeline import SynthSpec, run_pipeline

    out = args.out.resolve()
    os.environ.setdefault("DPTAB_HOME", str(out / "workspace"))
    if args.dry_run:
        data, device, overrides = demo_dataset(out, 200), "cpu", DRY_RUN_OVERRIDES
    else:
        if not torch.cuda.is_available():
            print("no CUDA device visible: run this on a GPU machine, or use --dry-run", file=sys.stderr)
            return 2
        data, device, overrides = ham_dataset(out, args.rows, image_size=64), "cuda", {}
        if data is None or data.public is None:
            print("needs ../shared/data/ham10000 and ../shared/data/cifar10-test", file=sys.stderr)
            return 2
    print(
        f"# gpu_check: preset gpu on {data.name}, device {device}"
        + (f" ({torch.cuda.get_device_name(0)})" if device == "cuda" else "")
        + f", ε = {args.epsilon:g}"
    )
    spec = SynthSpec(
        csv_path=str(data.csv),
        images_path=str(data.images),
        schema=Schema.load(data.schema_file).to_dict(),
        plan_options={"epsilon": args.epsilon},
        preset="gpu",
        public_dir=str(data.public),
        device=device,
        evaluate=False,
        preset_overrides=overrides,
        table_settings="fast" if args.dry_run else "default",
    )
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    summary = run_pipeline(spec, out_dir=out / "release", work_dir=out / "work")
    total = time.perf_counter() - start
    print("\nstage            seconds")
    for stage, seconds in summary["timings"].items():
        print(f"{stage:<16}{seconds:>8.1f}")
    print(
        f"{'total':<16}{total:>8.1f}   goal < {GOAL_SECONDS} s: "
        f"{'PASS' if total < GOAL_SECONDS else 'MISS'}{' (dry run: sizes are tiny)' if args.dry_run else ''}"
    )
    peak = torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else None
    print(f"peak GPU memory: {'n/a (CPU)' if peak is None else f'{peak:.2f} GiB'}")
    spent = summary.get("epsilon_spent")
    print(f"ε spent: {spent:.3f} of {args.epsilon:g}" if spent is not None else f"ε spent: {summary}")
    judge = Judge(data, out / "eval_cache")
    print_table(data.name, [{"method": "gpu", "epsilon": args.epsilon, "seed": 0, **judge(out / "release")}])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
