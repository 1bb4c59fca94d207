"""Rollout videos from the command line: a run's report as the app's labelled imagination grid video.

One frame per timeline step: truth | open loop (true actions) | dream 1..M (policy) side by side, as the app's
Export writes them (dreamer_core.image_grid): green borders on context frames, red on imagined, grey on the truth,
each frame captioned with update count, seed, horizon, temperature, actions and step.
"""

from __future__ import annotations

from pathlib import Path

from dreamer_core import video
from dreamer_core.image_grid import ImaginationGrid
from dreamer_core.paths import writable_dir
from dreamer_core.report import Report


def write_report_video(report: Report, out: Path, fps: int = 10) -> Path:
    """Writes the report's imagination grid with its own M futures to `out` (.mp4 or .gif)."""
    grid, own = ImaginationGrid(report), report.imagination
    return video.write_video(out, grid.video_frames(), fps=fps, labels=grid.video_captions(own.seed, own.temperature))


def export_rollout(logdir: Path, out: Path, seed: int = 0, samples: int = 3, horizon: int | None = None,
                   fps: int = 10) -> Path:
    """Loads the run in `logdir` (config.json + latest.ckpt) and writes its imagined rollouts to `out`.

    Read-only on the run directory: the checkpoint is loaded into a trainer without a logdir, so exporting from a
    run that is still training neither takes its lock nor touches its logs."""
    from dataclasses import replace

    from dreamer_core import models
    from dreamer_core.logdir import CHECKPOINT_NAME, CONFIG_NAME, read_config
    from dreamer_core.trainer import Trainer

    if out.suffix.lower() not in video.SUFFIXES:
        raise ValueError(f"--out {out} must end in {' or '.join(video.SUFFIXES)}, e.g. --out rollout.mp4")
    if out.is_dir():
        raise ValueError(f"--out {out} is a directory; name the video file, e.g. --out {out / 'rollout.mp4'}")
    # Checked before the (slow) load, so an unwritable --out costs nothing.
    writable_dir(out.parent, "the directory of --out", "pass an --out in a directory you can write to")
    logdir = models.locate(logdir)  # assets/models/<name> names a shipped model, also from a wheel
    model = models.is_model_dir(logdir)  # a model-only checkpoint: no replay, so a fresh context is collected
    if not (logdir / CONFIG_NAME).exists() or not (model or (logdir / CHECKPOINT_NAME).exists()):
        raise FileNotFoundError(f"{logdir} is not a run directory with {CONFIG_NAME} and {CHECKPOINT_NAME}; "
                                "pass the --logdir of a run that `train` wrote")
    config = read_config(logdir)
    if config.env.obs != "vision":
        raise ValueError(f"{logdir} trains on vectors (--obs {config.env.obs}), so its model imagines no frames "
                         "to export; train with --obs vision to export imagined videos")
    # Whatever device it trained on, export runs where this machine can (a GPU run exports on a laptop).
    config = replace(config, run=replace(config.run, device="auto", compile=False))
    trainer = models.open_model(logdir, replay_size=1000) if model else Trainer(config, None)
    try:
        if not model:
            trainer.load(logdir / CHECKPOINT_NAME, any_world_size=True)  # a DDP run's: its rank 0 part
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
