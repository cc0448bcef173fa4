"""Non-private training loops of the image model: warm-up on DP mean pairs, pre-training on public images.

Both only read data that is already public or already released under DP (the mean pairs), so they
are post-processing and spend no budget. They share one small loop: sample a minibatch, take an Adam
step on the mean per-sample loss, report progress, stop early when asked.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from dptab_core.image.encoder import RecordEncoder, encode_images
from dptab_core.image.family import RecordConditionedModel
from dptab_core.image.mean_pairs import MeanPairs, composite_pairs
from dptab_core.image.presets import ImagePreset

Progress = Callable[[float, str, int], None]


def fit(
    model: nn.Module,
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    x: np.ndarray,
    cond: np.ndarray,
    *,
    steps: int,
    batch_size: int,
    lr: float,
    seed: int,
    device: torch.device,
    label: str,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> list[float]:
    """``steps`` Adam steps of ``loss(x_batch, cond_batch).mean()`` on uniformly drawn minibatches.

    Returns the loss of each step (what the benchmarks and tests read).
    """
    model.to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    xt = torch.tensor(np.asarray(x), dtype=torch.float32)
    ct = torch.tensor(np.asarray(cond), dtype=torch.float32)
    history = []
    for step in range(steps):
        if should_stop is not None and should_stop():
            break
        idx = torch.as_tensor(rng.integers(0, len(xt), size=min(batch_size, len(xt))))
        value = loss(xt[idx].to(device), ct[idx].to(device)).mean()
        opt.zero_grad(set_to_none=True)
        value.backward()
        opt.step()
        history.append(value.item())
        if progress is not None and (step + 1) % max(1, steps // 20) == 0:
            progress((step + 1) / steps, f"{label}: step {step + 1}/{steps}, loss {history[-1]:.1f}", step + 1)
    return history


def warm_up(
    model: RecordConditionedModel,
    pairs: MeanPairs,
    encoder: RecordEncoder,
    *,
    preset: ImagePreset,
    seed: int,
    device: torch.device,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
    records: np.ndarray | None = None,
) -> list[float]:
    """Teach the decoder to draw each mean pair and each composite of them, whatever its latent.

    Post-processing of the released mean pairs: no budget is spent. The latent family takes the
    pairs as its mean map's weights instead (its :meth:`~.family.RecordConditionedModel.warm_start`; exact:
    no steps), regressed on the synthetic table's ``records`` when given.
    """
    if model.warm_start(pairs, encoder, records):
        if progress is not None:
            progress(1.0, "warm-up: the mean pairs written into the latent mean map", 0)
        return []
    comp_cond, comp_img = composite_pairs(pairs, encoder, preset.warmup_composites, np.random.default_rng(seed))
    cond = np.concatenate([pairs.conditions, comp_cond])
    targets = np.concatenate([pairs.images, comp_img])
    return fit(
        model,
        lambda t, c: model.regression_loss(t, c),
        targets,
        cond,
        steps=preset.warmup_steps,
        batch_size=preset.warmup_batch,
        lr=preset.warmup_lr,
        seed=seed,
        device=device,
        label="warm-up",
        progress=progress,
        should_stop=should_stop,
    )


def pretrain_on_public(
    model: RecordConditionedModel,
    public_images: np.ndarray,
    encoder: RecordEncoder,
    *,
    preset: ImagePreset,
    seed: int,
    device: torch.device,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
    cache_dir: Path | None = None,
) -> list[float]:
    """Train the whole VAE on public images (uint8 (n,H,W,C)) under the all-unspecified record.

    Public images say nothing about the table, so they are paired with the record that says nothing
    either: the model learns image structure (edges, textures, the latent's use) without learning a
    false link between records and images. A family with its own public pre-training (the latent
    family: its autoencoder and latent prior, :meth:`~.family.RecordConditionedModel.fit_public`) runs that instead.
    """
    history = model.fit_public(
        public_images,
        steps=preset.pretrain_steps,
        batch_size=preset.pretrain_batch,
        lr=preset.warmup_lr,
        seed=seed,
        device=device,
        progress=progress,
        should_stop=should_stop,
        cache_dir=cache_dir,
    )
    if history is not None:
        return history
    x = encode_images(public_images, preset.resolution)
    cond = np.broadcast_to(encoder.unspecified(), (len(x), encoder.dim))
    return fit(
        model,
        model,
        x,
        cond,
        steps=preset.pretrain_steps,
        batch_size=preset.pretrain_batch,
        lr=preset.warmup_lr,
        seed=seed,
        device=device,
        label="public pre-training",
        progress=progress,
        should_stop=should_stop,
    )
