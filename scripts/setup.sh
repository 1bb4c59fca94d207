#!/usr/bin/env bash
# Creates .venv and installs Dreamer Studio with its test dependencies.
# On a machine whose pip offers a local CPU build of torch (find-links), that build is used; elsewhere pip's
# normal torch is installed (with CUDA where the platform has it).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
PIP=(.venv/bin/python -m pip install -q --disable-pip-version-check)
CPU_WHEELS=${DREAMER_CPU_WHEELS:-/opt/wheels}
if ls "$CPU_WHEELS"/torch-*+cpu-*.whl >/dev/null 2>&1; then
  # Pin the local CPU build so nothing resolves to a multi-GB CUDA torch.
  "${PIP[@]}" --find-links "$CPU_WHEELS" -c .ci/constraints-cpu.txt -e ".[dev]"
else
  "${PIP[@]}" -e ".[dev]"
fi
.venv/bin/python -c "import torch; print('torch', torch.__version__, '| cuda available:', torch.cuda.is_available())"
