"""TensorBoard event files beside metrics.jsonl (`run.tensorboard = true`), for researchers who compare runs there.

Every metrics.jsonl row becomes one scalar per key at `step` = env frames, with the row's `time` as the event's
wall time (so `step` and `time` are the event's coordinates, not scalars of their own); each report's open-loop
video becomes one image grid; the config is text. `tensorboard` is an optional extra: this module imports it only
when a run asks for it.

Shapes as in docs/tensor_shapes.md (T report steps, Tc context steps, h x w frames).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dreamer_core import image_grid, video

if TYPE_CHECKING:
    from dreamer_core.config import Config
    from dreamer_core.report import Report

PIP_COMMAND = "pip install 'tensorboard>=2.14'"
COORDINATES = ("step", "time")  # metrics.jsonl keys that place an event rather than being a scalar
IMAGE_TAG = "report/openloop"
CONFIG_TAG = "config"
BORDER = 2  # pixels of colour around each frame: video.CONTEXT = steps the model saw, IMAGINED = imagined (as HEAD)
REPORT_BUDGET = 0.1  # the periodic report for TensorBoard takes at most this share of the time between them


def summary_writer_class():
    """torch's SummaryWriter, or a one-line error saying how to install what it needs."""
    try:
        import tensorboard  # noqa: F401  (torch.utils.tensorboard needs it, and says less when it is missing)
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ValueError(f"run.tensorboard=true needs the tensorboard package, which is not installed: "
                         f"{PIP_COMMAND} (or pip install 'dreamer-studio[tensorboard]')") from None
    return SummaryWriter


def openloop_grid(report: Report) -> np.ndarray | None:
    """The report's frames as one (3 (h + 4), T (w + 4), 3) uint8 image_grid.bordered_grid, time left to right:
    the real frames, the posterior reconstructions, and the open loop (reconstructions over the Tc context steps,
    then the prior's imagination under the true actions). None when the model decodes no image (a proprio task)."""
    if report.real is None or report.decoded is None or report.openloop is None:
        return None
    tc = report.context_len
    model = np.concatenate([report.decoded[:tc], report.openloop], 0)  # (T, h, w, 3)
    rows = [report.real, report.decoded, model]  # 3 x (T, h, w, 3)
    return image_grid.bordered_grid([[(frame, video.CONTEXT if t < tc else video.IMAGINED)
                                      for t, frame in enumerate(row)] for row in rows], BORDER)


class TensorBoardLog:
    """Writes one run's TensorBoard events into its run directory. `resumed_at`: on a resume, the checkpoint's env
    frames; events after it (written before a crash, now redone) are hidden, as metrics.jsonl keeps only its rows
    up to the checkpoint."""

    def __init__(self, logdir: str | Path, config: Config, resumed_at: int | None = None) -> None:
        purge = None if resumed_at is None else resumed_at + 1  # TensorBoard hides steps >= purge_step
        self.writer = summary_writer_class()(log_dir=str(logdir), purge_step=purge, flush_secs=30)
        # Indented four spaces: TensorBoard renders text as Markdown, and this keeps the JSON verbatim.
        text = "\n".join("    " + line for line in config.to_json().splitlines())
        self.writer.add_text(CONFIG_TAG, text, global_step=resumed_at or 0)
        self._next_report = 0.0  # time.time() after which `report_due` says yes

    def scalars(self, row: dict[str, Any]) -> None:
        """One metrics.jsonl row: every numeric key but `step` and `time`, at step = env frames."""
        step, wall = int(row["step"]), row.get("time")
        for key, value in row.items():
            if key in COORDINATES or isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            self.writer.add_scalar(key, float(value), global_step=step, walltime=wall)

    def report_due(self) -> bool:
        """Whether the trainer should make a report for its image (the headless CLI makes none of its own)."""
        return time.time() >= self._next_report

    def report(self, report: Report, cost: float = 0.0, every: float = 0.0) -> None:
        """Logs a report's open-loop grid. `cost`: seconds the report took, so the next periodic one waits at least
        cost / REPORT_BUDGET (a big model's reports stay a small share of training); `every`: run.report_every."""
        self._next_report = time.time() + max(every, cost / REPORT_BUDGET)
        grid = openloop_grid(report)
        if grid is not None:
            self.writer.add_image(IMAGE_TAG, grid, global_step=report.env_frames, walltime=report.wall_time,
                                  dataformats="HWC")

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
