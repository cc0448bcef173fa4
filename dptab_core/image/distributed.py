"""DP-SGD fine-tuning of the image model on several processes (GPUs), one all-reduce per step.

Run one process per device with ``torchrun --nproc_per_node=N -m dptab_core.image.distributed
--job-dir DIR``, after :func:`export_inputs` has written the sensitive pairs into ``DIR``. It reads
``DIR/plan.json`` (the ``dpsgd`` stage's noise multiplier, sampling rate, steps and clip norm) and
``DIR/model_warmup.pt``, and rank 0 writes ``DIR/model_dpsgd.pt`` and one ``subsampled_gaussian``
entry of stage ``dpsgd`` to ``DIR/ledger.jsonl`` with the plan's rate, noise multiplier and the
steps taken, exactly like the single-process :func:`~dptab_core.image.dpsgd.finetune_dpsgd`.

The step runs on the model's own DP-SGD engine, as on one process (``bookkeeping`` for the CVAE,
``vmap`` for the latent family, whose inputs are the public encoder's latents, its ``prepare_inputs``),
with one all-reduce of the ranks' clipped sums; ``--engine opacus`` uses Opacus' distributed
optimizer instead. The pipeline's ``dpsgd`` stage launches this module when the spec asks for
``gpus > 1`` (:mod:`dptab_core.pipeline.distributed_stage`).

Why the privacy accounting is unchanged (the Opacus path read from opacus 1.6
``optimizers/ddpoptimizer.py``; the own engines do the same by hand, :func:`_own_step`):

* Sampling. Rank ``r`` owns the rows ``r, r+N, r+2N, …`` and keeps each of them in a step's batch
  with probability ``q`` from its own random stream (seeded with the rank), so every row is in the
  global batch independently with probability ``q``: the Poisson subsampling the ledger's
  ``subsampled_gaussian`` entry assumes, with expected global batch ``q·n``. Rows are drawn here
  rather than by Opacus' ``DistributedUniformWithReplacementSampler`` because that sampler *skips*
  a rank's empty batch, so ranks would fall out of step and the gradient all-reduce would pair
  different steps (or hang); an empty local batch is run as a zero-row forward pass instead.
* Clipping and noise. Each rank clips its own rows' gradients to ``max_grad_norm`` and sums them;
  ``DistributedDPOptimizer.add_noise`` adds ``N(0, (σ·C)²)`` on rank 0 only, then every rank divides
  by its expected batch ``q·n / N`` and the all-reduce sums and divides by ``N``. The released
  gradient is therefore ``(Σ_all rows clip(g_i) + N(0, (σC)²)) / (q·n)``: one noise draw for the
  whole global batch, the same as one process with batch ``q·n``, so ``σ`` is the plan's noise
  multiplier and not ``σ/√N`` or ``σ·√N``.
* Model. ``DifferentiallyPrivateDistributedDataParallel`` broadcasts rank 0's parameters at start
  and leaves gradient syncing to the optimizer (after clipping), so every rank takes identical steps.
  On the own engines every rank loads the same ``model_warmup.pt`` and receives the same all-reduced
  gradient, so the ranks' Adam steps are identical too.

Not done here: the per-epoch checkpoint and resume of the single-process path.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import warnings
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from dptab_core.image.dpsgd import STAGE, opacus_batch_size
from dptab_core.image.presets import ImagePreset

INPUTS_DIR = "dpsgd_inputs"
LEDGER_FILE = "ledger.jsonl"
MODEL_IN, MODEL_OUT = "model_warmup.pt", "model_dpsgd.pt"


def export_inputs(
    job_dir: Path,
    images: np.ndarray,
    conditions: np.ndarray,
    *,
    preset: ImagePreset,
    lr: float,
    seed: int | None = None,
    engine: str | None = None,
) -> Path:
    """Write what the ranks need besides the plan and warm-up model into ``job_dir/dpsgd_inputs``.

    ``seed`` makes the run reproducible (tests, demos only): without it every rank draws its Poisson
    batches and rank 0 its Gaussian noise from OS entropy, so nobody can re-run the noise.

    ``images`` are the uint8 (n, H, W, C) sensitive images, ``conditions`` the encoded records of the
    same rows (``RecordEncoder.encode``). They stay inside the job folder, next to the checkpoints.
    ``engine`` overrides the model's DP-SGD engine (see :func:`finetune_distributed`).
    """
    out = Path(job_dir) / INPUTS_DIR
    out.mkdir(parents=True, exist_ok=True)
    np.save(out / "images.npy", np.ascontiguousarray(images, dtype=np.uint8))
    np.save(out / "conditions.npy", np.asarray(conditions, dtype=np.float32))
    fields = {k: v for k, v in asdict(preset).items() if k != "reasons"}
    (out / "run.json").write_text(
        json.dumps({"preset": fields, "lr": float(lr), "seed": seed, "engine": engine}, indent=2), encoding="utf-8"
    )
    return out


def make_private_distributed(
    model, optimizer, n_rows: int, *, noise_multiplier: float, sampling_rate: float, max_grad_norm: float
):
    """Wrap ``model`` (its forward returns per-sample losses) for DP-SGD across the process group.

    Returns ``(private_module, dp_optimizer)``: Opacus' per-sample-gradient module around a
    :class:`~opacus.distributed.DifferentiallyPrivateDistributedDataParallel`, and its
    ``DistributedDPOptimizer`` scaled for an expected global batch of ``sampling_rate · n_rows``
    (the same ``int(n / m)`` the single-process path gets). The caller draws the batches.
    """
    import torch
    from opacus import PrivacyEngine
    from opacus.distributed import DifferentiallyPrivateDistributedDataParallel as DPDDP
    from torch.utils.data import DataLoader, TensorDataset

    batch = opacus_batch_size(n_rows, sampling_rate)
    # Only the loader's length (1/q) and dataset size reach Opacus: they set the accountant's rate and
    # the optimizer's expected batch. Sampling is done by the caller (see the module docstring).
    shape_only = DataLoader(TensorDataset(torch.zeros(n_rows, 1)), batch_size=batch)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Secure RNG turned off")
        engine = PrivacyEngine(accountant="rdp")
        private, dp_opt, _ = engine.make_private(
            module=DPDDP(model),
            optimizer=optimizer,
            data_loader=shape_only,
            noise_multiplier=noise_multiplier,
            max_grad_norm=max_grad_norm,
            poisson_sampling=False,
        )
    return private, dp_opt


def poisson_shard_batch(n_rows: int, *, rank: int, world_size: int, sampling_rate: float, generator) -> Any:
    """Indices of this rank's rows (``rank::world_size``) kept by independent Bernoulli(q) draws."""
    import torch

    shard = torch.arange(rank, n_rows, world_size)
    return shard[torch.rand(len(shard), generator=generator) < sampling_rate]


def rank_generators(seed: int | None, rank: int):
    """This rank's (sampling generator, torch seed): distinct per rank, so the ranks' draws are independent.

    The same stream on every rank would include row ``r`` of one shard exactly when it includes row
    ``r`` of the other. The torch seed drives the VAE's latent draws and, on rank 0, Opacus' noise.
    """
    import torch

    if seed is None:  # a real release: fresh OS entropy on every rank
        return torch.Generator().manual_seed(secrets.randbits(62)), secrets.randbits(62)
    return torch.Generator().manual_seed(seed * 1_000_003 + 7919 * (rank + 1)), seed * 1_000_003 + rank


def finetune_distributed(job_dir: Path, *, backend: str | None = None, engine: str | None = None) -> int:
    """One rank's share of the DP-SGD fine-tune (run under ``torchrun``); returns the steps taken.

    ``engine`` is one of :data:`~dptab_core.image.dpsgd.ENGINES` (default: the model's
    ``dpsgd_engine``, else :data:`~dptab_core.image.dpsgd.DEFAULT_ENGINE`, as on one process). The
    own engines (``bookkeeping``, ``vmap``) clip each rank's rows, sum across ranks with one
    all-reduce, and rank 0 adds the noise before it (:func:`_own_step`); ``opacus`` runs Opacus'
    distributed optimizer (:func:`make_private_distributed`). Rank 0 writes ``progress.json``
    (steps done) after each step, so the job that launched the ranks can show progress.
    """
    import torch
    import torch.distributed as dist

    from dptab_core.image.dpsgd import DEFAULT_ENGINE, ENGINES
    from dptab_core.image.models import build_model
    from dptab_core.privacy.ledger import Ledger

    job_dir = Path(job_dir)
    cuda = torch.cuda.is_available() and backend != "gloo"
    dist.init_process_group(backend=backend or ("nccl" if cuda else "gloo"))
    rank, world = dist.get_rank(), dist.get_world_size()
    device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0))) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    params = json.loads((job_dir / "plan.json").read_text(encoding="utf-8"))["stages"][STAGE]["params"]
    inputs = job_dir / INPUTS_DIR
    run = json.loads((inputs / "run.json").read_text(encoding="utf-8"))
    preset = ImagePreset(**run["preset"])
    images, conditions = np.load(inputs / "images.npy"), np.load(inputs / "conditions.npy")
    model = build_model(preset, conditions.shape[1], tuple(images.shape[1:]))
    model.load_state_dict(torch.load(job_dir / MODEL_IN, map_location="cpu", weights_only=True))
    model.to(device).train()
    engine = engine or run.get("engine") or model.dpsgd_engine or DEFAULT_ENGINE
    if engine not in ENGINES:
        raise ValueError(f"unknown DP-SGD engine {engine!r}; pick one of {', '.join(ENGINES)}")
    x = torch.as_tensor(model.prepare_inputs(images)).to(device)  # pixels, or the latent family's latents
    c = torch.as_tensor(conditions).to(device)
    model.zero_grad(set_to_none=True)
    optimizer = torch.optim.Adam(
        model.dpsgd_param_groups(run["lr"]), lr=run["lr"]
    )  # the latent family's faster log-std
    q, sigma, clip = float(params["sampling_rate"]), float(params["noise_multiplier"]), float(params["max_grad_norm"])
    steps = int(params["steps"])
    sampler, torch_seed = rank_generators(run["seed"], rank)
    torch.manual_seed(torch_seed)
    if engine == "opacus":
        private, dp_opt = make_private_distributed(
            model, optimizer, len(x), noise_multiplier=sigma, sampling_rate=q, max_grad_norm=clip
        )
    else:
        noise = torch.Generator(device=device).manual_seed(torch_seed + 1) if rank == 0 else None
    done = 0
    launcher = os.getppid()  # torchrun's agent: if it is killed, the ranks stop instead of running on orphaned
    try:
        while done < steps and os.getppid() == launcher:
            idx = poisson_shard_batch(len(x), rank=rank, world_size=world, sampling_rate=q, generator=sampler)
            idx = idx.to(device)
            if engine == "opacus":
                dp_opt.zero_grad(set_to_none=True)
                with warnings.catch_warnings():
                    warnings.filterwarnings("ignore", message="Full backward hook is firing")
                    # A zero-row batch still runs forward/backward so that every rank joins the all-reduce.
                    per_sample = private(x[idx], c[idx])
                    (per_sample.sum() / max(len(idx), 1)).backward()
                dp_opt.step()
            else:
                _own_step(
                    model,
                    optimizer,
                    x[idx],
                    c[idx],
                    engine=engine,
                    noise_multiplier=sigma,
                    max_grad_norm=clip,
                    expected_batch=_expected_batch(len(x), q),
                    noise_generator=noise,
                )
            done += 1
            if rank == 0:
                _write_progress(job_dir, done, steps)
    finally:
        if rank == 0 and done > 0:
            torch.save(model.state_dict(), job_dir / MODEL_OUT)
            Ledger.load(job_dir / LEDGER_FILE).record(
                stage=STAGE,
                mechanism="subsampled_gaussian",
                label="DP-SGD fine-tune (distributed)",
                sampling_rate=q,
                noise_multiplier=sigma,
                steps=done,
                details={
                    "max_grad_norm": clip,
                    "expected_batch": opacus_batch_size(len(x), q),
                    "world_size": world,
                    "backend": dist.get_backend(),
                    "engine": engine,
                },
            )
        dist.destroy_process_group()
    return done


PROGRESS_FILE = "progress.json"


def _expected_batch(n_rows: int, sampling_rate: float) -> int:
    """The divisor of the summed gradient: Opacus' ``int(n · q)``, as the single-process own engines use."""
    return max(1, int(n_rows * sampling_rate))


def _own_step(
    model,
    optimizer,
    x,
    c,
    *,
    engine: str,
    noise_multiplier: float,
    max_grad_norm: float,
    expected_batch: int,
    noise_generator,
) -> None:
    """One DP-SGD step across the process group with an own per-sample engine.

    Each rank sums its rows' clipped gradients (zero for an empty local batch, which still joins the
    all-reduce); rank 0 alone (``noise_generator`` set) adds ``N(0, (σC)²)``; the all-reduce sums the
    ranks, so every rank gets ``(Σ_all rows clip(g_i) + one noise draw) / expected_batch`` and takes
    the same Adam step from the same parameters.
    """
    import torch
    import torch.distributed as dist

    from dptab_core.image import per_sample
    from dptab_core.image.dpsgd import noisy_mean_gradient

    clipped_sum = (
        per_sample.clipped_grad_sum_bookkeeping if engine == "bookkeeping" else per_sample.clipped_grad_sum_vmap
    )
    params = list(model.parameters())
    grads = clipped_sum(model, x, c, max_grad_norm=max_grad_norm)[0] if len(x) else [None] * len(params)
    for p, g in zip(params, grads, strict=True):
        if not p.requires_grad:
            continue
        summed = (g if g is not None else torch.zeros_like(p)).detach().clone()
        if noise_generator is not None:
            summed = noisy_mean_gradient(
                summed,
                noise_multiplier=noise_multiplier,
                max_grad_norm=max_grad_norm,
                expected_batch=1.0,
                generator=noise_generator,
            )
        dist.all_reduce(summed, op=dist.ReduceOp.SUM)
        p.grad = summed / expected_batch
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def _write_progress(job_dir: Path, done: int, steps: int) -> None:
    tmp = job_dir / (PROGRESS_FILE + ".tmp")
    tmp.write_text(json.dumps({"steps_done": done, "steps": steps}), encoding="utf-8")
    tmp.replace(job_dir / PROGRESS_FILE)


def read_progress(job_dir: Path) -> int:
    """Steps rank 0 has finished so far (0 before the first)."""
    try:
        return int(json.loads((Path(job_dir) / PROGRESS_FILE).read_text(encoding="utf-8"))["steps_done"])
    except (OSError, ValueError, KeyError):
        return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``torchrun --nproc_per_node=N -m dptab_core.image.distributed --job-dir DIR [--backend gloo]``."""
    parser = argparse.ArgumentParser(prog="python -m dptab_core.image.distributed", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--job-dir",
        type=Path,
        required=True,
        help="folder with plan.json, model_warmup.pt and dpsgd_inputs/ (see export_inputs)",
    )
    parser.add_argument(
        "--backend",
        choices=("nccl", "gloo"),
        default=None,
        help="torch.distributed backend (default: nccl when CUDA is available, else gloo)",
    )
    parser.add_argument(
        "--engine",
        choices=("bookkeeping", "vmap", "opacus"),
        default=None,
        help="DP-SGD engine (default: the model's, as on one process)",
    )
    args = parser.parse_args(argv)
    if "RANK" not in os.environ:
        print(
            "error: run this under torchrun, e.g. torchrun --nproc_per_node=2 -m dptab_core.image.distributed "
            f"--job-dir {args.job_dir}",
            file=sys.stderr,
        )
        return 2
    needed = [
        args.job_dir / "plan.json",
        args.job_dir / MODEL_IN,
        *(args.job_dir / INPUTS_DIR / name for name in ("images.npy", "conditions.npy", "run.json")),
    ]
    missing = [str(path) for path in needed if not path.exists()]
    if missing:
        print(
            f"error: {', '.join(missing)} not found. Run the pipeline up to the warm-up stage and call "
            "dptab_core.image.distributed.export_inputs for this job folder first.",
            file=sys.stderr,
        )
        return 2
    finetune_distributed(args.job_dir, backend=args.backend, engine=args.engine)
    return 0


if __name__ == "__main__":
    sys.exit(main())
