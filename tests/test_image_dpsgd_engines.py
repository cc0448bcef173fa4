"""The own DP-SGD engines compute what Opacus computes: the same clipped sum, noise, batches and steps."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest
import torch
from torch import nn  # noqa: E402

from dptab_core.image import per_sample  # noqa: E402
from dptab_core.image.dpsgd import finetune_dpsgd, noisy_mean_gradient  # noqa: E402
from dptab_core.image.models import build_model  # noqa: E402
from dptab_core.image.presets import get_preset  # noqa: E402
from dptab_core.privacy.ledger import Ledger  # noqa: E402

TINY = dataclasses.replace(get_preset("quick", has_public=False), resolution=8, width=8, latent_dim=4)
ENGINES = {"bookkeeping": per_sample.clipped_grad_sum_bookkeeping, "vmap": per_sample.clipped_grad_sum_vmap}


class TinyDenoiser(nn.Module):
    """A diffusion-style per-sample loss: timesteps and noise drawn inside forward, an x-independent
    timestep embedding, and a layer with its own parameter that only the generic rule handles."""

    def __init__(self) -> None:
        super().__init__()
        self.time = nn.Linear(4, 6)
        self.conv = nn.Conv2d(3, 6, 3, padding=1)
        self.norm = nn.GroupNorm(2, 6)
        self.gain = _Gain(6)
        self.out = nn.Conv2d(6, 3, 3, padding=1)
        self.cond = nn.Linear(5, 6)

    def forward(self, x, cond):
        t = torch.rand(x.shape[0], 1, device=x.device)
        noise = torch.randn_like(x)
        emb = self.time(torch.cat([t, t.square(), t.sin(), t.cos()], dim=1)) + self.cond(cond)
        h = self.gain(self.norm(self.conv(x + t[:, :, None, None] * noise)) + emb[:, :, None, None])
        return (self.out(torch.tanh(h)) - noise).square().flatten(1).sum(1)


class _Gain(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.linspace(0.5, 1.5, channels))

    def forward(self, h):
        return h * self.scale[:, None, None]


def _opacus_clipped_sum(model, x, c, *, seed: int, clip: float | None = None):
    """Opacus' clipped per-sample sum (hooks, noise 0) and the clip norm used (median norm when not given)."""
    from opacus import GradSampleModule
    from opacus.optimizers import DPOptimizer

    gsm = GradSampleModule(copy.deepcopy(model))
    torch.manual_seed(seed)
    gsm(x, c).mean().backward()
    if clip is None:
        norms = torch.stack([p.grad_sample.flatten(1).norm(dim=1) for p in gsm.parameters()], 1).norm(dim=1)
        clip = float(norms.median())
    opt = DPOptimizer(
        torch.optim.SGD(gsm.parameters(), lr=1.0), noise_multiplier=0.0, max_grad_norm=clip, expected_batch_size=len(x)
    )
    opt.clip_and_accumulate()
    return [p.summed_grad for p in gsm.parameters()], clip


@pytest.mark.filterwarnings("ignore:Full backward hook is firing")
@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_the_clipped_summed_gradient_equals_opacus(engine, one_torch_thread):
    torch.manual_seed(0)
    model = build_model(TINY, 5, (8, 8, 3))
    x, c = torch.rand(12, 3, 8, 8) * 2 - 1, torch.rand(12, 5)
    theirs, clip = _opacus_clipped_sum(model, x, c, seed=3)
    torch.manual_seed(3)
    ours, _ = ENGINES[engine](model, x, c, max_grad_norm=clip)
    for (name, _), a, b in zip(model.named_parameters(), ours, theirs, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=lambda m, n=name: f"{engine}, {n}: {m}")


def test_both_engines_agree_on_a_model_drawing_its_own_timesteps_and_noise(one_torch_thread):
    torch.manual_seed(0)
    model = TinyDenoiser()
    x, c = torch.rand(10, 3, 8, 8) * 2 - 1, torch.rand(10, 5)
    torch.manual_seed(4)
    book, book_losses = per_sample.clipped_grad_sum_bookkeeping(model, x, c, max_grad_norm=2.0)
    torch.manual_seed(4)
    func, func_losses = per_sample.clipped_grad_sum_vmap(model, x, c, max_grad_norm=2.0)
    torch.testing.assert_close(book_losses, func_losses, msg="the two engines drew different randomness")
    for (name, _), a, b in zip(model.named_parameters(), book, func, strict=True):
        assert a is not None and a.abs().sum() > 0, f"{name} got no gradient from the book-keeping engine"
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6, msg=lambda m, n=name: f"{n}: {m}")


def test_every_clipped_gradient_is_at_most_the_clip_norm(one_torch_thread):
    torch.manual_seed(0)
    model = TinyDenoiser()
    x, c = torch.rand(1, 3, 8, 8) * 2 - 1, torch.rand(1, 5)
    grads, _ = per_sample.clipped_grad_sum_bookkeeping(model, x * 50, c, max_grad_norm=0.1)
    norm = torch.cat([g.flatten() for g in grads]).norm()
    assert norm <= 0.1 * (1 + 1e-5), f"one individual's clipped gradient has norm {norm:.4f} > 0.1"


def test_the_noise_std_is_sigma_times_clip_over_the_expected_batch():
    generator = torch.Generator().manual_seed(0)
    noisy = noisy_mean_gradient(
        torch.zeros(200_000), noise_multiplier=1.3, max_grad_norm=0.7, expected_batch=50, generator=generator
    )
    assert float(noisy.std()) == pytest.approx(1.3 * 0.7 / 50, rel=0.01), "noise std is not σ·C / expected batch"
    assert abs(float(noisy.mean())) < 3 * 1.3 * 0.7 / 50 / 200_000**0.5, "noise is not centred"


@pytest.mark.slow
def test_the_same_noise_seed_makes_the_bookkeeping_engine_take_opacus_steps(one_torch_thread):
    """Same Poisson batches (empty ones included), same clipping, same noise: the same model."""
    rng = np.random.default_rng(0)
    images, conditions = rng.integers(0, 256, (16, 8, 8, 3), dtype=np.uint8), rng.random((16, 5)).astype(np.float32)
    trained = {}
    for engine in ("opacus", "bookkeeping"):
        torch.manual_seed(0)
        model = build_model(TINY, 5, (8, 8, 3))
        finetune_dpsgd(
            model,
            images,
            conditions,
            noise_multiplier=0.8,
            sampling_rate=1 / 8,
            steps=6,
            max_grad_norm=1.0,
            ledger=Ledger(),
            device=torch.device("cpu"),
            lr=1e-2,
            seed=0,
            noise_seed=11,
            engine=engine,
        )
        trained[engine] = torch.cat([p.detach().flatten() for p in model.parameters()])
    torch.testing.assert_close(
        trained["bookkeeping"],
        trained["opacus"],
        rtol=1e-4,
        atol=1e-5,
        msg=lambda m: f"engines diverged under the same noise seed: {m}",
    )


def test_an_unknown_engine_is_refused():
    with pytest.raises(ValueError, match="bookkeeping"):
        finetune_dpsgd(
            build_model(TINY, 5, (8, 8, 3)),
            np.zeros((4, 8, 8, 3), np.uint8),
            np.zeros((4, 5)),
            noise_multiplier=1.0,
            sampling_rate=0.5,
            steps=1,
            max_grad_norm=1.0,
            ledger=Ledger(),
            device=torch.device("cpu"),
            lr=1e-3,
            engine="fast",
        )
