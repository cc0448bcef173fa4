"""The image model family's interface: what every family provides, and its optional hooks with defaults.

Two layers:

* :class:`DPSGDModel` — anything :func:`~dptab_core.image.dpsgd.finetune_dpsgd` and
  :mod:`~dptab_core.image.distributed` train: ``forward(x, cond)`` returns the per-sample loss, and
  three hooks say how DP-SGD feeds and steps it (:meth:`~DPSGDModel.prepare_inputs`,
  :attr:`~DPSGDModel.dpsgd_engine`, :meth:`~DPSGDModel.dpsgd_param_groups`). The image-first
  baseline's attribute reader is one too.
* :class:`RecordConditionedModel` — an image family (``cvae`` and :func:`build_model` in
  :mod:`.models`, ``diffusion`` in :mod:`.diffusion`, ``latent`` in :mod:`.latent`): a
  :class:`DPSGDModel` conditioned on record vectors that also draws images
  (:meth:`~RecordConditionedModel.generate`), brings them to the dataset size, and has the warm-up
  and public pre-training hooks the trainers of :mod:`.train` call.

Every hook has a default on the base class, so callers never ask whether a family has it: a family
overrides only what it does differently (the latent family overrides all of them). This module
imports no family; the families import it, and :mod:`.models` (the builder) imports the families.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from dptab_core.image.encoder import encode_images
from dptab_core.image.presets import ImagePreset

if TYPE_CHECKING:
    from dptab_core.image.encoder import RecordEncoder
    from dptab_core.image.mean_pairs import MeanPairs

Progress = Callable[[float, str, int], None]


def _groups(channels: int) -> int:
    """GroupNorm groups: 8 channels per group, at least one group."""
    return max(1, min(32, channels // 8))


def group_norm(channels: int) -> nn.GroupNorm:
    """GroupNorm over ``channels`` with :func:`_groups` groups (never BatchNorm: it mixes individuals)."""
    return nn.GroupNorm(_groups(channels), channels)


class DPSGDModel(nn.Module):
    """A model DP-SGD can fine-tune: ``forward(x, cond)`` is the per-sample loss (shape ``(n,)``).

    Returning the per-sample loss from ``forward`` keeps every training loop to
    ``loss = model(x, c).mean()``, the form Opacus' per-sample clipping expects. ``resolution`` is the
    side images are brought to before they enter the model (by the default :meth:`prepare_inputs`).
    """

    resolution: int

    dpsgd_engine: str | None = None
    """The DP-SGD engine this model wants (one of :data:`~dptab_core.image.dpsgd.ENGINES`), or None for
    the trainer's default (:data:`~dptab_core.image.dpsgd.DEFAULT_ENGINE`). An engine named by the
    caller wins over both."""

    dpsgd_lr: float | None = None
    """This model's own Adam step for DP-SGD, or None for the preset's ``dpsgd_lr``."""

    dpsgd_label = "image model"
    """What the DP-SGD progress messages call this model."""

    def prepare_inputs(self, images: np.ndarray) -> np.ndarray:
        """What ``forward`` takes for uint8 images (n, H, W, C): by default the images in [-1, 1] at
        :attr:`resolution`, float32 (n, C, r, r)."""
        return encode_images(images, self.resolution)

    def dpsgd_param_groups(self, lr: float) -> list[dict[str, Any]]:
        """Adam parameter groups for DP-SGD: by default one group of every trainable parameter, in
        ``parameters()`` order, at the optimizer's ``lr``."""
        return [{"params": [p for p in self.parameters() if p.requires_grad]}]

    def dpsgd_session(self) -> AbstractContextManager[None]:
        """A context the DP-SGD trainer runs inside: by default nothing. A model that trains parameters
        frozen at other times (the latent family's decoder) unfreezes them here and freezes them after."""
        return nullcontext()


class RecordConditionedModel(DPSGDModel, ABC):
    """An image family: record vectors of ``cond_dim`` → images of ``image_shape`` (H, W, C).

    Every family provides ``forward(x, cond)`` (per-sample loss on :meth:`prepare_inputs` of images)
    and :meth:`generate`; the training loops, DP-SGD engines and the sampler also read ``cond_dim``,
    ``image_shape`` and ``resolution``, set here in one place. Models work at the preset's
    ``resolution`` and :meth:`to_dataset_size` brings their drawings to the images' own size.

    The warm-up and public pre-training hooks (:meth:`warm_start`, :meth:`regression_loss`,
    :meth:`fit_public`) have defaults that hand the work to the generic loops of :mod:`.train`.
    """

    def __init__(self, preset: ImagePreset, cond_dim: int, image_shape: tuple[int, int, int]) -> None:
        super().__init__()
        h, w, channels = image_shape
        self.cond_dim = cond_dim
        self.image_shape = (int(h), int(w), int(channels))
        self.resolution = preset.resolution

    @abstractmethod
    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """Per-sample loss (shape ``(n,)``) of inputs ``x`` (:meth:`prepare_inputs` of images) given ``cond``."""

    @abstractmethod
    def generate(
        self, cond: torch.Tensor, *, temperature: float, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Images in [-1, 1] at the dataset size (n, C, H, W), one for each conditioning vector of ``cond``."""

    def to_dataset_size(self, images: torch.Tensor) -> torch.Tensor:
        """``images`` (N, C, r, r) resized to the dataset's (H, W) and clamped to [-1, 1]."""
        h, w, _ = self.image_shape
        if images.shape[-2:] != (h, w):
            images = F.interpolate(images, size=(h, w), mode="bilinear", align_corners=False)
        return images.clamp(-1.0, 1.0)

    # -------------------------------------------------------------- warm-up and public pre-training hooks

    def warm_start(self, pairs: MeanPairs, encoder: RecordEncoder, records: np.ndarray | None = None) -> bool:
        """Take the released DP mean pairs in directly, without training steps; True when the family did.

        ``records`` are the synthetic table's rows as conditioning vectors when the table stage has run
        (DP already, so free to use). The default does nothing and returns False: the warm-up then
        regresses :meth:`regression_loss` on the pairs and their composites (:func:`~.train.warm_up`).
        """
        return False

    def regression_loss(self, target: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """Per-sample warm-up loss against DP mean images ``target`` (n, C, r, r) for records ``cond``.

        Needed by every family whose :meth:`warm_start` returns False.
        """
        raise NotImplementedError(f"{type(self).__name__} has no warm-up regression (its warm_start is exact)")

    def dpsgd_phases(self, steps: int) -> list[tuple[DPSGDModel, int]]:
        """What the DP-SGD stage's ``steps`` train, in order: ``(model, steps)`` pairs summing to ``steps``.

        Every phase runs at the plan's noise multiplier, sampling rate and clip, so however the steps
        are split, the stage spends exactly what the plan composed for ``steps`` steps. The default
        spends them all on this model.
        """
        return [(self, steps)]

    def fit_public(
        self,
        public_images: np.ndarray,
        *,
        steps: int,
        batch_size: int,
        lr: float,
        seed: int,
        device: torch.device,
        progress: Progress | None = None,
        should_stop: Callable[[], bool] | None = None,
        cache_dir: Path | None = None,
    ) -> list[float] | None:
        """The family's own pre-training on public images (uint8 (n, H, W, C)); its loss per step.

        The default returns None: :func:`~.train.pretrain_on_public` then trains ``forward`` on the
        public images under the all-unspecified record. ``cache_dir`` may keep public-only results.
        """
        return None
