"""Headless defaults for every test: set before dm_control, pygame or Qt are imported."""

import os

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
# Tests use tiny models: one intra-op thread avoids OpenMP oversubscription on small (2-core) machines,
# where two spinning thread pools make a tiny model 10-50x slower.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402

torch.set_num_threads(1)
