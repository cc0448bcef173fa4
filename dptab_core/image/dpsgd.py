"""DP-SGD fine-tuning of the conditional image model, one ledger entry per run.

Each step draws a Poisson batch (every row independently with probability ``sampling_rate``), clips
each individual's gradient to ``max_grad_norm``, adds Gaussian noise of std ``noise_multiplier ×
max_grad_norm`` to the sum and divides by the expected batch. Three engines compute that step:

* ``"bookkeeping"`` (default): per-sample norms from one ordinary backward pass, then the clipped
  sum as one weighted weight gradient (:mod:`dptab_core.image.per_sample`); the fastest measured:
  1.5x a non-private step on ``quick``, 1.3x on ``standard`` (Opacus 2.8-3.8x; benchmarks/README.md);
* ``"vmap"``: ``torch.func`` per-sample gradients of the whole model (general, slower on convs);
* ``"opacus"``: Opacus' ``PrivacyEngine`` with ``grad_sample_mode`` (``hooks``, ``functorch``, ``ghost``).

The own engines draw the batches and the noise exactly as Opacus does (a Bernoulli mask from
``torch.rand(n)`` on the sampling generator, then ``torch.normal`` per parameter in
``model.parameters()`` order on the noise generator, divided by Opacus' ``int(n · q)``), so with the
same ``noise_seed`` every engine takes the same steps; the accountant returned is Opacus' RDP
accountant in every case. Opacus takes its sampling rate as ``1 / len(data_loader)``, so the plan's
``sampling_rate`` must be ``1/m`` for an integer ``m`` (:func:`opacus_sampling_rate` gives the rate a
batch size really gets); the run checks it rather than silently spending at a different rate.

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
from typing import TYPE_CHECKING, Any

import numpy as np

from dptab_core.errors import PlanError
from dptab_core.privacy.ledger import Ledger

if TYPE_CHECKING:
    from dptab_core.image.family import DPSGDModel

STAGE = "dpsgd"
CHECKPOINT = "dpsgd.pt"
ENGINES = ("bookkeeping", "vmap", "opacus")
DEFAULT_ENGINE = "bookkeeping"
"""Chosen by the measured DP-SGD / non-private step-time ratio (benchmarks/bench_dpsgd.py)."""


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
        raise PlanError(
            f"DP-SGD sampling rate {sampling_rate:g} is not 1/m for an integer m, which Opacus needs",
            where="budget plan, stage dpsgd",
            hint=f"Plan with sampling_rate = opacus_sampling_rate(n, batch_size), e.g. 1/{m}.",
        )
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


def finetune_dpsgd(
    model: DPSGDModel,
    images: np.ndarray,
    conditions: np.ndarray,
    *,
    noise_multiplier: float,
    sampling_rate: float,
    steps: int,
    max_grad_norm: float,
    ledger: Ledger,
    device,
    lr: float,
    seed: int = 0,
    noise_seed: int | None = None,
    engine: str | None = None,
    grad_sample_mode: str = "hooks",
    progress: Callable[[float, str, int], None] | None = None,
    checkpoint_dir: Path | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> FinetuneResult:
    """Fine-tune ``model`` (its ``forward(x, cond)`` returns per-sample losses) with DP-SGD for ``steps`` steps.

    ``images`` are uint8 (n, H, W, C) in row order, ``conditions`` the encoded records of the same
    rows. ``progress(fraction, message, steps_done)`` is called after each step, so the caller can
    show the ε spent so far (its accountant composes ``steps_done`` steps of this entry).
    ``engine`` is one of :data:`ENGINES` (default: the model's ``dpsgd_engine`` if it names one, else
    :data:`DEFAULT_ENGINE`); ``grad_sample_mode`` is Opacus' and only used by ``"opacus"``. The model's
    inputs are its :meth:`~dptab_core.image.family.DPSGDModel.prepare_inputs` of ``images`` (pixels, or
    latents for the latent family), its Adam groups its ``dpsgd_param_groups``.

    ``seed`` fixes the model's own randomness (initial latents); the privacy randomness — which rows
    join each Poisson batch, and the Gaussian noise — comes from OS entropy unless ``noise_seed`` is
    given (tests and reproducible demos only). Were it drawn from ``seed``, anyone who knows the seed
    could re-run training on two neighbouring datasets and tell which produced the model.
    """
    import torch

    engine = engine or model.dpsgd_engine or DEFAULT_ENGINE
    if engine not in ENGINES:
        raise ValueError(f"unknown DP-SGD engine {engine!r}; pick one of {', '.join(ENGINES)}")
    with model.dpsgd_session():  # e.g. the latent decoder: trainable only while its own steps run
        x = torch.as_tensor(model.prepare_inputs(images))
        c = torch.as_tensor(np.asarray(conditions, dtype=np.float32))
        batch = opacus_batch_size(len(x), sampling_rate)
        steps_per_epoch = math.ceil(len(x) / batch)
        state = _load(checkpoint_dir)
        steps_before = int(state["steps_done"]) if state else 0
        if state:
            model.load_state_dict(state["model"])
        model.to(device).train()
        model.zero_grad(set_to_none=True)  # a gradient left by earlier (public) training must not leak into step 1
        groups = model.dpsgd_param_groups(lr)
        optimizer = torch.optim.Adam(groups, lr=lr)
        if state:
            optimizer.load_state_dict(state["optimizer"])
        torch.manual_seed(seed + steps_before)
        privacy_seed = secrets.randbits(62) if noise_seed is None else noise_seed + steps_before
        sampling_rng = torch.Generator().manual_seed(privacy_seed)
        noise_rng = torch.Generator(device=device).manual_seed(privacy_seed + 1)
        run = _Run(
            model,
            optimizer,
            x,
            c,
            batch,
            steps_per_epoch,
            steps_before,
            steps,
            noise_multiplier,
            max_grad_norm,
            sampling_rng,
            noise_rng,
            device,
            checkpoint_dir,
            progress,
            should_stop,
        )
        mode = grad_sample_mode if engine == "opacus" else engine
        try:
            accountant = _train_opacus(run, grad_sample_mode) if engine == "opacus" else _train_own(run, engine)
        finally:
            taken = run.done - steps_before
            if taken > 0:
                ledger.record(
                    stage=STAGE,
                    mechanism="subsampled_gaussian",
                    label=f"DP-SGD fine-tune ({model.dpsgd_label})",
                    sampling_rate=1.0 / steps_per_epoch,
                    noise_multiplier=float(noise_multiplier),
                    steps=taken,
                    details={
                        "max_grad_norm": float(max_grad_norm),
                        "expected_batch": batch,
                        "steps_before": steps_before,
                        "engine": mode,
                        "model": type(model).__name__,
                    },
                )
            _save(checkpoint_dir, model, optimizer, run.done)
    return FinetuneResult(model=model.eval(), steps_done=run.done, steps_this_call=taken, accountant=accountant)


@dataclass
class _Run:
    """What every engine's loop needs; ``done`` counts the steps taken so far (including earlier calls)."""

    model: Any
    optimizer: Any
    x: Any
    c: Any
    batch: int
    steps_per_epoch: int
    steps_before: int
    steps: int
    noise_multiplier: float
    max_grad_norm: float
    sampling_rng: Any
    noise_rng: Any
    device: Any
    checkpoint_dir: Path | None
    progress: Callable[[float, str, int], None] | None
    should_stop: Callable[[], bool] | None
    done: int = 0

    def __post_init__(self) -> None:
        self.done = self.steps_before

    def stopping(self) -> bool:
        return self.done >= self.steps or (self.should_stop is not None and self.should_stop())

    def stepped(self, loss: float) -> None:
        self.done += 1
        if self.progress is not None:
            # The loss is computed on the real batch without noise: the data owner's view, not private.
            self.progress(
                self.done / self.steps, f"DP-SGD step {self.done}/{self.steps}, {LOSS_LABEL} {loss:.1f}", self.done
            )


LOSS_LABEL = "training loss (not private, owner only)"
"""How progress messages name the DP-SGD loss: it reads the real batch with no noise added."""


def noisy_mean_gradient(summed, *, noise_multiplier: float, max_grad_norm: float, expected_batch: float, generator):
    """``(summed + N(0, (σ·C)²)) / expected_batch``: Opacus' noise draw and its ``mean`` scaling."""
    import torch

    std = noise_multiplier * max_grad_norm
    noise = torch.normal(0.0, std, summed.shape, generator=generator, device=summed.device) if std else 0.0
    return (summed + noise) / expected_batch


def _train_own(run: _Run, engine: str):
    """DP-SGD with the per-sample engines of :mod:`dptab_core.image.per_sample`; returns Opacus' RDP accountant."""
    import torch
    from opacus.accountants import RDPAccountant

    from dptab_core.image import per_sample

    clipped_sum = (
        per_sample.clipped_grad_sum_bookkeeping if engine == "bookkeeping" else per_sample.clipped_grad_sum_vmap
    )
    accountant = RDPAccountant()
    q, n = 1.0 / run.steps_per_epoch, len(run.x)
    expected = int(n * q)  # Opacus' expected batch size (make_private)
    x, c = run.x.to(run.device), run.c.to(run.device)
    params = list(run.model.parameters())
    while not run.stopping():
        if (run.done - run.steps_before) % run.steps_per_epoch == 0:
            # Opacus' DataLoader draws its workers' base seed from the generator at every epoch:
            # drawing it too keeps a seeded run's batches identical across engines.
            torch.empty((), dtype=torch.int64).random_(generator=run.sampling_rng)
        rows = (torch.rand(n, generator=run.sampling_rng) < q).nonzero().reshape(-1).to(run.device)
        if len(rows):
            grads, losses = clipped_sum(run.model, x[rows], c[rows], max_grad_norm=run.max_grad_norm)
        else:  # an empty Poisson batch: the step is pure noise, and still accounted
            grads, losses = [None] * len(params), torch.zeros(1)
        for p, g in zip(params, grads, strict=True):
            if p.requires_grad:
                p.grad = noisy_mean_gradient(
                    g if g is not None else torch.zeros_like(p),
                    noise_multiplier=run.noise_multiplier,
                    max_grad_norm=run.max_grad_norm,
                    expected_batch=expected,
                    generator=run.noise_rng,
                )
        run.optimizer.step()
        run.optimizer.zero_grad(set_to_none=True)
        accountant.step(noise_multiplier=run.noise_multiplier, sample_rate=q)
        run.stepped(float(losses.mean()))
        if (run.done - run.steps_before) % run.steps_per_epoch == 0:
            _save(run.checkpoint_dir, run.model, run.optimizer, run.done)
    return accountant


def _train_opacus(run: _Run, grad_sample_mode: str):
    """DP-SGD with Opacus' ``PrivacyEngine`` (``grad_sample_mode`` hooks, functorch, ghost, …)."""
    from opacus import PrivacyEngine
    from torch.utils.data import DataLoader, TensorDataset

    device = run.device
    loader = DataLoader(TensorDataset(run.x, run.c), batch_size=run.batch, generator=run.sampling_rng)
    with warnings.catch_warnings():
        # Opacus warns that secure_mode is off: the noise comes from torch's PRNG, as in every
        # non-cryptographic DP library; the report says which generator drew the noise.
        warnings.filterwarnings("ignore", message="Secure RNG turned off")
        engine = PrivacyEngine(accountant="rdp")
        engine_out = engine.make_private(
            module=run.model,
            optimizer=run.optimizer,
            data_loader=loader,
            noise_multiplier=run.noise_multiplier,
            max_grad_norm=run.max_grad_norm,
            poisson_sampling=True,
            grad_sample_mode=grad_sample_mode,
            noise_generator=run.noise_rng,
            **({"criterion": PerSampleLoss()} if "ghost" in grad_sample_mode else {}),
        )
    ghost = "ghost" in grad_sample_mode
    criterion = engine_out[2] if ghost else (lambda per_sample: per_sample.mean())
    private, dp_opt, dp_loader = engine_out[0], engine_out[1], engine_out[-1]
    try:
        while not run.stopping():
            for xb, cb in dp_loader:
                if run.stopping():
                    break
                if len(xb) or ghost:
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
                run.stepped(float(loss.detach()))
            else:
                _save(run.checkpoint_dir, run.model, run.optimizer, run.done)
                continue
            break
    finally:
        private._close()
    return engine.accountant


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
