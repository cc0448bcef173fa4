"""DP-SGD fine-tuning of the conditional image model with Opacus, one ledger entry per run.

Opacus draws the Poisson batches, clips each individual's gradient to ``max_grad_norm`` and adds
Gaussian noise of std ``noise_multiplier × max_grad_norm`` to every summed gradient. Opacus takes its
sampling rate as ``1 / len(data_loader)``, so the plan's ``sampling_rate`` must be ``1/m`` for an
integer ``m`` (:func:`opacus_sampling_rate` gives the rate a batch size really gets); the run checks
it rather than silently spending at a different rate.

The run is checkpointed at the end of every epoch (``m`` steps) and resumable: a second call with
the same ``checkpoint_dir`` continues from the last checkpoint. Whatever stops it (done, cancelled,
an exception), the steps actually taken in this call land in the ledger as one
``subsampled_gaussian`` entry of stage ``dpsgd``.
"""

from __future__ import annotations

import math
import secrets
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dptab_core.errors import PlanError
from dptab_core.image.encoder import encode_images
from dptab_core.privacy.ledger import Ledger

STAGE = "dpsgd"
CHECKPOINT = "dpsgd.pt"


def opacus_sampling_rate(n: int, batch_size: int) -> float:
    """The Poisson rate Opacus uses for ``n`` rows at expected ``batch_size``: ``1 / ceil(n / batch_size)``.

    >>> opacus_sampling_rate(2000, 256)
    0.125
    """
    return 1.0 / math.ceil(n / batch_size)


def opacus_batch_size(n: int, sampling_rate: float) -> int:
    """A batch size whose Opacus rate equals ``sampling_rate`` exactly (a :class:`PlanError` when none does)."""
    m = max(1, round(1.0 / sampling_rate))
    batch = math.ceil(n / m)
    if abs(opacus_sampling_rate(n, batch) - sampling_rate) > 1e-9 * sampling_rate:
        raise PlanError(f"DP-SGD sampling rate {sampling_rate:g} is not 1/m for an integer m, which Opacus needs",
                        where="budget plan, stage dpsgd",
                        hint=f"Plan with sampling_rate = opacus_sampling_rate(n, batch_size), e.g. 1/{m}.")
    return batch


class PerSampleLoss:
    """The criterion Opacus' ghost clipping wraps: the model already returns the per-sample loss."""

    reduction = "mean"

    def __call__(self, per_sample):
        return per_sample if self.reduction == "none" else per_sample.mean()


@dataclass
class FinetuneResult:
    """The fine-tuned model, the steps this call took in total so far, and Opacus' accountant of this call."""

    model: Any
    steps_done: int
    steps_this_call: int
    accountant: Any


def finetune_dpsgd(model, images: np.ndarray, conditions: np.ndarray, *, noise_multiplier: float,
                   sampling_rate: float, steps: int, max_grad_norm: float, ledger: Ledger, device,
                   lr: float, seed: int = 0, noise_seed: int | None = None, grad_sample_mode: str = "hooks",
                   progress: Callable[[float, str, int], None] | None = None, checkpoint_dir: Path | None = None,
                   should_stop: Callable[[], bool] | None = None) -> FinetuneResult:
    """Fine-tune ``model`` (a ConditionalVAE) on the sensitive pairs with DP-SGD for ``steps`` steps.

    ``images`` are uint8 (n, H, W, C) in row order, ``conditions`` the encoded records of the same
    rows. ``progress(fraction, message, steps_done)`` is called after each step, so the caller can
    show the ε spent so far (its accountant composes ``steps_done`` steps of this entry).

    ``seed`` fixes the model's own randomness (initial latents); the privacy randomness — which rows
    join each Poisson batch, and the Gaussian noise — comes from OS entropy unless ``noise_seed`` is
    given (tests and reproducible demos only). Were it drawn from ``seed``, anyone who knows the seed
    could re-run training on two neighbouring datasets and tell which produced the model.
    """
    import torch
    from opacus import PrivacyEngine
    from torch.utils.data import DataLoader, TensorDataset

    x = torch.as_tensor(encode_images(images, model.resolution))
    c = torch.as_tensor(np.asarray(conditions, dtype=np.float32))
    batch = opacus_batch_size(len(x), sampling_rate)
    steps_per_epoch = math.ceil(len(x) / batch)
    state = _load(checkpoint_dir)
    steps_before = int(state["steps_done"]) if state else 0
    if state:
        model.load_state_dict(state["model"])
    model.to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    if state:
        optimizer.load_state_dict(state["optimizer"])
    torch.manual_seed(seed + steps_before)
    privacy_seed = secrets.randbits(62) if noise_seed is None else noise_seed + steps_before
    sampling_rng = torch.Generator().manual_seed(privacy_seed)
    noise_rng = torch.Generator(device=device).manual_seed(privacy_seed + 1)
    loader = DataLoader(TensorDataset(x, c), batch_size=batch, generator=sampling_rng)
    with warnings.catch_warnings():
        # Opacus warns that secure_mode is off: the noise comes from torch's PRNG, as in every
        # non-cryptographic DP library; the report says which generator drew the noise.
        warnings.filterwarnings("ignore", message="Secure RNG turned off")
        engine = PrivacyEngine(accountant="rdp")
        engine_out = engine.make_private(
            module=model, optimizer=optimizer, data_loader=loader, noise_multiplier=noise_multiplier,
            max_grad_norm=max_grad_norm, poisson_sampling=True, grad_sample_mode=grad_sample_mode,
            noise_generator=noise_rng,
            **({"criterion": PerSampleLoss()} if "ghost" in grad_sample_mode else {}))
    criterion = engine_out[2] if "ghost" in grad_sample_mode else (lambda per_sample: per_sample.mean())
    private, dp_opt, dp_loader = engine_out[0], engine_out[1], engine_out[-1]
    done = steps_before
    try:
        while done < steps:
            for xb, cb in dp_loader:
                if done >= steps or (should_stop is not None and should_stop()):
                    break
                if len(xb) or "ghost" in grad_sample_mode:
                    loss = criterion(private(xb.to(device), cb.to(device))) if len(xb) else _empty_loss(private)
                else:  # an empty Poisson batch still runs forward, so Opacus sees (zero) per-sample gradients
                    loss = private(xb.to(device), cb.to(device)).sum()
                dp_opt.zero_grad(set_to_none=True)
                with warnings.catch_warnings():
                    # The inputs need no gradient, so torch notes the full backward hooks fire on outputs:
                    # exactly what Opacus' per-sample gradient capture needs.
                    warnings.filterwarnings("ignore", message="Full backward hook is firing")
                    loss.backward()
                dp_opt.step()
                done += 1
                if progress is not None:
                    progress(done / steps, f"DP-SGD step {done}/{steps}, loss {float(loss.detach()):.1f}", done)
            else:
                _save(checkpoint_dir, model, optimizer, done)
                continue
            break
    finally:
        taken = done - steps_before
        if taken > 0:
            ledger.record(stage=STAGE, mechanism="subsampled_gaussian", label="DP-SGD fine-tune",
                          sampling_rate=1.0 / steps_per_epoch, noise_multiplier=float(noise_multiplier),
                          steps=taken, details={"max_grad_norm": float(max_grad_norm), "expected_batch": batch,
                                                "steps_before": steps_before, "grad_sample_mode": grad_sample_mode})
        _save(checkpoint_dir, model, optimizer, done)
        private._close()
    return FinetuneResult(model=model.eval(), steps_done=done, steps_this_call=taken, accountant=engine.accountant)


def _empty_loss(private):
    """A zero loss that still touches every parameter, for the rare empty Poisson batch."""
    return sum(p.sum() * 0.0 for p in private.parameters())


def _save(checkpoint_dir: Path | None, model, optimizer, steps_done: int) -> None:
    if checkpoint_dir is None:
        return
    import torch

    checkpoint_dir = Path(checkpoint_dir)
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    tmp = checkpoint_dir / (CHECKPOINT + ".tmp")
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "steps_done": steps_done}, tmp)
    tmp.replace(checkpoint_dir / CHECKPOINT)


def _load(checkpoint_dir: Path | None) -> dict | None:
    if checkpoint_dir is None or not (Path(checkpoint_dir) / CHECKPOINT).exists():
        return None
    import torch

    return torch.load(Path(checkpoint_dir) / CHECKPOINT, weights_only=True)
