"""Which torch device the image stages run on: ``auto`` picks CUDA when present, else the CPU.

One code path serves both: every tensor is created on the resolved device, so the same job spec
runs on a laptop or a GPU machine.
"""

from __future__ import annotations

from typing import Literal

from dptab_core.errors import InputError

DeviceName = Literal["auto", "cpu", "cuda"]


def resolve_device(name: str = "auto"):
    """A ``torch.device`` for ``auto``, ``cpu`` or ``cuda`` (an error when CUDA is asked for but absent)."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda":
        if not torch.cuda.is_available():
            raise InputError("device 'cuda' was asked for but torch sees no CUDA GPU", where="device",
                             hint="Use device 'auto' or 'cpu', or install a CUDA build of torch.")
        return torch.device("cuda")
    raise InputError(f"unknown device {name!r}", where="device", hint="Use 'auto', 'cpu' or 'cuda'.")
