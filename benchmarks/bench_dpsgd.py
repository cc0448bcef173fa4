"""DP-SGD step time over non-private step time, per preset model and DP-SGD engine, in one run.

On one fixed batch (the preset's DP-SGD batch, capped by ``--max-batch`` on a CPU, or ``--batch``),
times a plain Adam step and a DP-SGD step (per-sample gradients, clipping, noise, Adam) of the same
model with each engine of :mod:`dptab_core.image.dpsgd`: the own ``bookkeeping`` and ``vmap``
engines and Opacus' ``hooks``, ``functorch`` and ``ghost`` grad-sample modes. Medians over
``--repeats`` steps after two warm-up steps, in process CPU time (robust when the machine is shared;
with one thread it equals the wall time of an idle core). Goal: ratio ≤ 2. Prints a markdown table.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_dpsgd.py --presets quick,standard --threads 1
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import warnings

import torch
from torch.utils.data import DataLoader, TensorDataset

from dptab_core.image import per_sample
from dptab_core.image.device import resolve_device
from dptab_core.image.dpsgd import PerSampleLoss, noisy_mean_gradient
from dptab_core.image.models import build_model
from dptab_core.image.presets import get_preset

COND_DIM = 40
"""About the demo's record width (8 columns, 45 slots with the unspecified tokens)."""
ENGINES = ("bookkeeping", "vmap", "opacus-hooks", "opacus-functorch", "opacus-ghost")


def median_step(step, repeats: int, device) -> float:
    """Median seconds of ``step`` after two warm-ups: process CPU time on a CPU, wall time on CUDA."""
    clock = time.perf_counter if device.type == "cuda" else time.process_time
    for _ in range(2):
        step()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = clock()
        step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(clock() - t)
    return statistics.median(times)


def make_step(preset_name: str, batch: int, engine: str | None, device, channels_last: bool):
    """One training step of the preset's model on a fixed random batch: plain (``engine`` None) or DP-SGD."""
    preset = get_preset(preset_name)
    torch.manual_seed(0)
    model = build_model(preset, COND_DIM, (32, 32, 3)).to(device)
    x = torch.randn(batch, 3, preset.resolution, preset.resolution, device=device).clamp(-1, 1)
    c = torch.rand(batch, COND_DIM, device=device)
    if channels_last:
        model, x = model.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    if engine is None:

        def plain():
            loss = model(x, c).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        return plain
    if not engine.startswith("opacus"):
        clipped_sum = getattr(per_sample, f"clipped_grad_sum_{engine}")
        noise = torch.Generator(device=device).manual_seed(0)

        def own():
            grads, _ = clipped_sum(model, x, c, max_grad_norm=1.0)
            for p, g in zip(model.parameters(), grads, strict=True):
                p.grad = noisy_mean_gradient(
                    g, noise_multiplier=1.0, max_grad_norm=1.0, expected_batch=batch, generator=noise
                )
            opt.step()

        return own
    from opacus import PrivacyEngine

    mode = engine.removeprefix("opacus-")
    loader = DataLoader(TensorDataset(x, c), batch_size=batch)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = PrivacyEngine().make_private(
            module=model,
            optimizer=opt,
            data_loader=loader,
            noise_multiplier=1.0,
            max_grad_norm=1.0,
            poisson_sampling=False,
            grad_sample_mode=mode,
            **({"criterion": PerSampleLoss()} if "ghost" in mode else {}),
        )
    private, dp_opt = out[0], out[1]
    criterion = out[2] if "ghost" in mode else None

    def opacus():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            per = private(x, c)
            loss = criterion(per) if criterion is not None else per.mean()
            dp_opt.zero_grad(set_to_none=True)
            loss.backward()
            dp_opt.step()

    return opacus


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", default="quick,standard,gpu")
    ap.add_argument("--engines", default=",".join(ENGINES))
    ap.add_argument("--max-batch", type=int, default=512, help="cap on the batch on CPU (the gpu preset wants 4096)")
    ap.add_argument("--batch", type=int, default=None, help="use this batch instead of the preset's (experiments)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--channels-last", action="store_true", help="model and batch in channels-last memory format")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = resolve_device("auto")
    engines = args.engines.split(",")
    clock = "wall s" if device.type == "cuda" else "CPU s"
    print(
        f"device {device}, {args.threads} thread(s), load average {os.getloadavg()[0]:.1f}, "
        f"channels_last {args.channels_last}, median of {args.repeats} steps ({clock})\n"
    )
    print("| preset | params | batch | plain | " + " | ".join(engines) + " |")
    print("|---" * (4 + len(engines)) + "|")
    for name in args.presets.split(","):
        preset = get_preset(name)
        batch = args.batch or (preset.dpsgd_batch if device.type == "cuda" else min(preset.dpsgd_batch, args.max_batch))
        params = sum(p.numel() for p in build_model(preset, COND_DIM, (32, 32, 3)).parameters())
        plain = median_step(make_step(name, batch, None, device, args.channels_last), args.repeats, device)
        cells = []
        for engine in engines:
            try:
                dp = median_step(make_step(name, batch, engine, device, args.channels_last), args.repeats, device)
                cells.append(f"{dp:.3f} ({dp / plain:.2f}x)")
            except Exception as exc:  # an engine that cannot run this model is a result, not a crash
                cells.append(f"failed: {type(exc).__name__}")
        print(f"| {name} | {params / 1e6:.2f} M | {batch} | {plain:.3f} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
