#!/usr/bin/env bash
# The gpu preset end to end on a 1,500-row HAM10000 subset: per-stage time, peak GPU memory, ε spent,
# and the image quality table (benchmarks/gpu_check.py). --dry-run: the same path on CPU at tiny sizes.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
[ -x "$PY" ] || PY=python3
exec "$PY" benchmarks/gpu_check.py "$@"
