#!/usr/bin/env bash
# Screenshots of Dreamer Studio in a real X window: starts Xvfb on DISPLAY (default :93), runs
# scripts/screenshots.py (its flags pass through), stops that Xvfb. Needs: apt-get install -y xvfb libxcb-icccm4
# libxcb-keysyms1 imagemagick. Writes docs/screenshots/*.png.
set -euo pipefail
cd "$(dirname "$0")/.."
export DISPLAY="${DISPLAY_FOR_SHOTS:-:93}" QT_QPA_PLATFORM=xcb MUJOCO_GL=egl SDL_VIDEODRIVER=dummy
Xvfb "$DISPLAY" -screen 0 1600x1000x24 -nolisten tcp &
xvfb_pid=$!
trap 'kill "$xvfb_pid"' EXIT
for _ in $(seq 50); do xdpyinfo >/dev/null 2>&1 && break; sleep 0.1; done
.venv/bin/python scripts/screenshots.py "$@"
