"""Where the app keeps uploads, jobs and outputs: ``./workspace`` unless ``DPTAB_HOME`` says otherwise.

Nothing the engine writes on a user's behalf goes outside this folder (uploads are extracted into
``uploads/``, jobs live in ``jobs/``), which keeps the blast radius of a malicious zip or a crashed
job inside one directory the user can inspect or delete.

The workspace holds raw uploads, extracted images, checkpoints and the owner's views: other users of
the machine must not read it. The folder itself is created ``0700``, and every process that writes
into it (the app, the CLI, the job worker) first calls :func:`private_umask`, so the files it creates
are ``0600`` and its folders ``0700``.

>>> import tempfile
>>> os.environ[ENV_VAR] = tempfile.mkdtemp() + "/ws"
>>> oct(workspace_root().stat().st_mode & 0o777)
'0o700'
>>> del os.environ[ENV_VAR]
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "DPTAB_HOME"
PRIVATE_UMASK = 0o077
"""Files 0600, folders 0700: only the user running the app reads the workspace."""


def private_umask() -> int:
    """Make files and folders this process creates private to its user; return the previous umask.

    Call it first thing in a process that writes into the workspace (``app.py``, ``python -m
    dptab_core``, the job worker). A umask is per process, so a worker started by the app inherits it,
    and a worker started from elsewhere sets its own.
    """
    return os.umask(PRIVATE_UMASK)


def workspace_root() -> Path:
    """The workspace folder (created on first use, readable by its owner only)."""
    root = Path(os.environ.get(ENV_VAR, "workspace")).expanduser().resolve()
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    if root.stat().st_mode & 0o077:  # a new folder under a loose umask, or one from an older version
        root.chmod(0o700)
    return root


def workspace_dir(*parts: str) -> Path:
    """A sub-folder of the workspace, e.g. ``workspace_dir("jobs")`` (created on first use, ``0700``)."""
    root = workspace_root()
    path = root.joinpath(*parts)
    if not path.is_dir():
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        for made in (path, *path.parents):  # each folder created here, not the workspace's parents
            if made == root:
                break
            made.chmod(0o700)
    return path


def is_inside(path: Path, root: Path) -> bool:
    """True when ``path`` resolves to ``root`` or somewhere below it (symlinks followed)."""
    try:
        path.resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return True
