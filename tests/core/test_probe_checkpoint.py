"""scripts/probe_checkpoint.py: the foreground figures on known frames, and every probe on a real run directory's
checkpoint (a short debug-preset dummy_cont run from pixels: replay, images, continuous actions, restorable state)."""

from __future__ import annotations

import re
import sys

import numpy as np
import pytest
import torch

import model_helpers

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def probe():
    return model_helpers.load_script("scripts/probe_checkpoint.py")


def moving_square(steps: int = 8) -> np.ndarray:
    """(T, 16, 16, 3) uint8: a grey background with a white 3x3 square moving right one pixel per frame."""
    frames = np.full((steps, 16, 16, 3), 60, np.uint8)
    for t in range(steps):
        frames[t, 6:9, t : t + 3] = 255
    return frames


def test_foreground_figures_score_what_moves(probe):
    frames = moving_square()
    assert probe.foreground_figures(frames, frames) == (0.0, 0.0, 1.0)  # a perfect reconstruction
    background = np.full_like(frames, 60)  # draws the background and misses the square
    whole, fg, recall = probe.foreground_figures(frames, background)
    assert recall == 0.0 and fg == pytest.approx(195.0**2)  # every square pixel is off by 255 - 60
    assert whole == pytest.approx(195.0**2 * 9 / 256)  # 9 of 256 pixels per frame
    shifted = np.roll(frames, 1, axis=2)  # the square one pixel off: 2 of its 3 columns overlap
    assert probe.foreground_figures(frames, shifted)[2] == pytest.approx(2 / 3)


def test_every_probe_runs_on_a_run_checkpoint(probe, tmp_path, monkeypatch, capsys):
    from dreamer_core.config import make_config
    from dreamer_core.trainer import Trainer

    config = make_config("dummy_cont", "vision", "debug", {"run": {"device": "cpu", "seed": 2, "replay_size": 2000,
                                                                     "train_ratio": 1e-9}})  # untrained: quick
    trainer = Trainer(config, tmp_path / "run")
    try:
        while trainer.counters.agent_steps < 90:  # past an episode's 40 steps: replay holds episode starts
            trainer.step()
        trainer.save()
    finally:
        trainer.close()
    picture = tmp_path / "posterior.png"
    monkeypatch.setattr(sys, "argv", ["probe", str(tmp_path / "run" / "latest.ckpt"), "--episodes", "1",
                                      "--probe-steps", "30", "--trials", "2", "--horizon", "4", "--starts", "16",
                                      "--min-left", "1", "--picture", str(picture)])
    probe.main()
    out = capsys.readouterr().out
    for section in ("1. Action response", "2. Critic", "3. What the posterior draws", "4. Action response from "
                    "matched states", "5. Policy"):
        assert section in out
    recall = float(re.search(r"foreground recall ([0-9.]+)", out).group(1))
    assert 0.0 <= recall <= 1.0
    step1 = re.search(r"step  1: real \+1 vs -1 +([0-9.]+) \| dreamed \+1 vs -1 +([0-9.]+)", out)
    assert float(step1.group(1)) > 0.0  # the real square moves one way or the other: the branches differ
    from PIL import Image

    with Image.open(picture) as image:
        assert image.size == (3 * 64 * 4, 64 * 4)  # one row (step 11 of 30): real | recon | diff, 4x
