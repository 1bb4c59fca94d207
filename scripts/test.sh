#!/usr/bin/env bash
# The test command (README): headless, with the project's venv.
set -euo pipefail
cd "$(dirname "$0")/.."
export MUJOCO_GL=egl QT_QPA_PLATFORM=offscreen SDL_VIDEODRIVER=dummy
exec .venv/bin/python -m pytest -q "$@"
