"""Entry point for ``python -m dptab_core``."""

import sys

from dptab_core.cli import main

sys.exit(main())
