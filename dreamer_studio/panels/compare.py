"""Compare: the live model against a checkpoint on the same context, under the one time cursor.

*Checkpoint to compare…* loads a checkpoint file of a run with the same config (an hour-old `latest.ckpt`, another
run directory's, a shipped `model.ckpt`; *Run directory…*: a run's or model's newest weights) into a CPU agent of its
own, on a background job (dreamer_core.compare),
so the trainer and the GUI never wait. For the report on screen the other model reports on the same real steps
(its context starts afresh at the first step: the stored latents are the live model's) with the same seed. At the
cursor: the real frame, what the live model shows there and what the other model shows there (the posterior
reconstruction over the context, the open loop under the true actions after it), and the error per step of both.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QFileDialog, QGridLayout, QHBoxLayout, QLabel, QPushButton

from dreamer_core import checkpoint
from dreamer_core.compare import compare_report, other_agent, step_errors
from dreamer_studio import theme
from dreamer_studio.jobs import Job
from dreamer_studio.panels.base import ElidedLabel, ImageView, Panel, report_caption
from dreamer_studio.session import View
from dreamer_studio.shipped import ModelWatcher

LIVE, OTHER = theme.PALETTE[0], theme.PALETTE[1]
LEGEND = (f"<span style='color:{LIVE}'>—</span> {{this}} &nbsp; <span style='color:{OTHER}'>—</span> the "
          "checkpoint · left of the context end: reconstruction, right of it: open loop under the true actions")


def this_model(worker) -> str:
    """The model on screen in words: the live run's, or one that does not train here (a watched run's, a trained
    model's)."""
    watcher = getattr(worker, "watcher", None)
    if watcher is None:
        return "live model"
    return "trained model" if isinstance(watcher, ModelWatcher) else "watched run's model"


def newest_checkpoint(directory: str | Path) -> Path | None:
    """The newest weights in a run or model directory: its newest checkpoint or the watchers' snapshot."""
    found = [p for p in (checkpoint.latest(directory), Path(directory) / checkpoint.WATCH_NAME)
             if p is not None and p.is_file()]
    return max(found, key=lambda p: p.stat().st_mtime_ns) if found else None


def shown_frame(report, t: int) -> np.ndarray | None:
    """(H, W, 3) what a report shows at real step t: its reconstruction in the context, its open loop after."""
    if report.decoded is None or t >= len(report.rewards):
        return None
    return report.decoded[t] if t < report.context_len else report.openloop[t - report.context_len]


class ComparePanel(Panel):
    title = "Compare"

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.window = None
        self.other = None  # dreamer_core.compare.OtherModel
        self.path: str | None = None
        self.results: dict[int, object] = {}  # report id -> the other model's report on it
        self.job: Job | None = None
        self._job_for: int | None = None
        self.placeholder.setText("Load a checkpoint to compare the live model with: Checkpoint to compare…")
        layout = self.content_layout()
        head = QHBoxLayout()
        self.pick = QPushButton("Checkpoint to compare…")
        self.pick.clicked.connect(self._pick)
        head.addWidget(self.pick)
        self.pick_dir = QPushButton("Run directory…")
        self.pick_dir.setToolTip("compare with the newest weights of a run or model directory")
        self.pick_dir.clicked.connect(self._pick_dir)
        head.addWidget(self.pick_dir)
        self.caption = ElidedLabel()
        self.caption.setStyleSheet(theme.CAPTION_STYLE)
        head.addWidget(self.caption, 1)
        layout.addLayout(head)
        grid = QGridLayout()
        self.views = {name: ImageView(interactive=False) for name in ("real", "live", "other")}
        self.titles = {name: QLabel(name) for name in self.views}
        for col, name in enumerate(self.views):
            grid.addWidget(self.titles[name], 0, col)
            grid.addWidget(self.views[name], 1, col)
        layout.addLayout(grid, 3)
        self.plot = pg.PlotWidget()
        self.plot.setLabel("bottom", "report step")
        self.plot.setLabel("left", "image error (MSE)")
        self.curves = {"live": self.plot.plot(pen=pg.mkPen(LIVE, width=2)),
                       "other": self.plot.plot(pen=pg.mkPen(OTHER, width=2))}
        self.cursor_line = pg.InfiniteLine(angle=90, pen=pg.mkPen(theme.PALETTE[3]))
        self.plot.addItem(self.cursor_line)
        layout.addWidget(self.plot, 2)
        self.legend = QLabel(LEGEND.format(this="live model"))
        self.legend.setStyleSheet(theme.NOTE_STYLE)
        layout.addWidget(self.legend)

    def attach(self, window) -> None:
        self.window = window

    def _pick(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Checkpoint to compare with", "runs", "Checkpoints (*.ckpt)")
        if path:
            self.compare_with(path)

    def _pick_dir(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Run or model directory to compare with", "runs")
        if path:
            self.compare_with(path)

    def compare_with(self, path: str) -> None:
        """Loads `path` (on the next job) and compares it on the report on screen. A run or model directory means
        its newest checkpoint (the watchers' snapshot included)."""
        if Path(path).is_dir():
            newest = newest_checkpoint(path)
            if newest is None:
                if self.window is not None:
                    self.window.show_error("Cannot compare", f"{path} holds no checkpoint (*.ckpt) yet.")
                return
            path = newest
        self.path, self.other, self.results = str(path), None, {}
        self.redraw()

    def key(self, view: View) -> object:
        return (id(view.entry), view.t, self.path, id(self.other), len(self.results))

    def render(self, view: View) -> None:
        if self.path is None:
            self.show_placeholder("Load a checkpoint of a run with this config to compare the live model with it "
                                  "on the same context: Checkpoint to compare…")
            return
        if view.entry is None:
            self.show_placeholder("waiting for the first report…")
            return
        self.show_content()
        report = view.entry.report
        other = self.results.get(view.entry.id)
        if other is None:
            self._start(view.entry)
        who = f"checkpoint at {self.other.updates:,} updates" if self.other is not None else "loading the checkpoint"
        this = this_model(getattr(self.window, "worker", None))
        self.legend.setText(LEGEND.format(this=this))
        self.caption.setText(f"{report_caption(view)} ({this}) · {who} · {self.path}"
                             + ("" if other is not None else " · comparing…"))
        t = view.t
        frames = {"real": report.real[t] if report.real is not None and t < len(report.rewards) else None,
                  "live": shown_frame(report, t), "other": shown_frame(other, t) if other is not None else None}
        for name, frame in frames.items():
            if frame is not None:
                self.views[name].set_image(frame)
            else:
                self.views[name].image.clear()
        self.titles["live"].setText(f"{this} ({report.updates:,} updates)")
        if self.other is not None:
            self.titles["other"].setText(f"checkpoint ({self.other.updates:,} updates)")
        images = report.decoded is not None and report.real is not None  # as step_errors measures
        self.plot.setLabel("left", "image error (MSE)" if images else "vector error (MSE)")
        self.curves["live"].setData(step_errors(report))
        self.curves["other"].setData(step_errors(other) if other is not None else [])
        self.cursor_line.setValue(t)

    def _start(self, entry) -> None:
        """One comparison job at a time, for the report on screen; a newer one starts when it is done."""
        if self.job is not None and self.job.isRunning():
            return
        worker = getattr(self.window, "worker", None)
        like = getattr(getattr(worker, "trainer", None), "agent", None)
        if like is None:
            return
        other, path, report = self.other, self.path, entry.report

        def work(progress):
            loaded = other if other is not None else other_agent(path, like)
            return loaded, path, entry.id, compare_report(loaded, report)

        self.job = Job(work, "compare", self)
        self.job.done.connect(self._done)
        self.job.failed.connect(self._failed)
        self._job_for = entry.id
        self.job.start()

    def _done(self, value) -> None:
        loaded, path, report_id, out = value
        if path != self.path:
            return  # another checkpoint was chosen meanwhile
        self.other = loaded
        self.results[report_id] = out
        if len(self.results) > 8:
            self.results = {report_id: out}
        self.redraw()

    def _failed(self, message: str, details: str) -> None:
        self.path, self.other, self.results = None, None, {}
        if self.window is not None:
            self.window.show_error("Cannot compare", message, details)
        self.redraw()
