"""Read-back benchmark of the image stages on the demo data: do synthetic images show their record?

Runs the image stages of one preset at a total (ε, δ) on the demo data generated in memory, then
asks a classifier trained on *other* real demo images to read each image-expressed attribute back
from the synthetic images. Prints, per attribute: accuracy on synthetic images against the records
they were drawn for, the same with the conditioning shuffled (images drawn for other rows), real
held-out images (the ceiling), the majority-class rate, and the normalised read-back
``(synthetic − shuffled) / (real − real shuffled)`` (0 = no link, 1 = as linked as real pairs).
Next to it, diversity: the mean per-pixel std of the images within each (skin type, diagnosis) cell,
synthetic over real (1 = as varied as real, 0 = one image per cell).

Next to it, the Fréchet distance (FD) between synthetic and real held-out images in the feature
space of the evaluation's attribute CNN (dptab_core.eval.features, cached under ``--cache-dir``).

Variants (``--variants``): ``full`` (mean pairs → warm-up → DP-SGD), ``warmup`` (all budget to the
mean pairs, no DP-SGD) and ``dpsgd`` (no mean pairs, all budget to DP-SGD).

Model family: ``--family diffusion`` swaps the preset's model family and ``--set KEY=VALUE`` (repeatable)
changes any preset field (tuples as ``1,2,2``), so both families run the same pipeline at budgets
chosen on the command line; the "Model family" table of benchmarks/README.md was measured this way:

    .venv/bin/python benchmarks/bench_readback.py --preset quick --epsilon 10 --threads 1
    .venv/bin/python benchmarks/bench_readback.py --preset quick --family diffusion --set width=16 \
        --set channel_mult=1,2,2 --variants full --threads 1
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import time

import numpy as np
import torch

from dptab_core.data.demo import IMAGE_EXPRESSED_COLUMNS, demo_schema, generate_table
from dptab_core.data.demo_images import render_lesion_images
from dptab_core.data.encoding import encode_table
from dptab_core.eval.features import train_attribute_classifier
from dptab_core.eval.image_metrics import frechet_distance
from dptab_core.image.device import resolve_device
from dptab_core.image.dpsgd import finetune_dpsgd, opacus_sampling_rate
from dptab_core.image.encoder import RecordEncoder, encode_images
from dptab_core.image.mean_pairs import dp_mean_pairs
from dptab_core.image.models import build_model
from dptab_core.image.presets import ImagePreset, get_preset
from dptab_core.image.sample import sample_images
from dptab_core.image.semantic import predict_proba, train_classifier
from dptab_core.image.train import warm_up
from dptab_core.privacy.ledger import Ledger

NUMERIC_GROUPS = 4
"""Numeric columns are read back in 4 coarse groups of their bins: finer size classes are not visible at 32x32."""
READER_RESOLUTION, READER_STEPS = 16, 250
"""The read-back classifiers see 16x16 images and train 250 steps: cheap on a shared 2-core machine, and the
same reader judges real and synthetic images alike."""


def calibrate(*, epsilon: float, delta: float, mp_epsilon: float | None, q: float, steps: int) -> tuple[float, float]:
    """Noise multipliers (mean pairs, DP-SGD) whose RDP composition spends exactly ``epsilon``.

    The mean pairs get the multiplier that alone would cost ``mp_epsilon``; DP-SGD takes the rest.
    ``mp_epsilon`` None: no mean pairs; ``steps`` 0: no DP-SGD. (The product's plan does this in
    dptab_core.privacy; this stand-in keeps the benchmark self-contained.)
    """
    import dp_accounting as dpa

    def eps(events) -> float:
        acc = dpa.rdp.RdpAccountant()
        for e in events:
            acc.compose(e)
        return acc.get_epsilon(delta)

    def solve(f, target: float) -> float:
        lo, hi = 0.1, 200.0
        for _ in range(40):
            mid = (lo * hi) ** 0.5
            lo, hi = (mid, hi) if f(mid) > target else (lo, mid)
        return hi

    sgd = lambda z: dpa.SelfComposedDpEvent(dpa.PoissonSampledDpEvent(q, dpa.GaussianDpEvent(z)), steps)  # noqa: E731
    if mp_epsilon is None:
        return 0.0, solve(lambda z: eps([sgd(z)]), epsilon)
    z_mp = solve(lambda z: eps([dpa.GaussianDpEvent(z)]), mp_epsilon if steps else epsilon)
    if not steps:
        return z_mp, 0.0
    return z_mp, solve(lambda z: eps([dpa.GaussianDpEvent(z), sgd(z)]), epsilon)


def demo(rows: int, seed: int):
    table = generate_table(rows, rng=np.random.default_rng(seed))
    return table, render_lesion_images(table, rng=np.random.default_rng(seed + 1000))


def readback_targets(table, schema) -> dict[str, np.ndarray]:
    codes = encode_table(table, schema)
    out = {}
    for name in IMAGE_EXPRESSED_COLUMNS:
        col = schema.column(name)
        out[name] = codes[name] // (col.bins // NUMERIC_GROUPS) if col.kind == "numeric" else codes[name]
    return out


def with_settings(preset: ImagePreset, family: str | None, settings: list[str]) -> ImagePreset:
    """``preset`` with its family and ``KEY=VALUE`` fields replaced, each value parsed as the field's type."""
    changes: dict = {"family": family} if family else {}
    for item in settings:
        key, _, text = item.partition("=")
        current = getattr(preset, key)
        if isinstance(current, tuple):
            changes[key] = tuple(int(v) for v in text.split(","))
        else:
            changes[key] = type(current)(text)
    return dataclasses.replace(preset, **changes) if changes else preset


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="quick")
    ap.add_argument("--epsilon", type=float, default=10.0)
    ap.add_argument("--delta", type=float, default=1e-6)
    ap.add_argument("--mp-epsilon", type=float, default=4.0, help="standalone ε of the mean pairs in 'full'")
    ap.add_argument("--rows", type=int, default=2000)
    ap.add_argument("--variants", default="full,warmup,dpsgd")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--family", choices=("cvae", "diffusion"), default=None, help="override the preset's family")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a preset field")
    ap.add_argument("--cache-dir", default="/tmp/bench_readback_cache", help="where the FD feature CNN is cached")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    # dp_accounting logs one line per RDP order it cannot evaluate while calibrating: noise, not news.
    logging.getLogger("absl").setLevel(logging.ERROR)
    device = resolve_device("auto")
    preset = with_settings(get_preset(args.preset), args.family, args.set)
    n_params = sum(p.numel() for p in build_model(preset, RecordEncoder(demo_schema()).dim, (32, 32, 3)).parameters())
    print(
        f"preset {preset.name}, family {preset.family}, {n_params / 1e6:.2f} M parameters; overrides: "
        f"{', '.join(args.set) or 'none'}",
        flush=True,
    )
    schema = demo_schema()
    encoder = RecordEncoder(schema)
    train_t, train_x = demo(args.rows, args.seed)  # the sensitive data
    clf_t, clf_x = demo(2000, args.seed + 1)  # real images the read-back classifiers learn from
    eval_t, eval_x = demo(600, args.seed + 2)  # records to draw for, and their real images

    t0 = time.process_time()
    clf_targets, eval_targets = readback_targets(clf_t, schema), readback_targets(eval_t, schema)
    readers = {
        name: train_classifier(
            encode_images(clf_x, READER_RESOLUTION),
            y,
            int(y.max()) + 1,
            width=16,
            steps=READER_STEPS,
            seed=0,
            device=device,
        )
        for name, y in clf_targets.items()
    }
    print(f"read-back classifiers trained in {time.process_time() - t0:.0f} CPU s", flush=True)
    perm = np.random.default_rng(7).permutation(len(eval_t))

    def score(images: np.ndarray) -> dict[str, float]:
        x = encode_images(images, READER_RESOLUTION)
        return {n: float((predict_proba(r, x, device).argmax(1) == eval_targets[n]).mean()) for n, r in readers.items()}

    real, real_shuf = score(eval_x), score(eval_x[perm])
    chance = {n: float(np.bincount(y).max() / len(y)) for n, y in eval_targets.items()}
    real_std = cell_std(eval_x, eval_t)
    t0 = time.process_time()
    sizes = {n: int(max(clf_targets[n].max(), eval_targets[n].max())) + 1 for n in clf_targets}
    feature_net = train_attribute_classifier(clf_x, clf_targets, sizes, cache_dir=args.cache_dir)
    real_features = feature_net.embed(eval_x)
    print(
        f"FD feature CNN ready in {time.process_time() - t0:.0f} CPU s; FD(real held-out, real train) = "
        f"{frechet_distance(real_features, feature_net.embed(clf_x)):.2f}",
        flush=True,
    )

    q = opacus_sampling_rate(args.rows, preset.dpsgd_batch)
    eval_cond = encoder.encode(eval_t)
    for variant in args.variants.split(","):
        timings = {}
        z_mp, z_sgd = calibrate(
            epsilon=args.epsilon,
            delta=args.delta,
            q=q,
            mp_epsilon=None if variant == "dpsgd" else args.mp_epsilon,
            steps=0 if variant == "warmup" else preset.dpsgd_steps,
        )
        ledger = Ledger()
        torch.manual_seed(args.seed)
        model = build_model(preset, encoder.dim, (32, 32, 3))
        t = time.process_time()
        if variant != "dpsgd":
            pairs = dp_mean_pairs(
                train_x,
                encode_table(train_t, schema),
                schema,
                noise_multiplier=z_mp,
                sampling_rate=1.0,
                rounds=1,
                clip_norm=preset.mean_pair_clip_norm(3),
                rng=np.random.default_rng(args.seed),
                ledger=ledger,
                resolution=preset.resolution,
                count_weight=preset.count_weight,
                min_cell_count=preset.min_cell_count,
            )
            timings["mean pairs"] = time.process_time() - t
            t = time.process_time()
            warm_up(model, pairs, encoder, preset=preset, seed=args.seed, device=device)
            timings["warm-up"] = time.process_time() - t
        if variant != "warmup":
            t = time.process_time()
            finetune_dpsgd(
                model,
                train_x,
                encoder.encode(train_t),
                noise_multiplier=z_sgd,
                sampling_rate=q,
                steps=preset.dpsgd_steps,
                max_grad_norm=preset.dpsgd_max_grad_norm,
                ledger=ledger,
                device=device,
                lr=preset.dpsgd_lr,
                seed=args.seed,
            )
            timings["DP-SGD"] = time.process_time() - t
        t = time.process_time()
        synth = sample_images(
            model,
            eval_cond,
            seed=1,
            batch_size=preset.sample_batch,
            device=device,
            temperature=preset.sample_temperature,
        )
        timings["sampling"] = time.process_time() - t
        synth_shuf = sample_images(
            model,
            eval_cond[perm],
            seed=1,
            batch_size=preset.sample_batch,
            device=device,
            temperature=preset.sample_temperature,
        )
        got, shuf = score(synth), score(synth_shuf)
        diversity = cell_std(synth, eval_t) / real_std
        print(
            f"\n== {variant}: preset {preset.name}, ε={args.epsilon:g}, δ={args.delta:g}, z_mp={z_mp:.2f}, "
            f"z_sgd={z_sgd:.2f}, q={q:.4f}; ledger entries {len(ledger.entries)}"
        )
        print(
            "   CPU seconds: "
            + ", ".join(f"{k} {v:.0f}" for k, v in timings.items())
            + f"; total {sum(timings.values()):.0f} (process CPU time over all threads)"
        )
        print(f"   {'attribute':20s} {'synth':>6s} {'shuffled':>8s} {'real':>6s} {'chance':>6s} {'normalised':>10s}")
        for n in readers:
            norm = (got[n] - shuf[n]) / max(real[n] - real_shuf[n], 1e-9)
            print(f"   {n:20s} {got[n]:6.3f} {shuf[n]:8.3f} {real[n]:6.3f} {chance[n]:6.3f} {norm:10.2f}")
        print(f"   within-cell diversity (pixel std, synthetic / real): {diversity:.2f}")
        print(
            f"   FD(synthetic, real held-out): {frechet_distance(feature_net.embed(synth), real_features):.2f}",
            flush=True,
        )
        np.save(f"/tmp/bench_readback_{preset.family}_{variant}.npy", synth[:64])


def cell_std(images: np.ndarray, table) -> float:
    """Mean per-pixel std of images within each (skin_type, diagnosis) cell of ≥ 10 rows."""
    keys = table["skin_type"].astype(str) + "|" + table["diagnosis"].astype(str)
    stds = [
        images[(keys == k).to_numpy()].astype(float).std(axis=0).mean()
        for k in keys.unique()
        if (keys == k).sum() >= 10
    ]
    return float(np.mean(stds))


if __name__ == "__main__":
    main()
