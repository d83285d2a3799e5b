#!/usr/bin/env bash
# Sets up a virtual environment with every extra and runs lint, types and the whole test suite.
# Safe to re-run: an existing .venv is reused.
set -euo pipefail
cd "$(dirname "$0")/.."
# The browser tests (tests/ui) drive Debian's chromium; they skip, saying so, where it is missing and
# cannot be installed (not root, or no apt).
if [ ! -x /usr/bin/chromium ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q chromium >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; } \
    || echo "chromium could not be installed: the browser tests will be skipped" >&2
fi
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
PIP=".venv/bin/python -m pip --disable-pip-version-check -q"
# CPU torch first: a range that 2.13.0 satisfies then installs nothing more (no CUDA download).
$PIP install "torch==2.13.0"
$PIP install -e ".[dev,dia,s1]" numba tiktoken more-itertools
# openai-whisper without its triton dependency (GPU-only kernels, ~290 MB).
$PIP install --no-deps "openai-whisper>=20240930"
.venv/bin/ruff check src tests bench scripts
.venv/bin/ruff format --check src tests bench scripts
.venv/bin/mypy src
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
