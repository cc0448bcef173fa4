"""Which torch device the image stages run on: ``auto`` picks CUDA when present, else the CPU.

One code path serves both: every tensor is created on the resolved device, so the same job spec
runs on a laptop or a GPU machine.
"""

from __future__ import annotations

import os
import shutil
import subprocess
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
            raise InputError(
                "device 'cuda' was asked for but torch sees no CUDA GPU",
                where="device",
                hint="Use device 'auto' or 'cpu', or install a CUDA build of torch.",
            )
        return torch.device("cuda")
    raise InputError(f"unknown device {name!r}", where="device", hint="Use 'auto', 'cpu' or 'cuda'.")


def visible_gpu_names(timeout_s: float = 5.0) -> list[str]:
    """The NVIDIA GPUs a job launched from here would see, by name, without importing torch.

    Asks ``nvidia-smi -L`` (the app process must not import torch or make a CUDA context) and keeps
    the GPUs ``CUDA_VISIBLE_DEVICES`` leaves visible when it lists indices (``""`` or ``-1``: none).
    ``[]`` when there is no ``nvidia-smi`` or it fails.
    """
    exe = shutil.which("nvidia-smi")
    if not exe:
        return []
    try:
        out = subprocess.run([exe, "-L"], capture_output=True, text=True, timeout=timeout_s, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    names = [line.split(":", 1)[1].split("(")[0].strip() for line in out.splitlines() if line.startswith("GPU")]
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is None:
        return names
    picked = [part.strip() for part in visible.split(",") if part.strip()]
    if not picked or picked[0] == "-1":
        return []
    if all(part.isdigit() for part in picked):
        return [names[int(i)] for i in picked if int(i) < len(names)]
    return names[: len(picked)]  # UUIDs or MIG names: as many as listed
