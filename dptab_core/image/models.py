"""The conditional image models: the base every family shares (:class:`RecordConditionedModel`), the
conditional VAE (decoder: (record vector, latent) → image) and :func:`build_model`, which builds the
preset's family (``cvae`` here, ``diffusion`` in :mod:`.diffusion`, ``latent`` in :mod:`.latent`).

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

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from dptab_core.image.encoder import encode_images
from dptab_core.image.presets import ImagePreset


def _groups(channels: int) -> int:
    """GroupNorm groups: 8 channels per group, at least one group."""
    return max(1, min(32, channels // 8))


def group_norm(channels: int) -> nn.GroupNorm:
    """GroupNorm over ``channels`` with :func:`_groups` groups (never BatchNorm: it mixes individuals)."""
    return nn.GroupNorm(_groups(channels), channels)


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
            layers += [nn.GroupNorm(_groups(widths[i]), widths[i]), nn.SiLU(), nn.Upsample(scale_factor=2.0),
                       nn.Conv2d(widths[i], widths[i + 1], 3, padding=1)]
        layers += [nn.GroupNorm(_groups(widths[-1]), widths[-1]), nn.SiLU(),
                   nn.Conv2d(widths[-1], channels, 3, padding=1)]
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


class RecordConditionedModel(nn.Module):
    """What every image family shares: the record and image sizes, and the way out to the dataset size.

    The training loops, DP-SGD engines and the sampler read ``cond_dim``, ``image_shape`` and
    ``resolution`` from any family, so they are set in one place; models work at the preset's
    ``resolution`` and :meth:`to_dataset_size` brings their drawings to the images' own size.
    """

    def __init__(self, preset: ImagePreset, cond_dim: int, image_shape: tuple[int, int, int]) -> None:
        super().__init__()
        h, w, channels = image_shape
        self.cond_dim = cond_dim
        self.image_shape = (int(h), int(w), int(channels))
        self.resolution = preset.resolution

    def to_dataset_size(self, images: torch.Tensor) -> torch.Tensor:
        """``images`` (N, C, r, r) resized to the dataset's (H, W) and clamped to [-1, 1]."""
        h, w, _ = self.image_shape
        if images.shape[-2:] != (h, w):
            images = F.interpolate(images, size=(h, w), mode="bilinear", align_corners=False)
        return images.clamp(-1.0, 1.0)


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
    def generate(self, cond: torch.Tensor, *, temperature: float, generator: torch.Generator | None = None
                 ) -> torch.Tensor:
        """Images in [-1, 1] at the dataset size for conditioning vectors ``cond``."""
        z = torch.randn(cond.shape[0], self.latent_dim, generator=generator, device="cpu").to(cond.device)
        return self.to_dataset_size(self.decoder(cond, z * temperature))


def model_inputs(model: nn.Module, images: np.ndarray) -> np.ndarray:
    """What ``model.forward`` takes for uint8 images (n, H, W, C): its ``prepare_inputs`` (the latent
    family's public encoder) when it has one, else the images in [-1, 1] at the model's resolution."""
    prepare = getattr(model, "prepare_inputs", None)
    if prepare is not None:
        return prepare(images)
    return encode_images(images, model.resolution)


def build_model(preset: ImagePreset, cond_dim: int, image_shape: tuple[int, int, int]) -> nn.Module:
    """The preset's conditional model (its ``family``) for records of ``cond_dim`` and images of ``(H, W, C)``."""
    if preset.family == "diffusion":
        from dptab_core.image.diffusion import ConditionalDiffusion

        return ConditionalDiffusion(preset, cond_dim, image_shape)
    if preset.family == "latent":
        from dptab_core.image.latent import LatentGaussian

        return LatentGaussian(preset, cond_dim, image_shape)
    return ConditionalVAE(preset, cond_dim, image_shape)
