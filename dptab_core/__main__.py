"""Entry point for ``python -m dptab_core``."""

import sys

from dptab_core.cli import main
from dptab_core.workspace import private_umask

private_umask()  # uploads, checkpoints and outputs written from the command line are private (0600/0700)
sys.exit(main())
