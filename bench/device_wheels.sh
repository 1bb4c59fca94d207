#!/usr/bin/env bash
# Prepares, on THIS machine, what a lent GPU machine lacks to run this project (its image has Python 3.12 and CUDA
# torch, but no MuJoCo, no dm_control and no GL loaders; nothing can be fetched there). Writes:
#   .whl/  cp312 manylinux wheels: mujoco (<4), dm_control slimmed to ~3 MB (the locomotion, dog, blender and test
#          assets dropped: the suite's other domains are all this project loads), dm-env, dm-tree, glfw, pyopengl
#   .gl/   Debian's EGL/GL loader packages, for MuJoCo's EGL rendering (pixels)
# Both are gitignored, ~35 MB together (a call carries at most 64 MiB with the working tree). On the device, name
# both in `carry` and begin the command with:
#   for f in .gl/*.deb; do dpkg -x $f /; done; ldconfig; python3 -m pip install -q --no-index --no-deps \
#     --no-compile --no-cache-dir --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD MUJOCO_GL=egl
# then e.g. `python3 bench/gpu.py --compile --out $OUT/gpu.json`. Never run on a GPU machine yet.
set -euo pipefail
cd "$(dirname "$0")/.."
py=(--python-version 3.12 --implementation cp --only-binary=:all: --no-deps)
plat=(--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_24_x86_64
      --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64)
rm -rf .whl && mkdir -p .whl
python3 -m pip download -q "${py[@]}" "${plat[@]}" -d .whl "mujoco>=3.1,<4" "dm_control==1.0.50" dm-env dm-tree \
  glfw pyopengl
full=$(ls .whl/dm_control-*.whl)
work=$(mktemp -d)
python3 - "$full" "$work/$(basename "$full")" <<'PY'
import sys, zipfile
DROP = ("dm_control/locomotion/", "dm_control/suite/dog_assets/", "dm_control/mujoco/testing/", "dm_control/blender/")
src, dst = sys.argv[1:]
with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
    for item in zin.infolist():
        if not item.filename.startswith(DROP):
            zout.writestr(item, zin.read(item.filename))
PY
mv "$work/$(basename "$full")" "$full" && rmdir "$work"
if command -v apt-get >/dev/null; then  # the loaders the device README names, downloaded, not installed
  mkdir -p .gl /tmp/amd64/partial
  o=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64)
  apt-get "${o[@]}" update -qq && (cd .gl && apt-get "${o[@]}" download -qq libvulkan1 libegl1 libglvnd0 libopengl0 \
    libgl1 libglx0 libgles2)
fi
du -sh .whl .gl 2>/dev/null || du -sh .whl
