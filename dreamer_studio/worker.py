"""The trainer thread: owns the Trainer (model, optimizer, replay, envs) and serves the GUI's commands.

Loop: drain commands (imagination first, they are cheap and interactive) -> one `Trainer.step()` unless
paused -> maybe a report -> publish a status snapshot. Pause, single step and resume happen between train
steps, in place. An exception pauses the run, is reported through `errored`, and leaves the thread serving
commands, so the user can fix things (load another checkpoint, resume) without losing the session. A failed
imagination request is reported through `imagine_failed` and leaves training alone.
Stopping never blocks the GUI: `request_stop` queues a Stop, the thread saves latest.ckpt (when anything changed
since the last save), shuts down and emits `stopped`. If that save fails the run stays alive and paused and
`stop_save_failed` says why, so no trained state is dropped without the user knowing.
The GUI never calls into the trainer: it sends commands (`send`) and pulls from the stores.
Metric rows reach `metrics` as the trainer logs them (Trainer.row_listeners); rates are the trainer's own.
Given a `watch_dir`, the worker first watches that run directory (run_watcher.py) and trains nothing; Resume
forks it into a local copy, trained from then on like any run.
"""

from __future__ import annotations

import sys
import time
import traceback
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QThread, Signal

from dreamer_core.checkpoint import SAVE_ERRORS, CheckpointError
from dreamer_core.faults import RunStopped
from dreamer_core.replay import replay_episodes, report_from_episode
from dreamer_studio import commands as cmd
from dreamer_studio.imagine import imagine
from dreamer_studio.phase import STICKY, Phase
from dreamer_studio.run_status import live_phase, run_status
from dreamer_studio.run_watcher import RunWatcher
from dreamer_studio.rundir import CHECKPOINT_NAME, WATCH_NAME
from dreamer_studio.session import ImagineSettings, Latest, MetricsStore, ReportEntry, ReportStore, RunInfo, Status

IDLE_WAIT = 0.05  # s a paused trainer waits for a command before publishing again
REPORT_BUDGET = 0.02  # automatic reports take at most this share of wall time (a slow report spaces them out)


class PeriodicSaveError(Exception):
    """A scheduled save of latest.ckpt failed; its message says what is kept and what to do."""


class TrainerWorker(QThread):
    ready = Signal(object)  # RunInfo, once the trainer is built
    training_started = Signal()  # the first update happened (collection is over)
    paused = Signal()
    resumed = Signal()
    stepped = Signal(int)  # agent steps after a single step
    report_ready = Signal(int)  # report id in `reports`
    imagined = Signal(int)  # request id of a served Imagine command
    saved = Signal(str)
    loaded = Signal(str)
    errored = Signal(str, str, str)  # title, message, details (traceback)
    imagine_failed = Signal(int, str, str)  # request id, message, details: training goes on, settings are kept
    stop_save_failed = Signal(str, str)  # message, details: the run did not stop (it is paused instead)
    warned = Signal(str)  # said once by the trainer (an env rebuilt, a full disk, a skipped update): training goes on
    stopped = Signal()  # emitted last, from the trainer thread, before run() returns

    def __init__(self, config=None, logdir: str | Path | None = None, resume: bool = True, paused: bool = False,
                 watch_dir: str | Path | None = None, device: str | None = None, save_on_exit: bool = False,
                 settings: ImagineSettings | None = None, fork_root: str | Path | None = None,
                 parent=None) -> None:
        super().__init__(parent)
        if config is None and watch_dir is None:
            raise ValueError("TrainerWorker needs a config or a run directory to watch")
        self.config = config
        self.logdir = Path(logdir) if logdir else None
        self.resume = resume
        self.device = device
        self.save_on_exit = save_on_exit
        self.fork_root = Path(fork_root) if fork_root else None  # where Resume on a watched run trains its copy
        self.watcher = self._watcher_for(Path(watch_dir)) if watch_dir else None  # None once forked
        self.settings = settings or ImagineSettings()
        self.inbox = cmd.Inbox()
        self.status = Latest(Status())
        self.metrics = MetricsStore()
        self.reports = ReportStore()
        self.episodes: Latest[list] = Latest()  # replay's episodes as of the latest report (replay_browser.py)
        self.info: RunInfo | None = None
        self.trainer = None
        self._paused = paused
        self._stop = False
        self._stop_requested = False  # set by the GUI thread at once; the trainer thread acts between two steps
        self._save_on_stop = True
        self._dirty = False  # trained or collected since the last save / load of latest.ckpt
        self.exit_note = ""  # what stopping did about latest.ckpt, for the status line
        self._started_training = False
        self._next_report = 0.0  # time.time() of the next report; 0 = as soon as replay allows
        self._last_score: float | None = None
        self._checkpoints: list[str] = []
        self._held: Phase | None = Phase.BUILDING  # a sticky phase; None: read off the run (see _phase_now)

    def _watcher_for(self, watch_dir: Path) -> RunWatcher:
        """How this worker follows `watch_dir` (a trained model's directory is followed differently)."""
        return RunWatcher(watch_dir)

    @property
    def watch_dir(self) -> Path | None:
        """The run directory this worker watches; None for a run it trains (a forked one too)."""
        return self.watcher.run_dir if self.watcher is not None else None

    # -- GUI side ------------------------------------------------------------------------------------------------
    def send(self, command: cmd.Command) -> None:
        """Thread-safe: queue a command for the trainer thread."""
        self.inbox.put(command)

    def request_stop(self, save: bool = True) -> None:
        """Never blocks: the thread stops after the current train step, saving latest.ckpt first when `save` and
        `save_on_exit` are set and the run has changed since its last save. Watch `stopped` (or `finished`)."""
        self._stop_requested = True
        try:
            self.inbox.put(cmd.Stop(save))
        except cmd.InboxFull:
            self._save_on_stop = save
            self._stop = True

    @property
    def stopping(self) -> bool:
        """A stop was requested and the thread has not finished yet."""
        return self._stop_requested and self.isRunning()

    @property
    def dirty(self) -> bool:
        """The run has stepped since latest.ckpt was last saved or loaded."""
        return self._dirty

    def restart_spec(self) -> dict:
        """How to start this run again after it stopped: the same directory, resumed from its latest.ckpt."""
        if self.watch_dir is not None:
            return {"watch_dir": self.watch_dir, "device": self.device}
        return {"config": self.config, "logdir": self.logdir, "resume": True}

    def stop_and_wait(self, timeout_ms: int = 60_000, save: bool = True) -> bool:
        """Blocking stop for scripts and tests (the window uses `request_stop` and the `finished` signal)."""
        if self.isRunning():
            self.request_stop(save)
            return self.wait(timeout_ms)
        return True

    # -- trainer thread ------------------------------------------------------------------------------------------
    def run(self) -> None:
        try:
            self._build()
        except Exception as exc:  # bad task, missing files, CUDA absent, a corrupt watched checkpoint ...
            self._hold(Phase.ERROR)
            self._close_trainer()  # a half-built trainer's envs are closed here, on the thread that made them
            self._publish(message=f"could not start: {exc}")
            self.errored.emit("Could not start the run", str(exc), traceback.format_exc())
            self.stopped.emit()
            return
        self._publish()  # the status leaves "building" before anything that follows it reaches the window
        self.ready.emit(self.info)
        if self._paused:
            self.paused.emit()
        try:
            while True:
                self._loop()
                if self._save_before_stop():
                    break
        finally:
            self._shutdown()
            self.stopped.emit()

    def _build(self) -> None:
        from dreamer_core.trainer import Trainer

        if self.watcher is not None:
            self.config = self.watcher.config(self.device)
        self.trainer = Trainer(self.config, None if self.watcher else self.logdir, resume=self.resume)
        self.trainer.row_listeners.append(self._forward_row)  # the curves (of a watched run: its copy, once forked)
        if self.watcher is not None:
            self.watcher.follow_rows(self.metrics)
            self._hold(Phase.WATCHING)  # published before the first report, so the status that comes with it says so
            self._publish()
            self._show_watched(self.watcher.reload(self.trainer, force=True))
            self._paused = True
        tr = self.trainer
        act = tr.envs[0].act_space
        self.info = RunInfo(config=self.config, device=str(tr.device), params=dict(tr.agent.param_counts()),
                            logdir=str(self.logdir) if self.logdir else None,
                            resumed_from=str(tr.resumed_from) if tr.resumed_from else None,
                            act_dim=int(act.shape[0]), discrete=bool(act.discrete),
                            watch_dir=str(self.watch_dir) if self.watch_dir else None)
        if self.logdir:
            self._checkpoints = sorted(str(p) for p in self.logdir.glob("*.ckpt") if p.name != WATCH_NAME)
        self._started_training = tr.updates > 0
        if self._held == Phase.BUILDING:
            self._hold(None)

    def _loop(self) -> None:
        while not self._stop:
            idle = self._paused or self._held == Phase.FINISHED
            for command in self._prioritised(self.inbox.drain(IDLE_WAIT if idle else None)):
                self._guarded(self._handle, command)
                if self._stop:
                    return
            if not self._paused and self._held != Phase.FINISHED:
                self._guarded(self._train_step)
            if self.watcher is not None:
                self._guarded(self._watch)
            self._publish()

    @staticmethod
    def _prioritised(commands: list[cmd.Command]) -> list[cmd.Command]:
        # Interactive requests first; the order of the others (pause, step, resume) is kept.
        return sorted(commands, key=lambda c: not isinstance(c, cmd.Imagine))

    def _guarded(self, fn, *args) -> None:
        try:
            fn(*args)
        except Exception as exc:
            self._fail(exc)

    def _fail(self, exc: BaseException) -> None:
        if isinstance(exc, PeriodicSaveError):
            title, text = "Could not save a checkpoint", str(exc)
        elif isinstance(exc, RunStopped):  # the env keeps failing, or every update is non-finite
            title, text = "Training stopped", str(exc)
        else:
            title = "Load failed" if isinstance(exc, CheckpointError) else "Error in the trainer thread"
            text = f"{type(exc).__name__}: {exc}" if not str(exc).startswith(type(exc).__name__) else str(exc)
        self._set_paused(True)  # before the message, which tells the user the run is paused
        self.errored.emit(title, text, traceback.format_exc())

    def _set_paused(self, paused: bool) -> None:
        """Flips pause and publishes the status before the signal: the window's pause/resume toggle reads the
        status, so a second Ctrl+Space right after the first must already see the new state."""
        if self._paused == paused:
            return
        self._paused = paused
        if not paused:
            self.trainer.restart_rates()  # paused time is not counted in the rates
        self._publish()
        (self.paused if paused else self.resumed).emit()

    def _handle(self, command: cmd.Command) -> None:
        if isinstance(command, cmd.Stop):
            self._stop = True
            self._save_on_stop = command.save
        elif isinstance(command, cmd.Pause):
            self._set_paused(True)
        elif isinstance(command, cmd.Resume):
            if self._held == Phase.WATCHING:
                self._fork()
            self._set_paused(False)
        elif isinstance(command, cmd.Step):
            self._set_paused(True)
            self.trainer.restart_rates()  # the time paused before this step is not counted in the rates
            self._train_step()
            self.stepped.emit(self.trainer.counters.agent_steps)
        elif isinstance(command, cmd.ReportNow):
            self._make_report()
        elif isinstance(command, cmd.ReportFrom):
            self._make_report(episode=(command.worker, command.start))
        elif isinstance(command, cmd.Imagine):
            self._imagine(command)
        elif isinstance(command, cmd.Save):
            self._save(command.path)
        elif isinstance(command, cmd.Load):
            self.trainer.load(command.path)
            self._after_load(fresh_history=True)
            self.loaded.emit(str(command.path))
            self._make_report()
        elif isinstance(command, cmd.Fail):
            raise RuntimeError(command.message)

    def _train_step(self) -> None:
        tr = self.trainer
        if tr.done:
            self._hold(Phase.FINISHED)
            return
        self._dirty = True  # also when the step raises: it stored and trained before it did
        try:
            info = tr.step()
        finally:
            for note in tr.take_notes():
                self.warned.emit(note)
        if info.scores:
            self._last_score = info.scores[-1]
        if info.trained and not self._started_training:
            self._started_training = True
            self.training_started.emit()
        if time.time() >= self._next_report:
            self._make_report()
        if tr.save_due():
            self._periodic_save()

    def _periodic_save(self) -> None:
        """A failed periodic save (disk full, say) pauses the run, so no more training is at risk, and says what
        is kept; on resume the next step saves again."""
        tr = self.trainer
        try:
            self._save(None)
        except SAVE_ERRORS as exc:
            raise PeriodicSaveError(f"Could not save {Path(tr.logdir) / CHECKPOINT_NAME} ({exc}); "
                                    f"{tr.intact_checkpoint()}. The run is paused so that no more training is at "
                                    "risk: free disk space, then resume: it saves again at its next step.") from exc

    def _forward_row(self, row: dict[str, float]) -> None:
        self.metrics.extend([row])

    def _make_report(self, episode: tuple[int, int] | None = None) -> None:
        tr = self.trainer
        s = self.settings
        began = time.perf_counter()
        args = dict(seed=s.seed, samples=s.samples, horizon=s.horizon, temperature=s.temperature)
        report = tr.report(**args) if episode is None else report_from_episode(tr, *episode, **args)
        if report is None:
            return  # replay does not hold a full window yet
        entry = ReportEntry(id=self.reports.new_id(), report=report,
                            start_stoch=report.start_stoch(), made_at=time.time())
        result = imagine(tr.agent, report, s, (), entry.id)
        self.reports.add(entry, result)
        per_step = len(tr.envs) * tr.config.env.action_repeat  # env frames per replay stream step
        self.episodes.put(replay_episodes(tr.replay, tr.counters.env_frames, per_step))
        self.report_ready.emit(entry.id)
        cost = time.perf_counter() - began
        self._next_report = time.time() + max(tr.config.run.report_every, cost / REPORT_BUDGET)

    def _imagine(self, command: cmd.Imagine) -> None:
        """Serves one request. A failure is the request's, not the run's: it is reported, training goes on and
        the settings are not kept (later reports use the last settings that worked)."""
        entry, _ = self.reports.get(command.report_id)
        if entry is None:
            return  # the report left the bounded history
        try:
            result = imagine(self.trainer.agent, entry.report, command.settings, command.edits, entry.id,
                             command.request_id)
        except Exception as exc:
            text = str(exc) if str(exc).startswith(type(exc).__name__) else f"{type(exc).__name__}: {exc}"
            self.imagine_failed.emit(command.request_id, text, traceback.format_exc())
            return
        self.settings = command.settings
        self.reports.set_result(result)
        self.imagined.emit(command.request_id)

    def _save(self, path: str | None) -> str:
        tr = self.trainer
        saved = str(tr.save(path))
        if tr.logdir is not None and Path(saved).resolve() == (Path(tr.logdir) / CHECKPOINT_NAME).resolve():
            self._dirty = False  # a copy saved elsewhere leaves latest.ckpt behind
        if saved not in self._checkpoints:
            self._checkpoints.append(saved)
        self.saved.emit(saved)
        return saved

    def _after_load(self, fresh_history: bool) -> None:
        """A loaded checkpoint moves the run to another point in time: rates, the last score, the finished
        phase and (with `fresh_history`, a user's Load) the metric curves and the report history start over."""
        tr = self.trainer
        tr.restart_rates(forget=True)
        self._last_score = tr.scores[-1][1] if tr.scores else None
        self._started_training = tr.updates > 0
        self._dirty = False
        if self._held == Phase.FINISHED:
            self._hold(None)
        if fresh_history:
            self.metrics.clear()
            self.reports.clear()
            self._next_report = 0.0

    # -- watching ------------------------------------------------------------------------------------------------
    def _watch(self) -> None:
        self._show_watched(self.watcher.poll(self.trainer, self.metrics))

    def _show_watched(self, loaded: str | None) -> None:
        """New weights of the watched run (`loaded`, their checkpoint) are on screen: a report on them."""
        if loaded is not None:
            self._after_load(fresh_history=False)
            self._checkpoints = [loaded]
            self._make_report()

    def _fork(self) -> None:
        """Resume on a watched run: from now on it is a local copy, trained and saved in a run directory of its
        own under `fork_root` (the watched directory is never written)."""
        watcher, self.watcher = self.watcher, None
        self._hold(None)
        if self.fork_root is not None:
            logdir = watcher.copy_dir(self.fork_root)
            self.trainer.adopt_logdir(logdir)  # locks it; latest.ckpt and the logs go there from now on
            self.logdir = logdir
            self._checkpoints = []
        self.info = replace(self.info, logdir=str(self.logdir) if self.logdir else None, watch_dir=None)

    # -- stopping ------------------------------------------------------------------------------------------------
    def _save_before_stop(self) -> bool:
        """After a Stop: saves latest.ckpt if anything would be lost. True: go on stopping. False: the save
        failed, the run stays alive (paused) and `stop_save_failed` tells the GUI."""
        tr = self.trainer
        self._stop = False
        latest = Path(tr.logdir) / CHECKPOINT_NAME if tr.logdir is not None else None
        if not self._dirty:
            self.exit_note = f"stopped · {latest} is up to date" if latest and latest.is_file() else "stopped"
            return True
        if not (self._save_on_stop and self.save_on_exit):
            self.exit_note = "stopped without saving"
            return True
        if latest is None:
            self.exit_note = "stopped · not saved: this run has no run directory"
            return True
        self._hold(Phase.STOPPING)
        self._publish(message=f"stopping: saving {latest}…")
        try:
            tr.flush()
            self._save(None)
        except Exception as exc:
            self._hold(None)
            self._stop_requested = False
            text = f"{type(exc).__name__}: {exc}"
            print(f"dreamer-studio: could not save {latest} on stop: {text}", file=sys.stderr, flush=True)
            self._set_paused(True)
            self.stop_save_failed.emit(text, traceback.format_exc())
            return False
        self.exit_note = f"stopped · saved {latest}"
        return True

    def _shutdown(self) -> None:
        if self.trainer is None:
            return
        self._hold(Phase.STOPPED)
        self._publish(message=self.exit_note or "stopped")
        self._close_trainer()

    def _close_trainer(self) -> None:
        tr, self.trainer = self.trainer, None
        if tr is None:
            return
        # Closing the envs here frees MuJoCo's GL contexts on the thread that made them (DMC's close frees them
        # explicitly). No gc.collect() here: it would also collect Qt wrappers that belong to the GUI thread,
        # which runs meanwhile, and that can deadlock PySide (its wrapper lock against the GIL).
        tr.close()

    # -- status --------------------------------------------------------------------------------------------------
    def _hold(self, phase: Phase | None) -> None:
        """Holds a sticky phase until the next _hold; None goes back to the phase read off the run."""
        if phase is not None and phase not in STICKY:
            raise ValueError(f"{phase} is read off the run, not held")
        self._held = phase

    def _phase_now(self) -> Phase:
        return self._held if self._held is not None else live_phase(self.trainer, self._paused)

    def _publish(self, message: str | None = None) -> None:
        self.status.put(run_status(self._phase_now(), self.trainer, self.watcher, paused=self._paused,
                                   message=message, next_report=self._next_report, last_score=self._last_score,
                                   checkpoints=self._checkpoints))
