#!/usr/bin/env bash
# Creates a throw-away venv holding sheeprl 0.8.4 (with its DMC extra) for bench/compare_sheeprl.py.
# sheeprl is never a dependency of this project: the venv lives outside the repo.
#
#   bash bench/sheeprl_setup.sh            # venv at ${SHEEPRL_VENV:-$HOME/.cache/dreamer-studio/sheeprl-venv}
#   SHEEPRL_VENV=/tmp/sv bash bench/sheeprl_setup.sh
#
# Idempotent: when the venv already imports sheeprl 0.8.4, torch (CPU where a local CPU wheel exists) and a
# dm_control that loads a task, it only prints the versions.
# Pins: torch==2.13.0 (installed first, from the local +cpu wheel when there is one, so pip never pulls a
# multi-GB CUDA build) and mujoco>=3.1,<4 (mujoco 4.0 breaks dm_control 1.0.50's Physics), both passed as pip
# constraints so that sheeprl's own requirements cannot move them.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${SHEEPRL_VENV:-$HOME/.cache/dreamer-studio/sheeprl-venv}
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
CPU_WHEELS=${DREAMER_CPU_WHEELS:-/opt/wheels}
SHEEPRL_VERSION=0.8.4

check() {
  [ -x "$VENV/bin/python" ] || return 1
  MUJOCO_GL=${MUJOCO_GL:-egl} "$VENV/bin/python" - "$SHEEPRL_VERSION" <<'EOF' >/dev/null 2>&1
import sys
from importlib.metadata import version
import torch, sheeprl, mujoco
from dm_control import suite
assert version("sheeprl") == sys.argv[1], version("sheeprl")
assert int(mujoco.__version__.split(".")[0]) < 4, mujoco.__version__
suite.load("cartpole", "swingup").reset()
EOF
}

versions() {
  MUJOCO_GL=${MUJOCO_GL:-egl} "$VENV/bin/python" - <<'EOF'
from importlib.metadata import version
import torch
names = ["sheeprl", "torch", "lightning", "hydra-core", "tensorboard", "gymnasium", "dm-control", "mujoco", "numpy"]
print("sheeprl venv:", __import__("sys").prefix)
print("  " + ", ".join(f"{n} {version(n)}" for n in names))
print("  torch threads:", torch.get_num_threads(), "| cuda available:", torch.cuda.is_available())
EOF
}

if check; then
  echo "sheeprl $SHEEPRL_VERSION already installed in $VENV"
  versions
  exit 0
fi

[ -x "$VENV/bin/python" ] || { mkdir -p "$(dirname "$VENV")" && "$PY" -m venv "$VENV"; }
PIP=("$VENV/bin/python" -m pip install -q --disable-pip-version-check)
CONSTRAINTS=$(mktemp)
trap 'rm -f "$CONSTRAINTS"' EXIT
echo 'mujoco>=3.1,<4' >"$CONSTRAINTS"
if ls "$CPU_WHEELS"/torch-2.13.0+cpu-*.whl >/dev/null 2>&1; then
  # The local CPU build, pinned exactly: without the find-links this pin fails loudly instead of going CUDA.
  echo 'torch==2.13.0+cpu' >>"$CONSTRAINTS"
  FIND=(--find-links "$CPU_WHEELS")
else
  echo 'torch==2.13.0' >>"$CONSTRAINTS"
  FIND=()
fi
echo "installing torch into $VENV ..."
"${PIP[@]}" "${FIND[@]}" -c "$CONSTRAINTS" torch==2.13.0
echo "installing sheeprl[dmc]==$SHEEPRL_VERSION (mujoco<4) ..."
"${PIP[@]}" "${FIND[@]}" -c "$CONSTRAINTS" "sheeprl[dmc]==$SHEEPRL_VERSION" "mujoco>=3.1,<4"
"$VENV/bin/python" -m pip check || echo "warning: pip check reports conflicts (see above)" >&2
if ! check; then
  echo "sheeprl venv at $VENV installed but failed its import / dm_control check" >&2
  exit 1
fi
versions
