"""Rollout videos: a report's context, open-loop prediction and sampled futures as one labelled grid video.

Columns: truth | open loop (true actions) | sample 1..K (policy). Context frames get a green border, imagined
frames a red one, as in the official open-loop video; every frame is labelled with step, seed and horizon.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from dreamer_core import video
from dreamer_core.paths import writable_dir
from dreamer_core.report import Report


def report_grid(report: Report) -> tuple[np.ndarray, list[str]]:
    """(N, H, W*(2+K), 3) frames of the report's rollout grid and per-frame labels."""
    if report.decoded is None or report.openloop is None or report.imagination.frames is None:
        raise ValueError("this run's model reads vectors only (a proprio task), so it imagines no frames to export; "
                         "train with --obs vision to export imagined videos")
    ctx = report.context_len
    samples = report.imagination.frames  # (K, Hi, H, W, 3)
    k, hi = samples.shape[:2]
    length = ctx + max(hi, report.openloop.shape[0])
    truth = _pad(report.real, length)
    openloop = _pad(np.concatenate([report.decoded[:ctx], report.openloop]), length)
    futures = [_pad(np.concatenate([report.decoded[:ctx], samples[i]]), length) for i in range(k)]
    frames, labels = [], []
    for t in range(length):
        color = video.CONTEXT if t < ctx else video.IMAGINED
        tiles = [video.add_border(col[t], color) for col in [truth, openloop, *futures]]
        frames.append(np.concatenate(tiles, axis=1))
        phase = "context" if t < ctx else f"imagined +{t - ctx + 1}"
        labels.append(f"update {report.updates} seed {report.seed} H{hi} t{t} {phase}")
    return np.stack(frames), labels


def _pad(frames: np.ndarray, length: int) -> np.ndarray:
    """Repeats the last frame so every column has `length` frames."""
    if frames.shape[0] >= length:
        return frames[:length]
    return np.concatenate([frames, np.repeat(frames[-1:], length - frames.shape[0], 0)])


def write_report_video(report: Report, out: Path, fps: int = 10, scale: int = 2) -> Path:
    frames, labels = report_grid(report)
    return video.write_video(out, frames, fps=fps, labels=labels, scale=scale)


def export_rollout(logdir: Path, out: Path, seed: int = 0, samples: int = 3, horizon: int | None = None,
                   fps: int = 10) -> Path:
    """Loads the run in `logdir` (config.json + latest.ckpt) and writes its imagined rollouts to `out`.

    Read-only on the run directory: the checkpoint is loaded into a trainer without a logdir, so exporting from a
    run that is still training neither takes its lock nor touches its logs."""
    from dataclasses import replace

    from dreamer_core import models
    from dreamer_core.config import Config
    from dreamer_core.run import CHECKPOINT_NAME, Trainer

    if out.suffix.lower() not in video.SUFFIXES:
        raise ValueError(f"--out {out} must end in {' or '.join(video.SUFFIXES)}, e.g. --out rollout.mp4")
    if out.is_dir():
        raise ValueError(f"--out {out} is a directory; name the video file, e.g. --out {out / 'rollout.mp4'}")
    # Checked before the (slow) load, so an unwritable --out costs nothing.
    writable_dir(out.parent, "the directory of --out", "pass an --out in a directory you can write to")
    logdir = models.locate(logdir)  # assets/models/<name> names a shipped model, also from a wheel
    model = models.is_model_dir(logdir)  # a model-only checkpoint: no replay, so a fresh context is collected
    config_path = logdir / "config.json"
    if not config_path.exists() or not (model or (logdir / CHECKPOINT_NAME).exists()):
        raise FileNotFoundError(f"{logdir} is not a run directory with config.json and {CHECKPOINT_NAME}; "
                                f"pass the --logdir of a run trained with `dreamer-studio train --headless`")
    try:
        config = Config.from_dict(json.loads(config_path.read_text()))
    except ValueError as exc:  # not JSON, or a field config validation refuses (env.task, a number out of range)
        raise ValueError(f"{config_path}: {exc}") from None
    if config.env.obs != "vision":
        raise ValueError(f"{logdir} trains on vectors (--obs {config.env.obs}), so its model imagines no frames "
                         "to export; train with --obs vision to export imagined videos")
    # Whatever device it trained on, export runs where this machine can (a GPU run exports on a laptop).
    config = replace(config, run=replace(config.run, device="auto", compile=False))
    trainer = models.open_model(logdir, replay_size=1000) if model else Trainer(config, None)
    try:
        if not model:
            trainer.load(logdir / CHECKPOINT_NAME)
        report = trainer.report(seed=seed, samples=samples, horizon=horizon)
        if report is None:
            raise ValueError(f"{logdir} holds too little replay data for a report; train longer first")
        try:
            return write_report_video(report, out, fps=fps)
        except OSError as exc:  # the disk filled up, the directory went away: one line, not ffmpeg's traceback
            raise ValueError(f"could not write {out} ({exc.strerror or exc}); free space or pass another --out") \
                from None
    finally:
        trainer.close()
