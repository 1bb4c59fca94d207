"""The main window: panels on tabs, the shared time cursor, run controls, and the GUI timer.

The window never touches the trainer: it sends commands to the trainer thread and, on a ~20 Hz timer, pulls the
newest status, metrics and reports from the worker's stores and hands them to the visible panels.
"""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Slot
from PySide6.QtGui import QAction, QKeySequence, QShortcut
from PySide6.QtWidgets import (QAbstractSpinBox, QApplication, QFileDialog, QLabel, QLineEdit, QMainWindow,
                               QMessageBox, QProgressBar, QSplitter, QTabWidget, QVBoxLayout, QWidget)

from dreamer_core.config import make_config
from dreamer_studio import commands as cmd
from dreamer_studio.export import export_videos
from dreamer_studio.jobs import Job
from dreamer_studio.panels.base import titled
from dreamer_studio.keys import held_action, is_action_key
from dreamer_studio.panels.critic import CriticPanel
from dreamer_studio.panels.frames import FramesPanel
from dreamer_studio.panels.imagination import ImaginationPanel
from dreamer_studio.panels.kl import KLPanel
from dreamer_studio.panels.latents import LatentsPanel
from dreamer_studio.panels.losses import LossesPanel
from dreamer_studio.panels.run import RunPanel
from dreamer_studio.session import ImagineSettings, Status, View, status_text, timeline_length
from dreamer_studio.theme import apply_dark
from dreamer_studio.timeline import TimelineBar
from dreamer_studio.worker import TrainerWorker

TICK_MS = 50  # GUI refresh check: 20 Hz (a tick with nothing new returns at once)
STATUS_HZ = 4  # status-line counters and rates refresh at most this often


class MainWindow(QMainWindow):
    def __init__(self, config=None, logdir: str | Path | None = None, paused: bool = False,
                 save_on_exit: bool = False, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Dreamer Studio")
        self.resize(1600, 1000)
        self.worker: TrainerWorker | None = None
        self.settings = ImagineSettings()
        self.save_on_exit = save_on_exit
        self.t = 0
        self.report_index = -1
        self.follow = True
        self.sample = 0
        self.edits: dict[int, int] = {}
        self.edits_for: int | None = None  # report id the edits belong to
        self.error_box: QMessageBox | None = None
        self.errors: list[tuple[str, str]] = []
        self.export_job: Job | None = None
        self.last_export: list[Path] = []
        self._request_id = 0
        self._held: set[int] = set()
        self._metrics = (-1, [])
        self._ids: list[int] = []
        self._last_tick_key: tuple | None = None
        self._status_text = ""
        apply_dark(QApplication.instance())
        self._build_ui()
        self.timer = QTimer(self)
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self._tick)
        self.timer.start()
        QApplication.instance().installEventFilter(self)
        if config is not None:
            self.start_run(config, logdir=logdir, paused=paused)

    # -- layout --------------------------------------------------------------------------------------------------
    def _build_ui(self) -> None:
        self.frames = FramesPanel()
        self.imagination = ImaginationPanel(self.settings)
        self.kl = KLPanel()
        self.critic = CriticPanel()
        self.latents = LatentsPanel()
        self.losses = LossesPanel()
        self.run_panel = RunPanel()
        self.panels = [self.frames, self.imagination, self.kl, self.critic, self.latents, self.losses,
                       self.run_panel]
        top = QSplitter(Qt.Orientation.Horizontal)
        top.addWidget(titled(self.frames))
        top.addWidget(titled(self.imagination))
        top.setSizes([520, 1080])
        bottom = QSplitter(Qt.Orientation.Horizontal)
        for panel in (self.kl, self.critic, self.latents):
            bottom.addWidget(titled(panel))
        bottom.setSizes([540, 500, 560])
        dream = QSplitter(Qt.Orientation.Vertical)
        dream.addWidget(top)
        dream.addWidget(bottom)
        dream.setSizes([560, 400])
        self.tabs = QTabWidget()
        self.tabs.addTab(dream, "World model")
        self.tabs.addTab(self.losses, "Losses && health")
        self.tabs.addTab(self.run_panel, "Run")
        self.tabs.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.timeline = TimelineBar()
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.timeline)
        self.setCentralWidget(central)
        self.status_label = QLabel()
        self.notice = QLabel()  # short-lived notices; the status line itself is never hidden
        self.notice.setStyleSheet("color: #90caf9;")
        self.statusBar().addPermanentWidget(self.status_label, 1)
        self.statusBar().addPermanentWidget(self.notice)
        self._notice_timer = QTimer(self)
        self._notice_timer.setSingleShot(True)
        self._notice_timer.timeout.connect(self.notice.clear)
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(240)
        self.progress.setVisible(False)
        self.statusBar().addPermanentWidget(self.progress)
        self._build_actions()
        self.imagination.controls.changed.connect(self.on_settings)
        self.imagination.controls.export_requested.connect(self.on_export_clicked)
        self.imagination.cursor_requested.connect(self.set_t)
        self.latents.edit_requested.connect(self.on_edit)
        self.latents.reset_requested.connect(self.reset_edits)
        self.timeline.t_changed.connect(self.set_t)
        self.timeline.report_changed.connect(self.on_report_scrub)
        self.timeline.follow_changed.connect(self.on_follow)
        self.run_panel.action.connect(self.on_run_action)
        self.run_panel.start_new.connect(self.on_start_new)

    def _build_actions(self) -> None:
        bar = self.addToolBar("run")
        bar.setMovable(False)
        specs = [("Start", "Ctrl+Return", "start"), ("Pause", "Ctrl+Space", "toggle"), ("Step", "Ctrl+Right", "step"),
                 ("Stop", "", "stop"), ("Save", "Ctrl+S", "save"), ("Load…", "Ctrl+L", "load"),
                 ("Open run…", "Ctrl+O", "open_run"), ("Export…", "Ctrl+E", "export")]
        self.actions_by_name: dict[str, QAction] = {}
        for text, keys, name in specs:
            action = QAction(text, self)
            if keys:
                action.setShortcut(QKeySequence(keys))
                action.setToolTip(f"{text} ({keys})")
            action.triggered.connect(lambda _=False, n=name: self.on_run_action(n))
            bar.addAction(action)
            self.actions_by_name[name] = action
        for key, slot in ((Qt.Key.Key_Space, self.timeline.toggle_play), (Qt.Key.Key_Left, self.step_back),
                          (Qt.Key.Key_Right, self.step_forward), (Qt.Key.Key_Home, self.go_first),
                          (Qt.Key.Key_End, self.go_last), (Qt.Key.Key_Up, self.older_report),
                          (Qt.Key.Key_Down, self.newer_report)):
            QShortcut(QKeySequence(key), self, activated=slot)

    # -- runs ----------------------------------------------------------------------------------------------------
    def start_run(self, config=None, logdir: str | Path | None = None, paused: bool = False,
                  watch_dir: str | Path | None = None, device: str | None = None) -> None:
        self.stop_run()
        self._reset_view()
        worker = TrainerWorker(config, logdir=logdir, paused=paused, watch_dir=watch_dir, device=device,
                               save_on_exit=self.save_on_exit and watch_dir is None, settings=self.settings)
        worker.ready.connect(self.on_ready)
        worker.errored.connect(self.on_error)
        worker.report_ready.connect(self.on_report)
        worker.saved.connect(self.on_saved)
        worker.loaded.connect(self.on_loaded)
        worker.paused.connect(self.on_paused)
        worker.resumed.connect(self.on_resumed)
        self.worker = worker
        if config is not None:
            self.setWindowTitle(f"Dreamer Studio — {config.env.task} ({config.env.obs}) · preset {config.preset}")
        else:
            self.setWindowTitle(f"Dreamer Studio — watching {watch_dir}")
        worker.start()

    def stop_run(self) -> None:
        if self.worker is not None:
            self.worker.stop_and_wait()

    def open_run_dir(self, path: str | Path, device: str | None = None) -> None:
        if not (Path(path) / "config.json").is_file():
            self.show_error("Not a run directory", f"{path} has no config.json. Pick a directory written by "
                            "`dreamer-studio train --headless --logdir DIR`.")
            return
        self.start_run(None, watch_dir=path, device=device)

    def send(self, command: cmd.Command) -> bool:
        if self.worker is None or not self.worker.isRunning():
            self.notify("no run is active: start one on the Run page", 4000)
            return False
        try:
            self.worker.send(command)
        except cmd.InboxFull as exc:
            self.show_error("Trainer not responding", str(exc))
            return False
        return True

    def save_checkpoint(self, path: str | Path | None = None) -> None:
        self.send(cmd.Save(str(path) if path else None))

    def load_checkpoint(self, path: str | Path) -> None:
        self.send(cmd.Load(str(path)))

    def _reset_view(self) -> None:
        self.t, self.report_index, self.follow, self.sample = 0, -1, True, 0
        self.edits, self.edits_for = {}, None
        self._metrics, self._ids = (-1, []), []
        self.latents.set_edits({})
        self.timeline.follow.setChecked(True)

    # -- worker signals (all in the GUI thread) -----------------------------------------------------------------
    @Slot(object)
    def on_ready(self, info) -> None:
        self.notify(f"run ready on {info.device}", 3000)

    @Slot(str, str, str)
    def on_error(self, title: str, message: str, details: str) -> None:
        paused = "" if title.startswith("Could not start") else "\n\nThe run is paused; resume when ready."
        self.show_error(title, message + paused, details)

    @Slot(int)
    def on_report(self, report_id: int) -> None:
        pass  # the timer picks it up; the signal exists for tests and the benchmark

    @Slot(str)
    def on_saved(self, path: str) -> None:
        self.notify(f"saved {path}", 5000)

    @Slot(str)
    def on_loaded(self, path: str) -> None:
        self.notify(f"loaded {path}", 5000)

    @Slot()
    def on_paused(self) -> None:
        self.actions_by_name["toggle"].setText("Resume")

    @Slot()
    def on_resumed(self) -> None:
        self.actions_by_name["toggle"].setText("Pause")

    def notify(self, text: str, ms: int = 4000) -> None:
        self.notice.setText(text)
        self._notice_timer.start(ms)

    def show_error(self, title: str, message: str, details: str = "") -> None:
        """A non-modal message box: the window stays usable and training state is kept."""
        self.errors.append((title, message))
        if self.error_box is not None:
            self.error_box.close()
        box = QMessageBox(QMessageBox.Icon.Warning, title, message, QMessageBox.StandardButton.Ok, self)
        if details:
            box.setDetailedText(details)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.finished.connect(self._error_closed)
        self.error_box = box
        box.open()

    @Slot()
    def _error_closed(self) -> None:
        self.error_box = None

    # -- user actions ------------------------------------------------------------------------------------------
    @Slot(str)
    def on_run_action(self, name: str) -> None:
        status = self.worker.status.get()[1] if self.worker else None
        simple = {"start": cmd.Resume, "pause": cmd.Pause, "step": cmd.Step, "report": cmd.ReportNow}
        if name in simple:
            self.send(simple[name]())
        elif name == "toggle":
            self.send(cmd.Resume() if status is not None and status.paused else cmd.Pause())
        elif name == "stop":
            self.stop_run()
        elif name == "save":
            if self.worker and self.worker.info and self.worker.info.logdir:
                self.save_checkpoint()
            else:
                name = "save_as"
        if name == "save_as":
            path, _ = QFileDialog.getSaveFileName(self, "Save checkpoint", "latest.ckpt", "Checkpoints (*.ckpt)")
            if path:
                self.save_checkpoint(path)
        elif name == "load":
            path, _ = QFileDialog.getOpenFileName(self, "Load checkpoint", "", "Checkpoints (*.ckpt)")
            if path:
                self.load_checkpoint(path)
        elif name == "open_run":
            path = QFileDialog.getExistingDirectory(self, "Open a run directory", "runs")
            if path:
                self.open_run_dir(path)
        elif name == "export":
            self.on_export_clicked()

    @Slot(str, str, str, int, str)
    def on_start_new(self, task: str, obs: str, preset: str, seed: int, device: str) -> None:
        try:
            config = make_config(task, obs, preset, {"run": {"seed": seed, "device": device}})
        except ValueError as exc:
            self.show_error("Cannot start the run", str(exc))
            return
        logdir = Path("runs") / "studio" / f"{task}-{obs}-{preset}-{time.strftime('%Y%m%d-%H%M%S')}"
        self.start_run(config, logdir=logdir)

    @Slot(object)
    def on_settings(self, settings: ImagineSettings) -> None:
        self.settings = settings
        self._request_imagine()

    @Slot(int, int)
    def on_edit(self, s: int, c: int) -> None:
        entry = self._entry()[0]
        if entry is None:
            return
        if self.edits_for != entry.id:
            self.edits, self.edits_for = {}, entry.id
        if int(entry.start_stoch[s].argmax()) == c:
            self.edits.pop(s, None)  # clicking the original class undoes that edit
        else:
            self.edits[s] = c
        self.timeline.follow.setChecked(False)  # pin this report while editing it
        self.latents.set_edits(self.edits)
        self._request_imagine()

    def edit_latent(self, s: int, c: int) -> None:
        self.on_edit(s, c)

    @Slot()
    def reset_edits(self) -> None:
        self.edits = {}
        self.latents.set_edits({})
        self._request_imagine()

    def _request_imagine(self) -> int:
        entry = self._entry()[0]
        if entry is None:
            return 0
        self._request_id += 1
        edits = tuple(sorted(self.edits.items())) if self.edits_for == entry.id else ()
        self.send(cmd.Imagine(entry.id, self.settings, edits, self._request_id))
        return self._request_id

    @Slot()
    def on_export_clicked(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export imagination (writes .mp4 and .gif)",
                                              "imagination.mp4", "Video (*.mp4 *.gif)")
        if path:
            self.export(path)

    def export(self, stem: str | Path) -> Job | None:
        entry, result = self._entry()
        if entry is None:
            self.show_error("Nothing to export", "There is no report yet: wait for the first one.")
            return None
        if self.export_job is not None and self.export_job.isRunning():
            self.notify("an export is already running", 3000)
            return None
        job = Job(lambda progress: export_videos(entry, result, stem, progress=progress), "export", self)
        job.progress.connect(self.on_export_progress)
        job.done.connect(self.on_export_done)
        job.failed.connect(self.on_export_failed)
        self.export_job = job
        self.progress.setRange(0, 0)
        self.progress.setFormat("exporting %p%")
        self.progress.setVisible(True)
        job.start()
        return job

    @Slot(int, int)
    def on_export_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, total)
        self.progress.setValue(done)

    @Slot(object)
    def on_export_done(self, paths) -> None:
        self.last_export = list(paths)
        self.progress.setVisible(False)
        self.notify("exported " + ", ".join(str(p) for p in paths), 8000)

    @Slot(str, str)
    def on_export_failed(self, message: str, details: str) -> None:
        self.progress.setVisible(False)
        self.show_error("Export failed", message, details)

    # -- cursor ----------------------------------------------------------------------------------------------------
    @Slot(int)
    def set_t(self, t: int) -> None:
        entry, result = self._entry()
        self.t = max(0, min(int(t), timeline_length(entry, result) - 1))

    @Slot()
    def step_back(self) -> None:
        self.set_t(self.t - 1)

    @Slot()
    def step_forward(self) -> None:
        self.set_t(self.t + 1)

    @Slot()
    def go_first(self) -> None:
        self.set_t(0)

    @Slot()
    def go_last(self) -> None:
        self.set_t(10**9)

    @Slot()
    def older_report(self) -> None:
        self.on_report_scrub(max(0, self._index() - 1))

    @Slot()
    def newer_report(self) -> None:
        self.on_report_scrub(self._index() + 1)

    @Slot(int)
    def on_report_scrub(self, index: int) -> None:
        if not self._ids:
            return
        index = max(0, min(index, len(self._ids) - 1))
        if index != len(self._ids) - 1:
            self.timeline.follow.setChecked(False)
        self.report_index = index
        self._ensure_current_settings()

    @Slot(bool)
    def on_follow(self, on: bool) -> None:
        if not on and self.follow:
            self.report_index = self._index()  # pin the report on screen now
        self.follow = on

    def _index(self) -> int:
        if not self._ids:
            return -1
        return len(self._ids) - 1 if self.follow or self.report_index < 0 else min(self.report_index,
                                                                                     len(self._ids) - 1)

    def _entry(self):
        if self.worker is None:
            return None, None
        index = self._index()
        return self.worker.reports.get(self._ids[index] if index >= 0 else None)

    def _ensure_current_settings(self) -> None:
        """A report viewed with other settings than it was imagined with gets re-imagined."""
        entry, result = self._entry()
        if entry is None:
            return
        edits = tuple(sorted(self.edits.items())) if self.edits_for == entry.id else ()
        if result is None or result.settings != self.settings or result.edits != edits:
            self._request_imagine()

    # -- held keys as imagined actions --------------------------------------------------------------------------
    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt naming)
        kind = event.type()
        if kind not in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease) or self.settings.source != "keys":
            return False
        if event.isAutoRepeat() or not self.isActiveWindow():
            return False
        if isinstance(QApplication.focusWidget(), (QLineEdit, QAbstractSpinBox)):
            return False
        key = event.key()
        info = self.worker.info if self.worker else None
        if info is None or not is_action_key(key):
            return False
        (self._held.add if kind == QEvent.Type.KeyPress else self._held.discard)(key)
        self.imagination.controls.set_held(self.held_action(info.act_dim, info.discrete))
        return True

    def held_action(self, act_dim: int, discrete: bool) -> tuple[float, ...]:
        return held_action(self._held, act_dim, discrete)

    # -- the timer -----------------------------------------------------------------------------------------------
    @Slot()
    def _tick(self) -> None:
        key = self._tick_key()
        if key == self._last_tick_key:
            return  # nothing new: keep the GUI thread (and the GIL) free for the trainer
        self._last_tick_key = key
        worker = self.worker
        status = worker.status.get()[1] if worker else Status(phase="idle", message="no run: start one on the "
                                                                "Run page or open a run directory")
        info = worker.info if worker else None
        self._update_status_line(status, info)
        if worker is not None:
            if worker.metrics.version != self._metrics[0]:
                self._metrics = worker.metrics.snapshot()
            ids = worker.reports.ids()
            if ids != self._ids:
                self._ids = ids
                self._ensure_current_settings()
        entry, result = self._entry()
        length = timeline_length(entry, result)
        self.t = min(self.t, length - 1)
        context = entry.report.context_len if entry else 0
        self.timeline.set_range(length, context)
        self.timeline.set_t(self.t, length, context)
        index = self._index()
        text = "no reports yet"
        if entry is not None:
            ago = time.time() - entry.made_at
            text = f"{index + 1}/{len(self._ids)} · {entry.report.updates:,} updates · {ago:.0f} s ago"
        self.timeline.set_reports(len(self._ids), max(index, 0), text)
        if self.edits_for is not None and entry is not None and entry.id != self.edits_for and self.edits:
            self.edits, self.edits_for = {}, None
            self.latents.set_edits({})
        view = View(entry=entry, result=result, t=self.t, sample=self.sample, status=status, info=info,
                    metrics_version=self._metrics[0], metrics=self._metrics[1])
        for panel in self.panels:
            panel.refresh(view)

    def _tick_key(self) -> tuple:
        """Everything the tick's output depends on. Status counters and rates change every agent step, so they
        enter only STATUS_HZ times a second (and at once when the phase changes)."""
        worker = self.worker
        if worker is None:
            return (None, self.t, self.sample)
        status = worker.status.get()[1]
        phase = (status.phase, status.paused, status.message) if status is not None else None
        return (id(worker), phase, int(time.monotonic() * STATUS_HZ), worker.metrics.version,
                worker.reports.version, self.t, self.sample, self.report_index, self.follow, self.edits_for,
                tuple(sorted(self.edits.items())))

    def _update_status_line(self, s: Status, info) -> None:
        text = status_text(s, info, bool(self._ids))
        if text != self._status_text:
            self._status_text = text
            self.status_label.setText(text)

    # -- shutdown ------------------------------------------------------------------------------------------------
    def closeEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        self.timer.stop()
        QApplication.instance().removeEventFilter(self)
        if self.export_job is not None:
            self.export_job.wait()
        self.stop_run()
        super().closeEvent(event)
