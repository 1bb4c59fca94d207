"""Starting, stopping, restarting and closing runs without blocking the GUI (a mixin of MainWindow).

A run stops when its worker is asked to (`request_stop`); the window learns that it has stopped from the
worker's `finished` signal and keeps its reference to the worker until then, so a running QThread is never
dropped. A start asked for while the previous run is still stopping waits for it: both may use the same run
directory, and a restarted run resumes from the checkpoint the stop saves.

Closing the window stops the run the same way: the trainer finishes its current step and saves latest.ckpt
(when anything changed since the last save) while a message says so; the window closes when that is done. If
the save fails, the window stays open and says why: the run is paused with everything it learned, so the user
can Save as… elsewhere; closing (or stopping) once more then quits without saving.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QThread, QTimer, Qt, Slot
from PySide6.QtWidgets import QApplication, QProgressDialog

from dreamer_studio.shipped import ModelWorker, is_model
from dreamer_studio.worker import TrainerWorker


class RunLifecycle:
    """Mixed into MainWindow (a QMainWindow); uses its `model`, `notify` and `show_error`."""

    def _init_lifecycle(self, save_on_exit: bool, fork_root: str | Path | None) -> None:
        self.worker: TrainerWorker | None = None
        self.save_on_exit = save_on_exit
        self.fork_root = fork_root
        self.closing_box: QProgressDialog | None = None
        self._pending_start: dict | None = None
        self._closing = False
        self._pumping = False  # closeEvent is waiting in a local loop (nobody runs the event loop)
        self._discard_next_stop = False  # a save on stop failed and the user was told: the next stop skips it

    # -- start / stop ----------------------------------------------------------------------------------------------
    def start_run(self, config=None, logdir: str | Path | None = None, paused: bool = False,
                  watch_dir: str | Path | None = None, device: str | None = None, resume: bool = True) -> None:
        spec = dict(config=config, logdir=logdir, paused=paused, watch_dir=watch_dir, device=device, resume=resume)
        old = self.worker
        if old is not None and old.isRunning():
            self._pending_start = spec
            self._request_stop(old)
            self.notify("stopping the current run first (it saves latest.ckpt); the new run starts after that",
                        10_000)
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
                               settings=self.model.settings, fork_root=self.fork_root)
        worker.ready.connect(self.on_ready)
        worker.errored.connect(self.on_error)
        worker.imagine_failed.connect(self.on_imagine_failed)
        worker.stop_save_failed.connect(self.on_stop_save_failed)
        worker.warned.connect(lambda text: self.notify(f"warning: {text}", 15_000))
        worker.saved.connect(self.on_saved)
        worker.loaded.connect(self.on_loaded)
        worker.paused.connect(self.on_paused)
        worker.resumed.connect(self.on_resumed)
        worker.finished.connect(self._on_worker_finished)
        if model:
            worker.resumed.connect(self._on_model_continued)
        self.worker = worker
        self._reset_view()
        config, watch_dir = spec["config"], spec["watch_dir"]
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
        worker.start()

    def _request_stop(self, worker: TrainerWorker) -> None:
        if not worker.stopping:
            worker.request_stop(save=not self._discard_next_stop)

    def stop_run(self) -> None:
        """Stop button: the run stops after its current step, saving latest.ckpt first. Never blocks."""
        worker = self.worker
        if worker is None or not worker.isRunning():
            return
        self._request_stop(worker)
        self.notify("stopping after the current step…", 8000)

    def restart_run(self) -> None:
        """Start/resume on a stopped run: the same config and run directory, resumed from its latest.ckpt."""
        spec = self.worker.restart_spec()
        if spec.get("watch_dir") is None and spec.get("logdir") is None:
            self.notify("the stopped run had no run directory to resume from: it starts again from scratch", 10_000)
        self.start_run(**spec)

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

    @Slot()
    def _on_worker_finished(self) -> None:
        worker = self.worker
        if worker is None or worker.isRunning():
            return  # an older worker's late signal: the current one is still running
        worker.wait()
        if self._closing:
            if not self._pumping:
                QTimer.singleShot(0, self.close)
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
        self.show_error("Could not save before stopping",
                        f"latest.ckpt could not be saved in {logdir}:\n{message}\n\nThe run was not stopped: it is "
                        "paused, with everything it has learned still in memory. Save it elsewhere with Save as… "
                        f"(or free the problem and press Save). {what} again to go on without saving.", details)

    # -- closing ---------------------------------------------------------------------------------------------------
    def closeEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        worker = self.worker
        if worker is not None and worker.isRunning():
            event.ignore()
            self._pending_start = None
            if not self._closing:
                self._closing = True
                self._request_stop(worker)
                self._show_closing(worker)
            if QThread.currentThread().loopLevel() > 0:
                return  # `finished` closes the window
            self._wait_pumping(worker)  # no event loop runs (a script): wait here, keeping the window painted
            if worker.isRunning():
                return  # the save failed: the window stays open and says so
        self._teardown()
        super().closeEvent(event)

    def _wait_pumping(self, worker: TrainerWorker) -> None:
        self._pumping = True
        try:
            while worker.isRunning() and self._closing:
                QApplication.processEvents()
                worker.wait(20)
            QApplication.processEvents()  # deliver the worker's last signals (stop_save_failed, finished)
        finally:
            self._pumping = False

    def _teardown(self) -> None:
        self._hide_closing()
        self.timer.stop()
        QApplication.instance().removeEventFilter(self.keyboard)
        if self.export_job is not None:
            self.export_job.wait()
        if getattr(self, "compare", None) is not None and self.compare.job is not None:
            self.compare.job.wait()  # a comparison in flight (panels/compare.py)
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
        box = QProgressDialog(text + "\nThe window closes when it is done.", "", 0, 0, self)
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
