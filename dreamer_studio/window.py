"""The main window: panels on tabs, the shared time cursor, run controls, and the GUI timer.

The window never touches the trainer: it sends commands to the trainer thread and, on a ~20 Hz timer, pulls the
newest status, metrics and reports from the worker's stores and hands them to the visible panels.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Slot
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QApplication, QFileDialog, QMainWindow, QMessageBox, QProgressBar,
                               QSplitter, QTabWidget, QVBoxLayout, QWidget)

from dreamer_core.logdir import STUDIO_RUNS, default_run_dir
from dreamer_studio import commands as cmd, theme
from dreamer_studio.checks import load_error_text, new_run_config, not_a_checkpoint
from dreamer_studio.export import export_videos
from dreamer_studio.jobs import Job
from dreamer_studio.keyboard import Keyboard
from dreamer_studio.lifecycle import RunLifecycle
from dreamer_studio.panels.base import ElidedLabel, titled
from dreamer_studio.panels.compare import ComparePanel
from dreamer_studio.panels.critic import CriticPanel
from dreamer_studio.panels.frames import FramesPanel
from dreamer_studio.panels.imagination import ImaginationPanel
from dreamer_studio.panels.kl import KLPanel
from dreamer_studio.panels.latent_map import LatentMapPanel
from dreamer_studio.panels.latents import LatentsPanel
from dreamer_studio.panels.losses import LossesPanel
from dreamer_studio.panels.replay_browser import ReplayBrowserPanel
from dreamer_studio.panels.run import RunPanel
from dreamer_studio.panels.sweep import SweepPanel
from dreamer_studio.phase import Phase
from dreamer_studio.session import Status, status_text
from dreamer_studio.shipped import ModelWorker
from dreamer_studio.studio_model import StudioModel
from dreamer_studio.timeline import TimelineBar

TICK_MS = 50  # GUI refresh check: 20 Hz (a tick with nothing new returns at once)
STATUS_HZ = 4  # status-line counters and rates refresh at most this often


class MainWindow(QMainWindow):
    """What the user looks at lives in `model` (a Qt-free StudioModel); the window shows it and binds the
    widgets to it. Its run (the trainer worker, started, stopped and closed without blocking) lives in
    `lifecycle`. `save_on_exit`: stopping or closing saves latest.ckpt in the run directory when anything
    changed since the last save. `fork_root`: where Start/resume on a watched run directory trains its local
    copy."""

    def __init__(self, config=None, logdir: str | Path | None = None, paused: bool = False,
                 save_on_exit: bool = True, fork_root: str | Path | None = STUDIO_RUNS,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Dreamer Studio")
        self.resize(1600, 1000)
        self.model = StudioModel(self.send)
        self.lifecycle = RunLifecycle(self, lambda: self.model.settings, save_on_exit, fork_root)
        self.error_box: QMessageBox | None = None
        self.errors: list[tuple[str, str]] = []
        self.export_job: Job | None = None
        self.last_export: list[Path] = []
        self._last_tick_key: tuple | None = None
        self._status_text = ""
        theme.apply_dark(QApplication.instance())
        self._build_ui()
        self.timer = QTimer(self)
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self._tick)
        self.timer.start()
        self.keyboard = Keyboard(self)
        QApplication.instance().installEventFilter(self.keyboard)
        if config is not None:
            self.lifecycle.start(config, logdir=logdir, paused=paused)

    @property
    def worker(self):
        """The run's trainer worker (None before the first run), kept until its thread has finished."""
        return self.lifecycle.worker

    # -- layout --------------------------------------------------------------------------------------------------
    def _build_ui(self) -> None:
        self.frames = FramesPanel()
        self.imagination = ImaginationPanel(self.model.settings)
        self.kl = KLPanel()
        self.critic = CriticPanel()
        self.latents = LatentsPanel()
        self.losses = LossesPanel()
        self.run_panel = RunPanel()
        self.panels = [self.frames, self.imagination, self.kl, self.critic, self.latents, self.losses,
                       self.run_panel]
        self.latent_map, self.replay_browser, self.compare = LatentMapPanel(), ReplayBrowserPanel(), ComparePanel()
        self.replay_browser.attach(self)
        self.compare.attach(self)
        self.panels += [self.latent_map, self.replay_browser, self.compare]  # issue 16 §5
        self.sweep = SweepPanel()  # issue 16 §3: one future per choice of the first action
        self.sweep.attach(self)
        self.panels.append(self.sweep)
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
        self.tabs.addTab(self.latent_map, "Latent map")
        self.tabs.addTab(self.replay_browser, "Replay")
        self.tabs.addTab(self.compare, "Compare")
        self.tabs.addTab(self.sweep, "Sweep")
        self.tabs.addTab(self.run_panel, "Run")
        self.tabs.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.timeline = TimelineBar()
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(*theme.TIGHT_MARGINS)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.timeline)
        self.setCentralWidget(central)
        # Elided, side by side with fixed shares: a long status or notice is cut with "…" (tooltip: all of it)
        # instead of running under the other one.
        self.status_label = ElidedLabel()
        self.notice = ElidedLabel()  # short-lived notices; the status line itself is never hidden
        self.notice.setStyleSheet(f"color: {theme.LINK};")
        self.statusBar().addPermanentWidget(self.status_label, 3)
        self.statusBar().addPermanentWidget(self.notice, 2)
        self._notice_timer = QTimer(self)
        self._notice_timer.setSingleShot(True)
        self._notice_timer.timeout.connect(self.notice.clear)
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(240)
        self.progress.setVisible(False)
        self.statusBar().addPermanentWidget(self.progress)
        self._build_actions()
        self._bind_model()
        self.imagination.controls.export_requested.connect(self.on_export_clicked)
        self.run_panel.action.connect(self.on_run_action)
        self.run_panel.start_new.connect(self.on_start_new)

    def _bind_model(self) -> None:
        """The widgets tell the model what the user did; the model's events update the widgets."""
        model = self.model
        self.imagination.controls.changed.connect(model.set_settings)
        self.imagination.cursor_requested.connect(model.set_t)
        self.latents.edit_requested.connect(model.edit)
        self.latents.reset_requested.connect(model.reset_edits)
        self.timeline.t_changed.connect(model.set_t)
        self.timeline.report_changed.connect(model.scrub_report)
        self.timeline.follow_changed.connect(model.set_follow)
        model.events.connect("follow", self.timeline.follow.setChecked)
        model.events.connect("edits", self.latents.set_edits)
        model.events.connect("held", self.imagination.controls.set_held)
        model.events.connect("notice", self.notify)

    def _build_actions(self) -> None:
        bar = self.addToolBar("run")
        bar.setMovable(False)
        specs = [("Start", "Ctrl+Return", "start"), ("Pause", "Ctrl+Space", "toggle"), ("Step", "Ctrl+Right", "step"),
                 ("Stop", "", "stop"), ("Save", "Ctrl+S", "save"), ("Load…", "Ctrl+L", "load"),
                 ("Open run…", "Ctrl+O", "open_run"), ("Export…", "Ctrl+E", "export"), ("Play", "Ctrl+P", "play")]
        self.actions_by_name: dict[str, QAction] = {}
        for text, keys, name in specs:
            action = QAction(text, self)
            if keys:
                action.setShortcut(QKeySequence(keys))
                action.setToolTip(f"{text} ({keys})")
            action.triggered.connect(lambda _=False, n=name: self.on_run_action(n))
            bar.addAction(action)
            self.addAction(action)  # the shortcut lives on the window: hiding the toolbar keeps it working
            self.actions_by_name[name] = action

    # -- runs (starting and stopping: lifecycle.py) ---------------------------------------------------------------
    def show_run(self, worker, config, watch_dir: str | Path | None, model: bool) -> None:
        """The lifecycle starts `worker`: its signals reach this window, which looks at it from the start."""
        worker.ready.connect(self.on_ready)
        worker.errored.connect(self.on_error)
        worker.imagine_failed.connect(self.on_imagine_failed)
        worker.warned.connect(lambda text: self.notify(f"warning: {text}", 15_000))
        worker.saved.connect(self.on_saved)
        worker.loaded.connect(self.on_loaded)
        worker.paused.connect(self.on_paused)
        worker.resumed.connect(self.on_resumed)
        if model:
            worker.resumed.connect(self._on_model_continued)
        self.model.reset(worker)
        self.actions_by_name["toggle"].setText("Pause")
        if config is not None:
            self.setWindowTitle(f"Dreamer Studio — {config.env.task} ({config.env.obs}) · preset {config.preset}")
        elif model:
            self.setWindowTitle(f"Dreamer Studio — trained model {Path(watch_dir).name} (read-only)")
        else:
            self.setWindowTitle(f"Dreamer Studio — watching {watch_dir}")
        start = self.actions_by_name["start"]  # on a model, Start/resume is "Continue training" (in a copy)
        start.setText("Continue training" if model else "Start")
        start.setToolTip("Train on in a new run directory; replay starts empty (Ctrl+Return)" if model
                         else "Start (Ctrl+Return)")

    @Slot()
    def _on_model_continued(self) -> None:
        """The first resume of a watched model forks it: say where the copy trains and that replay starts empty."""
        worker = self.worker
        if not isinstance(worker, ModelWorker) or getattr(worker, "continue_noted", False):
            return
        worker.continue_noted = True
        self.actions_by_name["start"].setText("Start")
        where = worker.info.logdir if worker.info and worker.info.logdir else "memory only (no run directory)"
        self.notify(f"continuing training in {where}: replay starts empty, so it collects "
                    f"{worker.trainer_fill:,} steps before the first update", 15_000)

    def open_run_dir(self, path: str | Path, device: str | None = None) -> None:
        if not (Path(path) / "config.json").is_file():
            self.show_error("Not a run directory", f"{path} has no config.json. Pick a directory written by "
                            "`dreamer-studio train --headless --logdir DIR`.")
            return
        self.lifecycle.start(None, watch_dir=path, device=device)

    def no_run_hint(self) -> str:
        """What to do when no run is active, naming the tabs and buttons this window has: its start page's when it
        has one (app.launch), else the Run tab's New run form."""
        open_run = f"{self.actions_by_name['open_run'].shortcut().toString()} opens a run directory"
        page = getattr(self, "start_page", None)
        if page is None:
            tab = self.tabs.tabText(self.tabs.indexOf(self.run_panel))
            return f"no run is active: start one in the {tab} tab's New run form; {open_run}"
        buttons = [b.text() for b in (page.watch_button, page.train_button) if b.isEnabled()]  # no model: no Watch
        tab = self.tabs.tabText(self.tabs.indexOf(page))
        return f"no run is active: on the {tab} tab, {' or '.join(buttons)}; {open_run}"

    def send(self, command: cmd.Command) -> bool:
        if self.worker is None:
            self.notify(self.no_run_hint(), 6000)
            return False
        if not self.worker.isRunning() or self.worker.stopping:
            self.notify("the run is stopped: Start/resume (Ctrl+Return) continues it", 5000)
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
        problem = not_a_checkpoint(path)  # before the trainer pauses to read it
        if problem:
            self.show_error("Not a checkpoint", problem)
            return
        self._loading = str(path)
        self.send(cmd.Load(str(path)))

    # -- worker signals (all in the GUI thread) -----------------------------------------------------------------
    @Slot(object)
    def on_ready(self, info) -> None:
        self.notify(f"run ready on {info.device}", 3000)

    @Slot(str, str, str)
    def on_error(self, title: str, message: str, details: str) -> None:
        paused = "" if title.startswith("Could not start") else "\n\nThe run is paused; resume when ready."
        plain = load_error_text(message, getattr(self, "_loading", None)) if title == "Load failed" else None
        self.show_error("Not a checkpoint" if plain else title, (plain or message) + paused, details)

    @Slot(int, str, str)
    def on_imagine_failed(self, request_id: int, message: str, details: str) -> None:
        self.model.imagine_failed(request_id)
        self.show_error("Imagination failed", f"{message}\n\nTraining goes on; the panels keep the last "
                        "imagination that worked. Change the imagination settings to try again.", details)

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
        box.setWindowModality(Qt.WindowModality.NonModal)
        box.finished.connect(self._error_closed)
        self.error_box = box
        box.show()

    @Slot()
    def _error_closed(self) -> None:
        self.error_box = None

    # -- user actions ------------------------------------------------------------------------------------------
    @Slot(str)
    def on_run_action(self, name: str) -> None:
        status = self.worker.status.get()[1] if self.worker else None
        simple = {"pause": cmd.Pause, "step": cmd.Step, "report": cmd.ReportNow}
        if name == "start":
            self.start_or_resume()
        elif name in simple:
            self.send(simple[name]())
        elif name == "toggle":
            self.send(cmd.Resume() if status is not None and status.paused else cmd.Pause())
        elif name == "stop":
            self.lifecycle.stop()
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
        elif name == "play":  # play inside the dream (play.py)
            from dreamer_studio.play import open_play

            open_play(self)

    def start_or_resume(self) -> None:
        """Start/resume: resumes a paused run in place; on a stopped (or stopping) run, starts it again from its
        run directory, where the stop saved latest.ckpt."""
        worker = self.worker
        if worker is None:
            self.notify(self.no_run_hint(), 6000)
        elif not worker.isRunning():
            self.lifecycle.restart()
        elif worker.stopping:
            self.lifecycle.start(**worker.restart_spec())
        else:
            self.send(cmd.Resume())

    @Slot(str, str, str, int, str)
    def on_start_new(self, task: str, obs: str, preset: str, seed: int, device: str) -> None:
        try:  # everything is checked before the current run is asked to stop
            config = new_run_config(task, obs, preset, seed, device, self.run_panel.overrides.text())
        except ValueError as exc:
            self.show_error("Cannot start the run", str(exc))
            return
        self.lifecycle.start(config, logdir=default_run_dir(config, STUDIO_RUNS))

    @Slot()
    def on_export_clicked(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export imagination (writes .mp4 and .gif)",
                                              "imagination.mp4", "Video (*.mp4 *.gif)")
        if path:
            self.export(path)

    def export(self, stem: str | Path) -> Job | None:
        entry, result = self.model.current()
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

    # -- the timer -----------------------------------------------------------------------------------------------
    @Slot()
    def _tick(self) -> None:
        key = self._tick_key()
        if key == self._last_tick_key:
            return  # nothing new: keep the GUI thread (and the GIL) free for the trainer
        self._last_tick_key = key
        worker = self.worker
        status = worker.status.get()[1] if worker else Status(phase=Phase.IDLE, message=self.no_run_hint())
        info = worker.info if worker else None
        if worker is not None and worker.stopping and status.phase not in (Phase.STOPPING, Phase.STOPPED):
            status = replace(status, message="stopping after the current step…")
        self._update_status_line(status, info)
        model = self.model
        model.sync()
        entry, result = model.current()
        length = model.settle(entry, result)
        context = entry.report.context_len if entry else 0
        self.timeline.set_range(length, context)
        self.timeline.set_t(model.t, length, context)
        self.timeline.set_reports(len(model.report_ids), max(model.index(), 0), model.report_caption(entry))
        view = model.view(entry, result, status, info)
        for panel in self.panels:
            panel.refresh(view)

    def up_to_date(self) -> bool:
        """The last tick drew everything the panels would show now."""
        return self._tick_key() == self._last_tick_key

    def _tick_key(self) -> tuple:
        """Everything the tick's output depends on. Status counters and rates change every agent step, so they
        enter only STATUS_HZ times a second (and at once when the phase changes)."""
        worker = self.worker
        if worker is None:
            return (None, *self.model.state_key())
        status = worker.status.get()[1]
        phase = (status.phase, status.paused, status.message) if status is not None else None
        return (id(worker), phase, worker.stopping, int(time.monotonic() * STATUS_HZ), worker.metrics.version,
                worker.reports.version, *self.model.state_key())

    def _update_status_line(self, s: Status, info) -> None:
        text = status_text(s, info, bool(self.model.report_ids))
        if text != self._status_text:
            self._status_text = text
            self.status_label.setText(text)

    # -- closing -------------------------------------------------------------------------------------------------
    def closeEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        if not self.lifecycle.may_close():
            event.ignore()  # the run is stopping (and saving) first, or its save failed
            return
        self.timer.stop()
        QApplication.instance().removeEventFilter(self.keyboard)
        if self.export_job is not None:
            self.export_job.wait()
        if self.compare.job is not None:
            self.compare.job.wait()  # a comparison in flight (panels/compare.py)
        self.lifecycle.teardown()
        super().closeEvent(event)
