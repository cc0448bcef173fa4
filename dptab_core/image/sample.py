"""Sampling: one image per synthetic row, conditioned on that row, batched and seeded; PNG export.

Reads nothing sensitive: the model and the synthetic records are already DP releases.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from dptab_core.image.encoder import decode_images

if TYPE_CHECKING:
    from dptab_core.image.family import RecordConditionedModel


def sample_images(
    model: RecordConditionedModel, conditions: np.ndarray, *, seed: int, batch_size: int, device, temperature: float
) -> np.ndarray:
    """uint8 images (n, H, W, C) at the model's dataset size, row ``i`` drawn for ``conditions[i]``.

    The same seed and batch size always give the same images.
    """
    import torch

    generator = torch.Generator().manual_seed(seed)
    model.to(device).eval()
    out = []
    cond = torch.as_tensor(np.asarray(conditions, dtype=np.float32))
    for start in range(0, len(cond), batch_size):
        batch = model.generate(
            cond[start : start + batch_size].to(device), temperature=temperature, generator=generator
        )
        out.append(decode_images(batch.cpu().numpy()))
    h, w, c = model.image_shape
    return np.concatenate(out) if out else np.zeros((0, h, w, c), dtype=np.uint8)
