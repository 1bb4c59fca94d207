"""Replay browser: the episodes replay holds, and any one of them as the context of a report.

The trainer thread lists the episodes (dreamer_core.replay.replay_episodes) each time it makes a report and
publishes the list in `worker.episodes`, so the GUI never reads the replay buffer the trainer writes. Choosing an
episode (double click, or *Use as report context*) asks the trainer for a report on that episode's window
(`commands.ReportFrom`); when it arrives it is pinned on screen (*follow latest report* goes off), so the frames,
the imagination and the latent map show that episode.

*Play from the cursor* makes the moment under the time cursor (a step of the report on screen, a chosen episode's
or any other) Play's context (dreamer_studio.play.PlayWindow.play_from): the dream starts from the posterior at that
report step, with the weights that made the report, and R comes back to it. Replay stores frames, not physics
states, so the real env beside the dream starts from a fresh reset there (Play's status line says so).
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractItemView, QHBoxLayout, QPushButton, QTableWidget, QTableWidgetItem

from dreamer_core import play as core_play
from dreamer_studio import commands as cmd, theme
from dreamer_studio.imagine import report_weights
from dreamer_studio.panels.base import ElidedLabel, Panel
from dreamer_studio.session import View
from dreamer_studio.shipped import ModelWatcher

COLUMNS = ("worker", "first step", "length", "return", "collected at (env frames)", "state")
SHIPPED_WITHOUT = "a trained model ships without one"
NOT_YET_WRITTEN = "the watched run has written no latest.ckpt yet (its watch.ckpt holds weights only)"
NO_RUN_REPLAY = ("no replay: {why}. Listed: the fresh context collected from the env for its report ({steps:,} "
                 "steps), not the episodes it was trained on")


def no_run_replay(worker) -> str | None:
    """Why replay holds only a fresh context collected here, not the run's episodes (None: it holds them)."""
    watcher = getattr(worker, "watcher", None)  # None on a live run, and once a watched one trains a copy
    if isinstance(watcher, ModelWatcher):
        return SHIPPED_WITHOUT
    if watcher is not None and not watcher.run.replay_loaded:
        return NOT_YET_WRITTEN
    return None


def episode_state(ep) -> str:
    if ep.ended:
        return "ended" if ep.whole_start else "ended (its start has left replay)"
    return "in flight"


class ReplayBrowserPanel(Panel):
    title = "Replay"

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.window = None
        self.episodes: list = []  # the EpisodeInfo rows on screen, in table order
        self.pending: tuple[int, int] | None = None  # (worker, first step) asked for, until its report arrives
        self._version = None
        layout = self.content_layout()
        self.caption = ElidedLabel()
        self.caption.setStyleSheet(theme.CAPTION_STYLE)
        layout.addWidget(self.caption)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.cellDoubleClicked.connect(lambda row, _: self.choose(row))
        layout.addWidget(self.table, 1)
        row = QHBoxLayout()
        self.use = QPushButton("Use as report context")
        self.use.setToolTip("a report on this episode's window: its frames, reconstructions and imagined futures")
        self.use.clicked.connect(lambda: self.choose(self.table.currentRow()))
        row.addWidget(self.use)
        self.play = QPushButton("Play from the cursor")
        self.play.setToolTip("Play inside the dream from the report step under the time cursor (the real env beside "
                             "it starts from a fresh reset: replay stores no physics state)")
        self.play.clicked.connect(self.play_from_cursor)
        row.addWidget(self.play)
        row.addStretch(1)
        layout.addLayout(row)

    def attach(self, window) -> None:
        """The browser sends its command and pins the report it asked for through the main window."""
        self.window = window

    def _published(self):
        worker = getattr(self.window, "worker", None)
        store = getattr(worker, "episodes", None)
        return (id(worker), *store.get()) if store is not None else (id(worker), 0, None)

    def key(self, view: View) -> object:
        worker, version, _ = self._published()
        return (worker, version, id(view.entry), self.pending)

    def render(self, view: View) -> None:
        _, version, episodes = self._published()
        if episodes is None:
            self.show_placeholder("The episode list comes with the first report (replay must hold one report "
                                  "window first). A trained model that ships without replay has none.")
            return
        self.show_content()
        if version != self._version:
            self._version = version
            self._fill(episodes)
        self._pin_arrived()

    def _fill(self, episodes: list) -> None:
        self.episodes = list(reversed(episodes))  # newest first
        self.table.setRowCount(len(self.episodes))
        for r, ep in enumerate(self.episodes):
            cells = (ep.worker, ep.start, ep.length, f"{ep.ret:.2f}", f"{ep.end_frames:,}", episode_state(ep))
            for c, value in enumerate(cells):
                item = QTableWidgetItem(str(value))
                side = Qt.AlignmentFlag.AlignLeft if c == len(cells) - 1 else Qt.AlignmentFlag.AlignRight
                item.setTextAlignment(side | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(r, c, item)
        self.table.resizeColumnsToContents()  # headers and numbers unclipped
        ended = [ep for ep in episodes if ep.ended]
        why = no_run_replay(self.window.worker)
        if why is not None:
            what = NO_RUN_REPLAY.format(why=why, steps=sum(ep.length for ep in episodes))
        else:
            what = f"{len(episodes)} episode(s) in replay ({len(ended)} ended), as of the latest report"
        self.caption.setText(what + " · double click one to make it the report's context")

    def choose(self, row: int) -> bool:
        """Asks the trainer for a report on episode `row` of the table; False when there is no such row."""
        if self.window is None or not 0 <= row < len(self.episodes):
            return False
        ep = self.episodes[row]
        if not self.window.send(cmd.ReportFrom(ep.worker, ep.start)):
            return False
        self.pending = (ep.worker, ep.start)
        self.window.notify(f"asked for a report on the episode at step {ep.start:,} of worker {ep.worker}", 4000)
        return True

    def play_from_cursor(self):
        """Opens Play (or brings it up) on the report step under the time cursor; the PlayWindow, or None."""
        from dreamer_studio.play import open_play

        entry = self.window.model.current()[0] if self.window is not None else None
        if entry is None:
            if self.window is not None:
                self.window.notify("Play from the cursor needs a report on screen", 4000)
            return None
        report = entry.report
        try:
            context = core_play.context_from_report(report, self.window.model.t)
        except ValueError as exc:  # a report from before reports kept their posterior states
            self.window.notify(str(exc), 6000)
            return None
        _, weights = report_weights(self.window.worker, entry.id)
        win = open_play(self.window)
        if win is not None:
            win.play_from(context, weights, report.updates if weights is not None else None)
        return win

    def _pin_arrived(self) -> None:
        """Pins the report made from the chosen episode once it is in the history."""
        worker = getattr(self.window, "worker", None)
        if self.pending is None or worker is None:
            return
        for report_id in reversed(worker.reports.ids()):
            entry = worker.reports.get(report_id)[0]
            if entry is not None and getattr(entry.report, "episode", None) == self.pending:
                self.pending = None
                self.window.model.pin(report_id)  # keep it on screen while new reports arrive
                self.window.notify(f"report {report_id} shows the chosen replay episode", 5000)
                return
        if self._version is not None and not any((e.worker, e.start) == self.pending for e in self.episodes):
            self.caption.setText("the chosen episode has left replay (it was overwritten): choose another")
            self.pending = None
