"""The attribute reader of the image-first baseline: a small CNN that reads a record's values off an image.

The image-first baseline draws images with no record, then needs each image's row. This network is
trained on the real pairs (image → every synthesized column's code) with DP-SGD through
:func:`dptab_core.image.dpsgd.finetune_dpsgd`, which is why its ``forward(x, target)`` returns the
per-sample loss, exactly like the conditional VAE: the same Opacus loop, clipping, noise and ledger
entry serve both. The targets travel in the ``conditions`` slot as one-hot blocks (one block of
``domain_size`` slots per column, see :func:`one_hot_targets`).

Every layer is DP-SGD friendly (Conv2d, GroupNorm, Linear; no BatchNorm). It is *not* the
evaluation's classifier (:mod:`dptab_core.eval.features`), which reads real data without DP and
belongs to the data owner's view.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from dptab_core.image.family import DPSGDModel

Codes = dict[str, np.ndarray]


def one_hot_targets(codes: Codes, sizes: dict[str, int]) -> np.ndarray:
    """float32 (n, Σ sizes): each column's code one-hot in its own block, columns in ``sizes`` order.

    >>> one_hot_targets({"a": np.array([1, 0]), "b": np.array([2, 0])}, {"a": 2, "b": 3}).tolist()
    [[0.0, 1.0, 0.0, 0.0, 1.0], [1.0, 0.0, 1.0, 0.0, 0.0]]
    """
    n = len(next(iter(codes.values()))) if codes else 0
    out = np.zeros((n, sum(sizes.values())), dtype=np.float32)
    offset, rows = 0, np.arange(n)
    for name, size in sizes.items():
        out[rows, offset + np.asarray(codes[name], dtype=np.int64)] = 1.0
        offset += size
    return out


class AttributeReader(DPSGDModel):
    """Image → one logit block per synthesized column; ``forward(x, target)`` is the per-sample loss.

    ``resolution`` is the side the images are box-averaged to before they enter the network (what
    :func:`dptab_core.image.encoder.encode_images` produces, the default
    :meth:`~dptab_core.image.family.DPSGDModel.prepare_inputs` that ``finetune_dpsgd`` feeds it).
    """

    def __init__(self, sizes: dict[str, int], *, channels: int, width: int, resolution: int) -> None:
        super().__init__()
        self.sizes = dict(sizes)
        self.resolution = resolution

        def block(cin: int, cout: int, stride: int) -> list[nn.Module]:
            return [nn.Conv2d(cin, cout, 3, stride=stride, padding=1), nn.GroupNorm(max(1, cout // 8), cout), nn.SiLU()]

        self.body = nn.Sequential(
            *block(channels, width, 1), *block(width, 2 * width, 2), *block(2 * width, 4 * width, 2)
        )
        self.head = nn.Linear(4 * width, sum(self.sizes.values()))

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """(n, Σ sizes) logits of images ``x`` in [-1, 1], shape (n, C, resolution, resolution)."""
        logits: torch.Tensor = self.head(self.body(x).mean(dim=(2, 3)))
        return logits

    def forward(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Per-sample loss: the sum over columns of the cross-entropy against the one-hot ``target``."""
        log_p = self.log_probs(self.logits(x))
        return -(target * log_p).sum(dim=1)

    def log_probs(self, logits: torch.Tensor) -> torch.Tensor:
        """Log-softmax within each column's block (blocks side by side, as the logits)."""
        parts, offset = [], 0
        for size in self.sizes.values():
            parts.append(torch.log_softmax(logits[:, offset : offset + size], dim=1))
            offset += size
        return torch.cat(parts, dim=1)

    @torch.no_grad()
    def read(self, x: np.ndarray, *, batch_size: int, device: torch.device | str) -> dict[str, np.ndarray]:
        """Per column, (n, size) log-probabilities of each value for encoded images ``x`` (float (n, C, r, r))."""
        self.to(device).eval()
        out = []
        for start in range(0, len(x), batch_size):
            batch = torch.as_tensor(x[start : start + batch_size]).to(device)
            out.append(self.log_probs(self.logits(batch)).cpu().numpy())
        joined = np.concatenate(out) if out else np.zeros((0, sum(self.sizes.values())), dtype=np.float32)
        blocks, offset = {}, 0
        for name, size in self.sizes.items():
            blocks[name] = joined[:, offset : offset + size]
            offset += size
        return blocks
