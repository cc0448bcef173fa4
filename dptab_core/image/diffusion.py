"""The conditional diffusion family: a small UNet that denoises images given (record vector, noise level).

Why it exists next to the conditional VAE: diffusion models are what the seed papers (DPDM,
PrivImage, DP-TabImage's GPU runs) train with DP-SGD, and they keep per-sample diversity that a
VAE decoder blurs away. On a CPU budget they pay for it twice — a training signal spread over all
noise levels and several network passes per sample — so which family each preset uses is decided by
measurement (benchmarks/README.md, "Model family").

The model implements the image family interface (:class:`~dptab_core.image.family.RecordConditionedModel`)
as the conditional VAE does, so warm-up, public pre-training, DP-SGD and sampling need no family switch:

* ``forward(x, cond)`` — per-sample denoising loss at a random noise level (noise drawn inside);
* ``regression_loss(target, cond)`` — the same loss with a DP mean image as the data (warm-up);
* ``generate(cond, *, temperature, generator)`` — images in [-1, 1] at the dataset size.

Method: variance-preserving cosine schedule in continuous time (``x_t = cos(πt/2)·x + sin(πt/2)·ε``),
v-prediction (well defined at both ends, so few deterministic DDIM steps stay stable), the record
vector embedded and added to the time embedding, which every residual block applies as FiLM
(scale, shift after its GroupNorm). Records are dropped to the all-zero vector with probability
``cond_dropout`` during training so that sampling can use classifier-free guidance. Every layer is
Linear, Conv2d, GroupNorm or parameter-free: ``ModuleValidator.validate`` returns ``[]``.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from dptab_core.image.family import RecordConditionedModel, _groups
from dptab_core.image.presets import ImagePreset


def _alpha_sigma(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Signal and noise scales of the cosine schedule at times ``t`` in [0, 1] (α² + σ² = 1)."""
    return torch.cos(0.5 * math.pi * t), torch.sin(0.5 * math.pi * t)


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal features of ``t`` (shape (B,)) scaled to 0..1000, ``dim`` columns.

    >>> timestep_embedding(torch.tensor([0.0, 1.0]), 8).shape
    torch.Size([2, 8])
    """
    half = dim // 2
    freqs = torch.exp(-math.log(10_000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = 1000.0 * t[:, None].float() * freqs[None]
    return torch.cat([torch.sin(args), torch.cos(args)], dim=1)


class ResBlock(nn.Module):
    """GroupNorm → SiLU → conv, then FiLM from the (time + record) embedding, GroupNorm → SiLU → conv, residual."""

    def __init__(self, c_in: int, c_out: int, emb_dim: int) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(_groups(c_in), c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.film = nn.Linear(emb_dim, 2 * c_out)
        self.norm2 = nn.GroupNorm(_groups(c_out), c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        scale, shift = self.film(F.silu(emb))[:, :, None, None].chunk(2, dim=1)
        h = self.norm2(h) * (1.0 + scale) + shift
        return self.skip(x) + self.conv2(F.silu(h))


class SelfAttention(nn.Module):
    """Single-head spatial self-attention from 1×1 convolutions (Opacus computes their per-sample gradients)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(_groups(channels), channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.proj = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).flatten(2).chunk(3, dim=1)
        attn = torch.softmax(torch.einsum("bci,bcj->bij", q, k) / math.sqrt(c), dim=-1)
        return x + self.proj(torch.einsum("bij,bcj->bci", attn, v).reshape(b, c, h, w))


class UNet(nn.Module):
    """(noisy image, time, record) → v prediction; ``len(channel_mult)`` resolutions, skip connections."""

    def __init__(
        self,
        *,
        channels: int,
        cond_dim: int,
        width: int,
        channel_mult: tuple[int, ...],
        blocks: int,
        resolution: int,
        attention_resolution: int,
    ) -> None:
        super().__init__()
        if resolution % 2 ** (len(channel_mult) - 1):
            raise ValueError(f"resolution {resolution} cannot be halved {len(channel_mult) - 1} times")
        emb = 4 * width
        self.width = width
        self.time_mlp = nn.Sequential(nn.Linear(width, emb), nn.SiLU(), nn.Linear(emb, emb))
        self.cond_mlp = nn.Sequential(nn.Linear(cond_dim, emb), nn.SiLU(), nn.Linear(emb, emb))
        self.stem = nn.Conv2d(channels, width, 3, padding=1)
        self.down = nn.ModuleList()
        skips, ch, res = [width], width, resolution
        for level, mult in enumerate(channel_mult):
            for _ in range(blocks):
                self.down.append(ResBlock(ch, width * mult, emb))
                ch = width * mult
                if res == attention_resolution:
                    self.down.append(SelfAttention(ch))
                skips.append(ch)
            if level < len(channel_mult) - 1:
                self.down.append(nn.Conv2d(ch, ch, 3, stride=2, padding=1))
                res //= 2
                skips.append(ch)
        self.mid = nn.ModuleList(
            [ResBlock(ch, ch, emb), SelfAttention(ch) if attention_resolution else nn.Identity(), ResBlock(ch, ch, emb)]
        )
        self.up = nn.ModuleList()
        for level, mult in reversed(list(enumerate(channel_mult))):
            for _ in range(blocks + 1):
                self.up.append(ResBlock(ch + skips.pop(), width * mult, emb))
                ch = width * mult
                if res == attention_resolution:
                    self.up.append(SelfAttention(ch))
            if level > 0:
                self.up.append(nn.Sequential(nn.Upsample(scale_factor=2.0), nn.Conv2d(ch, ch, 3, padding=1)))
                res *= 2
        self.out = nn.Sequential(nn.GroupNorm(_groups(ch), ch), nn.SiLU(), nn.Conv2d(ch, channels, 3, padding=1))

    def forward(self, x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        emb = self.time_mlp(timestep_embedding(t, self.width)) + self.cond_mlp(cond)
        h = self.stem(x)
        hs = [h]
        for layer in self.down:
            if isinstance(layer, ResBlock):
                h = layer(h, emb)
                hs.append(h)
            elif isinstance(layer, SelfAttention):
                h = layer(h, emb)
                hs[-1] = h
            else:  # a stride-2 downsampling conv
                h = layer(h)
                hs.append(h)
        for layer in self.mid:
            h = layer(h, emb) if isinstance(layer, ResBlock | SelfAttention) else layer(h)
        for layer in self.up:
            if isinstance(layer, ResBlock):
                h = layer(torch.cat([h, hs.pop()], dim=1), emb)
            elif isinstance(layer, SelfAttention):
                h = layer(h, emb)
            else:
                h = layer(h)
        return self.out(h)


class ConditionalDiffusion(RecordConditionedModel):
    """A record-conditioned diffusion model with the VAE's interface (see the module docstring)."""

    def __init__(self, preset: ImagePreset, cond_dim: int, image_shape: tuple[int, int, int]) -> None:
        super().__init__(preset, cond_dim, image_shape)
        channels = self.image_shape[2]
        self.sample_steps = preset.sample_steps
        self.cond_dropout = preset.cond_dropout
        self.guidance = preset.guidance
        self.net = UNet(
            channels=channels,
            cond_dim=cond_dim,
            width=preset.width,
            channel_mult=tuple(preset.channel_mult),
            blocks=preset.unet_blocks,
            resolution=preset.resolution,
            attention_resolution=preset.attention_resolution,
        )

    def _denoising_loss(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """Per-sample squared error of the v prediction at a uniform random time, records sometimes dropped."""
        t = torch.rand(x.shape[0], device=x.device)
        noise = torch.randn_like(x)
        a, s = (v[:, None, None, None] for v in _alpha_sigma(t))
        if self.training and self.cond_dropout > 0:
            keep = (torch.rand(x.shape[0], 1, device=x.device) >= self.cond_dropout).to(cond.dtype)
            cond = cond * keep
        v_pred = self.net(a * x + s * noise, t, cond)
        return ((v_pred - (a * noise - s * x)) ** 2).flatten(1).sum(dim=1)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        return self._denoising_loss(x, cond)

    def regression_loss(self, target: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """The warm-up objective: the denoising loss with the DP mean image as the data.

        A diffusion model fitted to one image per record learns to draw that mean image for the
        record; DP-SGD later teaches it the spread of real images around it.
        """
        return self._denoising_loss(target, cond)

    def _v(self, z: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """The v prediction, with classifier-free guidance ``(1 + w)·v(c) − w·v(∅)`` when ``guidance`` > 0."""
        if self.guidance <= 0:
            return self.net(z, t, cond)
        both = self.net(torch.cat([z, z]), torch.cat([t, t]), torch.cat([cond, torch.zeros_like(cond)]))
        v_c, v_u = both.chunk(2)
        return (1.0 + self.guidance) * v_c - self.guidance * v_u

    @torch.no_grad()
    def generate(
        self, cond: torch.Tensor, *, temperature: float, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Images in [-1, 1] at the dataset size: ``sample_steps`` deterministic DDIM steps from scaled noise."""
        n, c = cond.shape[0], self.image_shape[2]
        z = torch.randn(n, c, self.resolution, self.resolution, generator=generator, device="cpu")
        z = (z * temperature).to(cond.device)
        times = torch.linspace(1.0, 0.0, self.sample_steps + 1, device=cond.device)
        for i in range(self.sample_steps):
            t = times[i].expand(n)
            a_t, s_t = _alpha_sigma(times[i])
            a_s, s_s = _alpha_sigma(times[i + 1])
            v = self._v(z, t, cond)
            x0 = (a_t * z - s_t * v).clamp(-1.0, 1.0)
            eps = (z - a_t * x0) / s_t  # the noise consistent with the clipped x0 (s_t > 0 before the last step)
            z = a_s * x0 + s_s * eps
        return self.to_dataset_size(z)
