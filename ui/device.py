"""Which device a job will train on, found without importing torch in the Streamlit process.

The app process must stay light (no torch, no CUDA context), so a GPU is detected the way a person
would: ask ``nvidia-smi`` for its list of GPUs. The worker makes the final choice with torch itself
(``device="auto"``); this is what the Train page promises the user beforehand.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass

import streamlit as st


@dataclass(frozen=True)
class DeviceInfo:
    """``kind`` is ``"cuda"`` or ``"cpu"``; ``label`` is what the page shows."""

    kind: str
    label: str


@st.cache_data(ttl=300, show_spinner=False)
def detect_device() -> DeviceInfo:
    """The first NVIDIA GPU named by ``nvidia-smi -L``, else the CPU."""
    exe = shutil.which("nvidia-smi")
    if exe:
        try:
            out = subprocess.run([exe, "-L"], capture_output=True, text=True, timeout=5, check=False).stdout
        except (OSError, subprocess.TimeoutExpired):
            out = ""
        gpus = [line.split(":", 1)[1].split("(")[0].strip() for line in out.splitlines() if line.startswith("GPU")]
        if gpus:
            more = f" (+{len(gpus) - 1} more)" if len(gpus) > 1 else ""
            return DeviceInfo("cuda", f"GPU — {gpus[0]}{more}")
    return DeviceInfo("cpu", "CPU (no NVIDIA GPU found by nvidia-smi)")
