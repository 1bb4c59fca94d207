#!/usr/bin/env bash
# Screenshots of Dreamer Studio in a real X window (Xvfb). Needs: apt-get install -y xvfb xauth libxcb-icccm4
# libxcb-keysyms1 imagemagick. Trains ~1 min on the CPU preset; writes docs/screenshots/*.png.
set -euo pipefail
cd "$(dirname "$0")/.."
export QT_QPA_PLATFORM=xcb MUJOCO_GL=egl SDL_VIDEODRIVER=dummy
exec xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python scripts/screenshots.py "$@"
