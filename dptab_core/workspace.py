"""Where the app keeps uploads, jobs and outputs: ``./workspace`` unless ``DPTAB_HOME`` says otherwise.

Nothing the engine writes on a user's behalf goes outside this folder (uploads are extracted into
``uploads/``, jobs live in ``jobs/``), which keeps the blast radius of a malicious zip or a crashed
job inside one directory the user can inspect or delete.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "DPTAB_HOME"


def workspace_root() -> Path:
    """The workspace folder (created on first use)."""
    root = Path(os.environ.get(ENV_VAR, "workspace")).expanduser().resolve()
    root.mkdir(parents=True, exist_ok=True)
    return root


def workspace_dir(*parts: str) -> Path:
    """A sub-folder of the workspace, e.g. ``workspace_dir("jobs")`` (created on first use)."""
    path = workspace_root().joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def is_inside(path: Path, root: Path) -> bool:
    """True when ``path`` resolves to ``root`` or somewhere below it (symlinks followed)."""
    try:
        path.resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return True
