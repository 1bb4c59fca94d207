"""Sweep: branch the future on one choice (issue 16 §3), from the report on screen (dreamer_core.sweep).

From the step under the time cursor (dreamer_core.cursor: a context step's posterior, or an imagined step of the
dream the critic and latent panels follow, in the report's unedited futures) one future per choice of the first
action: every discrete action, or one continuous dimension over a few values with the others from the
policy; after it the policy acts, and all futures share one seeded random stream, so the choice is the only
difference. Side by side, each captioned with its predicted return (the sum of predicted rewards plus the critic's
value at the horizon, undiscounted); the best one is marked. Frames top to bottom for vision, a plot of the decoded
vector for proprio.

Threads: the sweep runs on a short background job (jobs.Job) with its own CPU copy of the report's weights (the
copy `dreamer_studio.imagine` keeps per report, taken on the trainer thread), so neither the GUI nor the trainer
waits for it, and the trainer's model is never touched.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Slot
from PySide6.QtWidgets import QComboBox, QGridLayout, QHBoxLayout, QLabel, QSpinBox, QWidget

from dreamer_core import image_grid, play, sweep, threads, video
from dreamer_studio import imagine, theme
from dreamer_studio.jobs import Job
from dreamer_studio.panels.base import ElidedLabel, Panel
from dreamer_studio.panels.fitted import FittedImageView
from dreamer_studio.session import View

NOTE = ("one future per choice of the first action, then the policy acts; all on the same random stream (seed), so "
        "the choice is the only difference · predicted return = sum of predicted rewards + value at the horizon · "
        "★ best")


def future_caption(agent_discrete: bool, future, dim: int | None, best: bool) -> str:
    what = f"action {int(future.choice) + 1}" if agent_discrete else f"a[{dim}] = {future.choice:+.1f}"
    return f"{'★ ' if best else ''}{what} · predicted return {future.predicted_return:+.3f}"


class SweepPanel(Panel):
    title = "Sweep"

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.window = None
        self.result: sweep.Sweep | None = None  # the sweep on screen
        self.result_key: tuple | None = None  # (report id, horizon, seed, dim) it was made for
        self.job: Job | None = None
        self._wanted: tuple | None = None
        self._agent_for: tuple[int, object] | None = None  # (id of the weights, CPU agent copy)
        self._discrete = True
        self._view: View | None = None
        self._poll = QTimer(self, interval=50)
        self._poll.timeout.connect(self._harvest)
        layout = self.content_layout()
        row = QHBoxLayout()
        self.horizon = QSpinBox(minimum=1, maximum=64, value=15)
        self.horizon.setToolTip("imagined steps of each future")
        self.seed = QSpinBox(minimum=0, maximum=2**31 - 1, value=0)
        self.seed.setToolTip("the random stream every future shares")
        self.dim = QComboBox()
        self.dim.setToolTip("continuous actions: the dimension of the first action that is swept over "
                            f"{', '.join(f'{v:+.1f}' for v in sweep.DEFAULT_VALUES)}")
        for label, widget in (("horizon", self.horizon), ("seed", self.seed), ("swept dimension", self.dim)):
            row.addWidget(QLabel(label))
            row.addWidget(widget)
        row.addStretch(1)
        layout.addLayout(row)
        self.caption = ElidedLabel()
        self.caption.setStyleSheet(theme.CAPTION_STYLE)
        layout.addWidget(self.caption)
        self.grid_host = QWidget()
        self.grid = QGridLayout(self.grid_host)
        self.grid.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.grid_host, 1)
        note = ElidedLabel(NOTE)
        note.setStyleSheet(theme.NOTE_STYLE)
        layout.addWidget(note)
        self.captions: list[QLabel] = []  # one per future on screen (tests read them)
        self.views: list[QWidget] = []
        for w in (self.horizon, self.seed):
            w.setKeyboardTracking(False)
            w.valueChanged.connect(self._changed)
        self.dim.currentIndexChanged.connect(self._changed)

    def attach(self, window) -> None:
        self.window = window

    def key(self, view: View) -> object:
        # Whether the report's weights are kept yet: a view that found none tries again once they are.
        worker = getattr(self.window, "worker", None)
        kept = view.entry is not None and imagine.report_weights(worker, view.entry.id)[1] is not None
        return (id(view.entry), self.result_key, self._settings(), self._cursor(view), kept)

    def _settings(self) -> tuple:
        return self.horizon.value(), self.seed.value(), self.dim.currentIndex()

    @staticmethod
    def _cursor(view: View) -> tuple:
        """(t, sample, request id of the imagination): the step the sweep branches from."""
        return view.t, view.sample, view.result.request_id if view.result is not None else None

    def refresh(self, view: View, force: bool = False) -> None:
        self._view = view  # the newest view: a settings change or a finished sweep goes on from it
        super().refresh(view, force)

    def _changed(self, *_) -> None:
        if self._view is not None and self.isVisible():
            self.refresh(self._view, force=True)

    def render(self, view: View) -> None:
        entry = view.entry
        if entry is None:
            self.show_placeholder("The sweep appears with the first report: one future per choice of the first "
                                  "action, from the step under the time cursor.")
            return
        worker = getattr(self.window, "worker", None)
        info = getattr(worker, "info", None)
        if info is not None and self.dim.count() != (0 if info.discrete else info.act_dim):
            self.dim.blockSignals(True)
            self.dim.clear()
            if not info.discrete:
                self.dim.addItems([f"dim {d}" for d in range(info.act_dim)])
            self.dim.blockSignals(False)
        self.dim.setEnabled(self.dim.count() > 0)
        want = (entry.id, *self._settings(), *self._cursor(view))
        if self.result_key == want:
            self.show_content()
            return
        if self.result is None:
            self.show_placeholder("sweeping the first action from the step under the time cursor…")
        self._wanted = want
        self._start(entry, view.result, worker)

    def _start(self, entry, result, worker) -> None:
        if self.job is not None and self.job.isRunning():
            return  # the newest wish is taken up when this one is done
        agent, weights = imagine.report_weights(worker, entry.id)
        if agent is None or weights is None:
            self.show_placeholder("The sweep needs the weights of the report on screen, and this model is too large "
                                  "to keep a copy per report (see KEEP_BYTES in dreamer_studio/imagine.py).")
            return
        want = self._wanted
        horizon, seed, dim_index, t, sample, _ = want[1:]
        dim = None if agent.act_space.discrete else max(0, dim_index)
        self._discrete = agent.act_space.discrete
        report, imagination = entry.report, None if result is None else result.base
        cached = self._agent_for
        config, obs_space, act_space = agent.config, agent.obs_space, agent.act_space

        def run(_progress):
            threads.leave_cores_to_the_trainer()
            copy = cached[1] if cached is not None and cached[0] == id(weights) else None
            if copy is None:
                copy = play.player_agent(config, obs_space, act_space, weights)
            return want, (id(weights), copy), sweep.sweep_from_cursor(copy, report, imagination, t, sample,
                                                                      horizon=horizon, seed=seed, dim=dim)

        self.job = Job(run, "sweep", parent=self)
        self.job.done.connect(self._harvest)
        self.job.failed.connect(self._harvest)
        self.job.start()
        self._poll.start()  # also polled: a queued `done` from a finished thread was seen to go missing

    @Slot()
    def _harvest(self, *_) -> None:
        """Takes up a finished job's sweep (or its error) once."""
        job = self.job
        if job is None or getattr(job, "taken", False) or not job.wait(0 if job.result is None and job.error is None
                                                                      else 2000):
            return
        job.taken = True
        self._poll.stop()
        if job.error is not None:
            self.show_placeholder(f"The sweep failed: {job.error}")
        else:
            self._on_done(job.result)

    def _on_done(self, out) -> None:
        want, agent_for, result = out
        self._agent_for = agent_for
        self.result, self.result_key = result, want
        self._draw(result)
        self.show_content()
        self._continue()

    def _continue(self) -> None:
        view = self._view
        if view is not None and view.entry is not None and self.isVisible():
            self._wanted = (view.entry.id, *self._settings(), *self._cursor(view))
            if self._wanted != self.result_key:
                self._start(view.entry, view.result, getattr(self.window, "worker", None))

    def _draw(self, result: sweep.Sweep) -> None:
        for w in self.captions + self.views:
            self.grid.removeWidget(w)
            w.deleteLater()
        self.captions, self.views = [], []
        best = result.best()
        for i, f in enumerate(result.futures):
            label = QLabel(future_caption(self._discrete, f, result.dim, f is best))
            label.setStyleSheet(f"color: {theme.CURSOR};" if f is best else theme.CAPTION_STYLE)
            label.setAlignment(Qt.AlignmentFlag.AlignCenter)
            self.grid.addWidget(label, 0, i)
            self.captions.append(label)
            if f.frames is not None:
                view = FittedImageView(interactive=True)
                # The future left to right then top to bottom, in the rows that draw its frames largest.
                frames = [(frame, f"+{i + 1}") for i, frame in enumerate(f.frames)]
                framing = (theme.rgb(theme.CURSOR) if f is best else video.IMAGINED, 2)
                view.show_composed(lambda available, frames=frames, framing=framing:
                                   image_grid.fitted_tiles(frames, available, 2, framing=framing))
            else:
                view = pg.PlotWidget()
                view.setLabel("bottom", "imagined step")
                steps = np.arange(1, len(f.vectors) + 1)
                for d in range(min(6, f.vectors.shape[-1])):
                    view.plot(steps, f.vectors[:, d], pen=pg.mkPen(pg.intColor(d, hues=6), width=1.5))
            self.grid.addWidget(view, 1, i)
            self.views.append(view)
        self.caption.setText(f"{len(result.futures)} futures from {result.origin.describe()} (the time cursor) · "
                             f"horizon {result.horizon} "
                             f"· seed {result.seed}" + ("" if result.dim is None else f" · swept a[{result.dim}]"))
