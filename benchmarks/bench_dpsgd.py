"""DP-SGD step time over non-private step time, per preset model and Opacus per-sample-gradient mode.

On one fixed batch (the preset's DP-SGD batch, capped by ``--max-batch`` on a CPU), times a plain
Adam step and a DP-SGD step (per-sample gradients, clipping, noise) of the same model, medians over
``--repeats`` steps after two warm-up steps, in process CPU time (robust when the machine is shared;
with one thread it equals the wall time of an idle core). Goal: ratio ≤ 2.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_dpsgd.py --presets quick,standard
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import torch
from torch.utils.data import DataLoader, TensorDataset

from dptab_core.image.device import resolve_device
from dptab_core.image.dpsgd import PerSampleLoss
from dptab_core.image.models import build_model
from dptab_core.image.presets import get_preset

COND_DIM = 40
"""About the demo's record width (8 columns, 45 slots with the unspecified tokens)."""


def median_step(step, repeats: int) -> float:
    step()
    step()
    times = []
    for _ in range(repeats):
        t = time.process_time()
        step()
        times.append(time.process_time() - t)
    return statistics.median(times)


def timed(preset_name: str, batch: int, mode: str | None, repeats: int, device) -> float:
    from opacus import PrivacyEngine

    preset = get_preset(preset_name)
    torch.manual_seed(0)
    model = build_model(preset, COND_DIM, (32, 32, 3)).to(device)
    x = torch.randn(batch, 3, preset.resolution, preset.resolution, device=device).clamp(-1, 1)
    c = torch.rand(batch, COND_DIM, device=device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    if mode is None:
        def step():
            loss = model(x, c).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        return median_step(step, repeats)
    loader = DataLoader(TensorDataset(x, c), batch_size=batch)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        engine = PrivacyEngine()
        out = engine.make_private(module=model, optimizer=opt, data_loader=loader, noise_multiplier=1.0,
                                  max_grad_norm=1.0, poisson_sampling=False, grad_sample_mode=mode,
                                  **({"criterion": PerSampleLoss()} if "ghost" in mode else {}))
    private, dp_opt = out[0], out[1]
    criterion = out[2] if "ghost" in mode else None

    def dp_step():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            per_sample = private(x, c)
            loss = criterion(per_sample) if criterion is not None else per_sample.mean()
            dp_opt.zero_grad(set_to_none=True)
            loss.backward()
            dp_opt.step()
    return median_step(dp_step, repeats)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", default="quick,standard,gpu")
    ap.add_argument("--modes", default="hooks,functorch,ghost")
    ap.add_argument("--max-batch", type=int, default=256, help="cap on the batch on CPU (the gpu preset wants 4096)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = resolve_device("auto")
    print(f"device {device}, {args.threads} threads")
    print(f"{'preset':9s} {'params':>7s} {'batch':>5s} {'plain s':>8s} " + " ".join(f"{m:>16s}" for m in
                                                                                 args.modes.split(",")))
    for name in args.presets.split(","):
        preset = get_preset(name)
        batch = preset.dpsgd_batch if device.type == "cuda" else min(preset.dpsgd_batch, args.max_batch)
        params = sum(p.numel() for p in build_model(preset, COND_DIM, (32, 32, 3)).parameters())
        plain = timed(name, batch, None, args.repeats, device)
        cells = []
        for mode in args.modes.split(","):
            try:
                dp = timed(name, batch, mode, args.repeats, device)
                cells.append(f"{dp:6.3f}s ({dp / plain:4.2f}x)")
            except Exception as exc:  # a mode that cannot run this model is a result, not a crash
                cells.append(f"{'failed: ' + type(exc).__name__:>16s}")
        print(f"{name:9s} {params / 1e6:6.2f}M {batch:5d} {plain:8.3f} " + " ".join(f"{c:>16s}" for c in cells),
              flush=True)


if __name__ == "__main__":
    main()
