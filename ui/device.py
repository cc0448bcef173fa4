"""Which device a job will train on, found without importing torch in the Streamlit process.

The app process must stay light (no torch, no CUDA context), so a GPU is detected the way a person
would: ask ``nvidia-smi`` for its list of GPUs. The worker makes the final choice with torch itself
(``device="auto"``); this is what the Train page promises the user beforehand.
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from dptab_core.image.device import visible_gpu_names


@dataclass(frozen=True)
class DeviceInfo:
    """``kind`` is ``"cuda"`` or ``"cpu"``; ``label`` is what the page shows; ``gpus`` how many are visible."""

    kind: str
    label: str
    gpus: int = 0


@st.cache_data(ttl=300, show_spinner=False)
def detect_device() -> DeviceInfo:
    """The first NVIDIA GPU named by ``nvidia-smi -L`` (and how many are visible), else the CPU."""
    gpus = visible_gpu_names()
    if gpus:
        more = f" (+{len(gpus) - 1} more)" if len(gpus) > 1 else ""
        return DeviceInfo("cuda", f"GPU — {gpus[0]}{more}", gpus=len(gpus))
    return DeviceInfo("cpu", "CPU (no NVIDIA GPU found by nvidia-smi)")
