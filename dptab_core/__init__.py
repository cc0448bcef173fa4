"""DP-TabImage Studio's engine: ingest, privacy accounting, table and image synthesis, jobs, evaluation.

It never imports streamlit; heavy libraries (torch, opacus, jax/mbi) are imported lazily inside the
modules that need them, so that planning a budget stays fast and torch-free.
"""

__version__ = "0.1.0"
