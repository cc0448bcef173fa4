"""The conditional VAE family (decoder: (record vector, latent) → image) and :func:`build_model`, which
builds the preset's family (``cvae`` here, ``diffusion`` in :mod:`.diffusion`, ``latent`` in
:mod:`.latent`). The interface every family implements, and the base they share, is
:class:`~dptab_core.image.family.RecordConditionedModel`; the families import it, and this builder
imports the families (no import cycle).

Why the CVAE suits a CPU: sampling is one decoder pass per image, the warm-up on DP mean pairs is a
regression of the decoder at prior latent draws (:meth:`ConditionalVAE.regression_loss`), and DP-SGD
then teaches the latent the variation around those means (see benchmarks/README.md for the
measurements). Every layer is DP-SGD friendly: Linear,
Conv2d, GroupNorm (never BatchNorm, whose batch statistics mix individuals), SiLU, nearest upsampling;
``opacus.validators.ModuleValidator.validate`` returns ``[]``.

Sizes come from an :class:`~dptab_core.image.presets.ImagePreset`; the model works at the preset's
``resolution`` and the sampler resizes to the dataset's image size.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from dptab_core.image.diffusion import ConditionalDiffusion
from dptab_core.image.family import RecordConditionedModel, _groups
from dptab_core.image.latent import LatentGaussian
from dptab_core.image.presets import ImagePreset


class Decoder(nn.Module):
    """(condition, latent) → image in [-1, 1] at ``resolution``: a 4×4 seed, then upsample + conv stages."""

    def __init__(self, cond_dim: int, latent_dim: int, width: int, resolution: int, channels: int) -> None:
        super().__init__()
        n_up = int(math.log2(resolution // 4))
        if 4 * 2**n_up != resolution:
            raise ValueError(f"resolution must be 4·2^k, got {resolution}")
        widths = [width * 2 ** (n_up - i) for i in range(n_up + 1)]
        self.seed_channels = widths[0]
        self.fc = nn.Linear(cond_dim + latent_dim, widths[0] * 16)
        layers: list[nn.Module] = []
        for i in range(n_up):
            layers += [
                nn.GroupNorm(_groups(widths[i]), widths[i]),
                nn.SiLU(),
                nn.Upsample(scale_factor=2.0),
                nn.Conv2d(widths[i], widths[i + 1], 3, padding=1),
            ]
        layers += [
            nn.GroupNorm(_groups(widths[-1]), widths[-1]),
            nn.SiLU(),
            nn.Conv2d(widths[-1], channels, 3, padding=1),
        ]
        self.body = nn.Sequential(*layers)

    def forward(self, cond: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        h = self.fc(torch.cat([cond, z], dim=1)).view(-1, self.seed_channels, 4, 4)
        return torch.tanh(self.body(h))


class Encoder(nn.Module):
    """(image, condition) → (μ, log σ²) of the latent: stride-2 convs down to 4×4, then one Linear."""

    def __init__(self, cond_dim: int, latent_dim: int, width: int, resolution: int, channels: int) -> None:
        super().__init__()
        n_down = int(math.log2(resolution // 4))
        layers: list[nn.Module] = [nn.Conv2d(channels, width, 3, padding=1)]
        ch = width
        for _ in range(n_down):
            layers += [nn.GroupNorm(_groups(ch), ch), nn.SiLU(), nn.Conv2d(ch, ch * 2, 4, stride=2, padding=1)]
            ch *= 2
        layers += [nn.GroupNorm(_groups(ch), ch), nn.SiLU(), nn.Flatten()]
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(ch * 16 + cond_dim, 2 * latent_dim)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.head(torch.cat([self.body(x), cond], dim=1)).chunk(2, dim=1)
        return mu, logvar.clamp(-8.0, 8.0)


class ConditionalVAE(RecordConditionedModel):
    """A conditional VAE; ``forward(x, cond)`` returns the per-sample loss (reconstruction + β·KL).

    Returning the per-sample loss from ``forward`` keeps every training loop (warm-up, public
    pre-training, DP-SGD) to ``loss = model(x, c).mean()``, which is the form Opacus' per-sample
    clipping expects (``loss_reduction="mean"``).
    """

    def __init__(self, preset: ImagePreset, cond_dim: int, image_shape: tuple[int, int, int]) -> None:
        super().__init__(preset, cond_dim, image_shape)
        channels = self.image_shape[2]
        self.latent_dim = preset.latent_dim
        self.kl_weight = preset.kl_weight
        self.encoder = Encoder(cond_dim, preset.latent_dim, preset.width, preset.resolution, channels)
        self.decoder = Decoder(cond_dim, preset.latent_dim, preset.width, preset.resolution, channels)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        mu, logvar = self.encoder(x, cond)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        recon = self.decoder(cond, z)
        rec = ((recon - x) ** 2).flatten(1).sum(dim=1)
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(dim=1)
        return rec + self.kl_weight * kl

    def regression_loss(self, target: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """Per-sample squared error of the decoder at a prior latent draw against ``target``.

        This is the warm-up objective: a mean image is what the decoder should draw for a record
        when it knows nothing more about the individual, whatever the latent. Training it at random
        latents (not only at 0) teaches the decoder to ignore the latent until DP-SGD gives it
        meaning; trained at 0 only, random latents at sampling time gave coloured pixel noise.
        """
        z = torch.randn(cond.shape[0], self.latent_dim, device=cond.device)
        return ((self.decoder(cond, z) - target) ** 2).flatten(1).sum(dim=1)

    @torch.no_grad()
    def generate(
        self, cond: torch.Tensor, *, temperature: float, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Images in [-1, 1] at the dataset size for conditioning vectors ``cond``."""
        z = torch.randn(cond.shape[0], self.latent_dim, generator=generator, device="cpu").to(cond.device)
        return self.to_dataset_size(self.decoder(cond, z * temperature))


def build_model(preset: ImagePreset, cond_dim: int, image_shape: tuple[int, int, int]) -> RecordConditionedModel:
    """The preset's conditional model (its ``family``) for records of ``cond_dim`` and images of ``(H, W, C)``."""
    if preset.family == "diffusion":
        return ConditionalDiffusion(preset, cond_dim, image_shape)
    if preset.family == "latent":
        return LatentGaussian(preset, cond_dim, image_shape)
    return ConditionalVAE(preset, cond_dim, image_shape)
