"""The engine is a library: every dptab_core module imports, and the CLI runs, with streamlit unavailable."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = r"""
import importlib, pkgutil, sys

class NoStreamlit:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "streamlit":
            raise ImportError("streamlit is blocked: dptab_core must not import it")
        return None

sys.meta_path.insert(0, NoStreamlit())
import dptab_core
names = [m.name for m in pkgutil.walk_packages(dptab_core.__path__, "dptab_core.") if not m.name.endswith("__main__")]
for name in names:
    importlib.import_module(name)
from dptab_core.cli import main
for command in ("demo-data", "inspect", "plan", "synth", "jobs", "evaluate", "demo", "sweep"):
    try:
        main([command, "--help"])
    except SystemExit as done:
        assert done.code == 0, (command, done.code)
print("imported", len(names), "modules")
"""


def test_every_engine_module_and_cli_command_works_without_streamlit():
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"an engine module needs streamlit:\n{done.stderr[-3000:]}"
    assert "imported" in done.stdout
