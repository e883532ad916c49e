#!/usr/bin/env bash
# Run the whole test suite, slow tests included (what CI runs): ruff, mypy, then the
# engine tests (which import TensorFlow) on the TensorFlow backend, a short run
# of the backend tests under KERAS_BACKEND=torch, and the napari tests (which
# must never import TensorFlow: see docs/architecture.md), each a separate pytest process.
# Extra arguments go to every pytest run (e.g. -m "not slow" while iterating).
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1
export TF_CPP_MIN_LOG_LEVEL=2 PYTHONFAULTHANDLER=1
status=0
run() {
  echo "=== $*"
  "$@"; rc=$?
  # pytest exit code 5 = no tests collected: not a failure of this script
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 5 ]; then status=1; fi
}
run .venv/bin/python -m ruff check src tests
# the type check: its files and settings are pyproject.toml's [tool.mypy]
run .venv/bin/python -m mypy
run .venv/bin/npe2 validate napari-colorize
run .venv/bin/python -m pytest tests/engine -p no:xvfb -p no:pytest-qt -ra "$@"
# the same Keras methods on the PyTorch backend (CPU), and folders that cross backends: about 2 minutes
run env KERAS_BACKEND=torch .venv/bin/python -m pytest tests/engine/test_backends.py \
  tests/engine/test_precision.py -p no:xvfb -p no:pytest-qt -ra "$@"
run .venv/bin/python -m pytest tests/napari -ra "$@"
if [ "$status" -eq 0 ]; then echo "ALL TEST RUNS PASSED"; else echo "SOME TEST RUNS FAILED"; fi
exit $status
