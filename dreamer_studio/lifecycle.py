"""Starting, stopping, restarting and closing runs without blocking the GUI.

`RunLifecycle` owns the trainer worker of a window. A run stops when its worker is asked to (`request_stop`);
the lifecycle learns that it has stopped from the worker's `finished` signal and keeps its reference to the
worker until then, so a running QThread is never dropped. A start asked for while the previous run is still
stopping waits for it: both may use the same run directory, and a restarted run resumes from the checkpoint the
stop saves.

Closing the window stops the run the same way (the window's closeEvent asks `may_close`): the trainer finishes
its current step and saves latest.ckpt (when anything changed since the last save) while a message says so; the
window closes when that is done. If the save fails, the window stays open and says why: the run is paused with
everything it learned, so the user can Save as… elsewhere; closing (or stopping) once more then quits without
saving.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Protocol

from PySide6.QtCore import QObject, QThread, QTimer, Qt, Slot
from PySide6.QtWidgets import QApplication, QProgressDialog, QWidget

from dreamer_studio.shipped import ModelWorker, is_model
from dreamer_studio.worker import TrainerWorker


class RunHost(Protocol):
    """What the lifecycle asks of its window (a QWidget: the closing message is its child)."""

    def notify(self, text: str, ms: int = 4000) -> None: ...

    def show_error(self, title: str, message: str, details: str = "") -> None: ...

    def show_run(self, worker: TrainerWorker, config, watch_dir: str | Path | None, model: bool) -> None:
        """`worker` is about to start: connect its signals and look at it from the start."""

    def close(self) -> bool: ...


class RunLifecycle(QObject):
    """The window's trainer worker (`worker`, None before the first run) and its start, stop, restart and close.
    `settings()` gives the imagination settings a new worker starts with. `save_on_exit`: stopping or closing
    saves latest.ckpt when anything changed since the last save. `fork_root`: where Start/resume on a watched run
    directory trains its local copy."""

    def __init__(self, host: RunHost, settings: Callable[[], object], save_on_exit: bool,
                 fork_root: str | Path | None) -> None:
        super().__init__(host)  # a QObject child: the worker's signals reach its slots in the GUI thread
        self.host = host
        self.settings = settings
        self.worker: TrainerWorker | None = None
        self.save_on_exit = save_on_exit
        self.fork_root = fork_root
        self.closing_box: QProgressDialog | None = None
        self._pending_start: dict | None = None
        self._closing = False
        self._pumping = False  # may_close is waiting in a local loop (nobody runs the event loop)
        self._discard_next_stop = False  # a save on stop failed and the user was told: the next stop skips it

    # -- start / stop ----------------------------------------------------------------------------------------------
    def start(self, config=None, logdir: str | Path | None = None, paused: bool = False,
              watch_dir: str | Path | None = None, device: str | None = None, resume: bool = True) -> None:
        spec = dict(config=config, logdir=logdir, paused=paused, watch_dir=watch_dir, device=device, resume=resume)
        old = self.worker
        if old is not None and old.isRunning():
            self._pending_start = spec
            self._request_stop(old)
            self.host.notify("stopping the current run first (it saves latest.ckpt); the new run starts after "
                             "that", 10_000)
            return
        self._launch(spec)

    def _launch(self, spec: dict) -> None:
        self._pending_start = None
        if self.worker is not None:
            self.worker.wait()  # it has finished; this returns at once
        self._discard_next_stop = False
        model = is_model(spec["watch_dir"])  # a model-only checkpoint: loaded once, on a fresh context
        worker_class = ModelWorker if model else TrainerWorker
        worker = worker_class(spec["config"], logdir=spec["logdir"], resume=spec["resume"], paused=spec["paused"],
                              watch_dir=spec["watch_dir"], device=spec["device"], save_on_exit=self.save_on_exit,
                              settings=self.settings(), fork_root=self.fork_root)
        worker.stop_save_failed.connect(self.on_stop_save_failed)
        worker.resumed.connect(self._on_resumed)
        worker.finished.connect(self._on_worker_finished)
        self.worker = worker
        self.host.show_run(worker, spec["config"], spec["watch_dir"], model)
        worker.start()

    def _request_stop(self, worker: TrainerWorker) -> None:
        if not worker.stopping:
            worker.request_stop(save=not self._discard_next_stop)

    def stop(self) -> None:
        """Stop button: the run stops after its current step, saving latest.ckpt first. Never blocks."""
        worker = self.worker
        if worker is None or not worker.isRunning():
            return
        self._request_stop(worker)
        self.host.notify("stopping after the current step…", 8000)

    def restart(self) -> None:
        """Start/resume on a stopped run: the same config and run directory, resumed from its latest.ckpt."""
        spec = self.worker.restart_spec()
        if spec.get("watch_dir") is None and spec.get("logdir") is None:
            self.host.notify("the stopped run had no run directory to resume from: it starts again from scratch",
                             10_000)
        self.start(**spec)

    @Slot()
    def _on_resumed(self) -> None:
        self._discard_next_stop = False  # training again: a later stop must save again

    @Slot()
    def _on_worker_finished(self) -> None:
        worker = self.worker
        if worker is None or worker.isRunning():
            return  # an older worker's late signal: the current one is still running
        worker.wait()
        if self._closing:
            if not self._pumping:
                QTimer.singleShot(0, self.host.close)
            return
        self._hide_closing()
        if self._pending_start is not None:
            self._launch(self._pending_start)

    @Slot(str, str)
    def on_stop_save_failed(self, message: str, details: str) -> None:
        closing, pending = self._closing, self._pending_start is not None
        self._closing, self._pending_start = False, None
        self._discard_next_stop = True
        self._hide_closing()
        what = "Close the window" if closing else ("Start the new run" if pending else "Stop")
        logdir = self.worker.info.logdir if self.worker and self.worker.info else None
        self.host.show_error("Could not save before stopping",
                             f"latest.ckpt could not be saved in {logdir}:\n{message}\n\nThe run was not stopped: "
                             "it is paused, with everything it has learned still in memory. Save it elsewhere "
                             f"with Save as… (or free the problem and press Save). {what} again to go on without "
                             "saving.", details)

    # -- closing ---------------------------------------------------------------------------------------------------
    def may_close(self) -> bool:
        """The window's closeEvent: True when it may close now. Otherwise the run is asked to stop (saving) and
        the window closes when it has; with no event loop running (a script) this waits here, keeping the window
        painted. False also when that save failed: the window stays open and says so."""
        worker = self.worker
        if worker is None or not worker.isRunning():
            return True
        self._pending_start = None
        if not self._closing:
            self._closing = True
            self._request_stop(worker)
            self._show_closing(worker)
        if QThread.currentThread().loopLevel() > 0:
            return False  # `finished` closes the window
        self._wait_pumping(worker)
        return not worker.isRunning()

    def _wait_pumping(self, worker: TrainerWorker) -> None:
        self._pumping = True
        try:
            while worker.isRunning() and self._closing:
                QApplication.processEvents()
                worker.wait(20)
            QApplication.processEvents()  # deliver the worker's last signals (stop_save_failed, finished)
        finally:
            self._pumping = False

    def teardown(self) -> None:
        """The window closes: the closing message goes, the worker's thread is joined."""
        self._hide_closing()
        if self.worker is not None:
            self.worker.wait()

    def _show_closing(self, worker: TrainerWorker) -> None:
        info = worker.info
        if self._discard_next_stop:
            text = "Stopping the trainer without saving…"
        elif not worker.dirty:
            text = "Stopping the trainer (nothing new to save)…"
        elif not self.save_on_exit:
            text = "Stopping the trainer (this window does not save on exit)…"
        elif info is not None and info.logdir:
            text = f"Stopping the trainer and saving {Path(info.logdir) / 'latest.ckpt'}…"
        else:
            text = "Stopping the trainer. This run has no run directory, so its training is not saved."
        parent: QWidget = self.host  # type: ignore[assignment]  (the host is the window)
        box = QProgressDialog(text + "\nThe window closes when it is done.", "", 0, 0, parent)
        box.setCancelButton(None)
        box.setWindowTitle("Closing Dreamer Studio")
        box.setWindowModality(Qt.WindowModality.NonModal)
        box.setMinimumDuration(0)
        self.closing_box = box
        box.show()

    def _hide_closing(self) -> None:
        if self.closing_box is not None:
            self.closing_box.close()
            self.closing_box.deleteLater()
            self.closing_box = None
