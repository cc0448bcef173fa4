"""Sampling speed of each preset's image model: images per second, batched as the pipeline samples.

PYTHONPATH=. .venv/bin/python benchmarks/bench_images.py --presets quick,standard,gpu
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from dptab_core.image.device import resolve_device
from dptab_core.image.models import build_model
from dptab_core.image.presets import get_preset
from dptab_core.image.sample import sample_images


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", default="quick,standard,gpu")
    ap.add_argument("--images", type=int, default=2000, help="how many images to draw (the demo has 2,000 rows)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = resolve_device("auto")
    cond = np.eye(40, dtype=np.float32)[np.random.default_rng(0).integers(0, 40, args.images)]
    print(f"device {device}, {args.threads} threads, {args.images} images of 32x32x3")
    for name in args.presets.split(","):
        preset = get_preset(name)
        model = build_model(preset, 40, (32, 32, 3))
        sample_images(
            model,
            cond[: preset.sample_batch],
            seed=0,
            batch_size=preset.sample_batch,
            device=device,
            temperature=preset.sample_temperature,
        )
        t = time.perf_counter()
        out = sample_images(
            model, cond, seed=0, batch_size=preset.sample_batch, device=device, temperature=preset.sample_temperature
        )
        seconds = time.perf_counter() - t
        print(f"{name:9s} {len(out) / seconds:9.0f} images/s  ({seconds:.2f} s for {len(out)})", flush=True)


if __name__ == "__main__":
    main()
