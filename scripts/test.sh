#!/usr/bin/env bash
# Sets up a virtual environment with every extra and runs lint, types and the whole test suite.
# Safe to re-run: an existing .venv is reused.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
PIP=".venv/bin/python -m pip --disable-pip-version-check -q"
# CPU torch first: a range that 2.13.0 satisfies then installs nothing more (no CUDA download).
$PIP install "torch==2.13.0"
$PIP install -e ".[dev,dia,s1]" numba tiktoken more-itertools
# openai-whisper without its triton dependency (GPU-only kernels, ~290 MB).
$PIP install --no-deps "openai-whisper>=20240930"
.venv/bin/ruff check src tests bench
.venv/bin/mypy src
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
