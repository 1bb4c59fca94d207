"""The trainer thread: owns the Trainer (model, optimizer, replay, envs) and serves the GUI's commands.

Loop: drain commands (imagination first, they are cheap and interactive) -> one `Trainer.step()` unless
paused -> maybe a report -> publish a status snapshot. Pause, single step and resume happen between train
steps, in place. An exception pauses the run, is reported through `errored`, and leaves the thread serving
commands, so the user can fix things (load another checkpoint, resume) without losing the session.
The GUI never calls into the trainer: it sends commands (`send`) and pulls from the stores.
"""

from __future__ import annotations

import gc
import math
import time
import traceback
from pathlib import Path

from PySide6.QtCore import QThread, Signal

from dreamer_studio import commands as cmd
from dreamer_studio.imagine import imagine
from dreamer_studio.rundir import MetricsTail, checkpoint_path, load_config
from dreamer_studio.session import (ImagineSettings, Latest, MetricsStore, ReportEntry, ReportStore, RunInfo,
                                    Status)

IDLE_WAIT = 0.05  # s a paused trainer waits for a command before publishing again
WATCH_EVERY = 3.0  # s between looks at a watched run directory
REPORT_BUDGET = 0.02  # automatic reports take at most this share of wall time (a slow report spaces them out)


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
    stopped = Signal()  # emitted last, from the trainer thread, before run() returns

    def __init__(self, config=None, logdir: str | Path | None = None, resume: bool = True, paused: bool = False,
                 watch_dir: str | Path | None = None, device: str | None = None, save_on_exit: bool = False,
                 settings: ImagineSettings | None = None, parent=None) -> None:
        super().__init__(parent)
        if config is None and watch_dir is None:
            raise ValueError("TrainerWorker needs a config or a run directory to watch")
        self.config = config
        self.logdir = Path(logdir) if logdir else None
        self.resume = resume
        self.watch_dir = Path(watch_dir) if watch_dir else None
        self.device = device
        self.save_on_exit = save_on_exit
        self.settings = settings or ImagineSettings()
        self.inbox = cmd.Inbox()
        self.status = Latest(Status())
        self.metrics = MetricsStore()
        self.reports = ReportStore()
        self.info: RunInfo | None = None
        self.trainer = None
        self._paused = paused
        self._stop = False
        self._started_training = False
        self._next_report = 0.0  # time.time() of the next report; 0 = as soon as replay allows
        self._last_row_time = -math.inf
        self._last_score: float | None = None
        self._checkpoints: list[str] = []
        self._tail: MetricsTail | None = None
        self._watch_mtime = 0.0
        self._next_watch = 0.0
        self._phase = "building"
        self._rate_mark = (time.time(), 0, 0)  # (time, agent steps, updates) for live rates
        self._rates = (0.0, 0.0)  # env steps/s, updates/s

    # -- GUI side ------------------------------------------------------------------------------------------------
    def send(self, command: cmd.Command) -> None:
        """Thread-safe: queue a command for the trainer thread."""
        self.inbox.put(command)

    def request_stop(self) -> None:
        self._stop = True
        try:
            self.inbox.put(cmd.Stop())
        except cmd.InboxFull:
            pass

    def stop_and_wait(self, timeout_ms: int = 60_000) -> bool:
        """Stop after the current train step and join the thread (safe to call twice)."""
        if self.isRunning():
            self.request_stop()
            return self.wait(timeout_ms)
        return True

    # -- trainer thread ------------------------------------------------------------------------------------------
    def run(self) -> None:
        try:
            self._build()
        except Exception as exc:  # bad task, missing files, CUDA absent ...
            self._phase = "error"
            self._publish(message=f"could not start: {exc}")
            self.errored.emit("Could not start the run", str(exc), traceback.format_exc())
            self.stopped.emit()
            return
        self.ready.emit(self.info)
        if self._paused:
            self.paused.emit()
        try:
            self._loop()
        finally:
            self._shutdown()
            self.stopped.emit()

    def _build(self) -> None:
        from dreamer_core.run import Trainer

        if self.watch_dir is not None:
            self.config = load_config(self.watch_dir, self.device)
            self.trainer = Trainer(self.config, None)
            self._tail = MetricsTail(self.watch_dir)
            self.metrics.extend(self._tail.read_new())
            self._reload_watched(force=True)
            self._phase = "watching"
            self._paused = True
        else:
            self.trainer = Trainer(self.config, self.logdir, resume=self.resume)
        tr = self.trainer
        act = tr.envs[0].act_space
        self.info = RunInfo(config=self.config, device=str(tr.device), params=dict(tr.agent.param_counts()),
                            logdir=str(self.logdir) if self.logdir else None,
                            resumed_from=str(tr.resumed_from) if tr.resumed_from else None,
                            act_dim=int(act.shape[0]), discrete=bool(act.discrete),
                            watch_dir=str(self.watch_dir) if self.watch_dir else None)
        if self.logdir:
            self._checkpoints = sorted(str(p) for p in self.logdir.glob("*.ckpt"))
        self._started_training = tr.updates > 0
        if self._phase == "building":
            self._phase = "running"

    def _loop(self) -> None:
        while not self._stop:
            idle = self._paused or self._phase == "finished"
            for command in self._prioritised(self.inbox.drain(IDLE_WAIT if idle else None)):
                self._guarded(self._handle, command)
                if self._stop:
                    return
            if not self._paused and self._phase != "finished":
                self._guarded(self._train_step)
            if self.watch_dir is not None:
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
        was_paused = self._paused
        self._paused = True
        title = "Load failed" if "checkpoint" in type(exc).__name__.lower() else "Error in the trainer thread"
        self.errored.emit(title, f"{type(exc).__name__}: {exc}" if not str(exc).startswith(type(exc).__name__)
                          else str(exc), traceback.format_exc())
        if not was_paused:
            self.paused.emit()

    def _handle(self, command: cmd.Command) -> None:
        if isinstance(command, cmd.Stop):
            self._stop = True
        elif isinstance(command, cmd.Pause):
            if not self._paused:
                self._paused = True
                self.paused.emit()
        elif isinstance(command, cmd.Resume):
            if self._phase == "watching":
                self._phase = "training"  # from now on this is a local fork of the watched run
                self.watch_dir = None
            if self._paused:
                self._paused = False
                self.resumed.emit()
        elif isinstance(command, cmd.Step):
            if not self._paused:
                self._paused = True
                self.paused.emit()
            self._train_step()
            self.stepped.emit(self.trainer.counters.agent_steps)
        elif isinstance(command, cmd.ReportNow):
            self._make_report()
        elif isinstance(command, cmd.Imagine):
            self._imagine(command)
        elif isinstance(command, cmd.Save):
            self._save(command.path)
        elif isinstance(command, cmd.Load):
            self.trainer.load(command.path)
            self._started_training = self.trainer.updates > 0
            self.loaded.emit(str(command.path))
            self._make_report()
        elif isinstance(command, cmd.Fail):
            raise RuntimeError(command.message)

    def _train_step(self) -> None:
        tr = self.trainer
        if tr.done:
            self._phase = "finished"
            return
        info = tr.step()
        if info.scores:
            self._last_score = info.scores[-1]
        if info.trained and not self._started_training:
            self._started_training = True
            self.training_started.emit()
        self._collect_rows()
        if time.time() >= self._next_report:
            self._make_report()
        if tr.save_due():
            self._save(None)

    def _collect_rows(self) -> None:
        rows = [r for r in self.trainer.history if r.get("time", 0.0) > self._last_row_time]
        if rows:
            self._last_row_time = rows[-1].get("time", self._last_row_time)
            self.metrics.extend(rows)

    def _make_report(self) -> None:
        tr = self.trainer
        s = self.settings
        began = time.perf_counter()
        report = tr.report(seed=s.seed, samples=s.samples, horizon=s.horizon, temperature=s.temperature)
        if report is None:
            return  # replay does not hold a full window yet
        entry = ReportEntry(id=self.reports.new_id(), report=report,
                            start_stoch=report.start.stoch[0].detach().cpu().numpy(), made_at=time.time())
        result = imagine(tr.agent, report, s, (), entry.id)
        self.reports.add(entry, result)
        self.report_ready.emit(entry.id)
        cost = time.perf_counter() - began
        self._next_report = time.time() + max(tr.config.run.report_every, cost / REPORT_BUDGET)

    def _imagine(self, command: cmd.Imagine) -> None:
        self.settings = command.settings
        entry, _ = self.reports.get(command.report_id)
        if entry is None:
            return  # the report left the bounded history
        result = imagine(self.trainer.agent, entry.report, command.settings, command.edits, entry.id,
                         command.request_id)
        self.reports.set_result(result)
        self.imagined.emit(command.request_id)

    def _save(self, path: str | None) -> None:
        saved = str(self.trainer.save(path))
        if saved not in self._checkpoints:
            self._checkpoints.append(saved)
        self.saved.emit(saved)

    def _watch(self) -> None:
        now = time.time()
        if now < self._next_watch:
            return
        self._next_watch = now + WATCH_EVERY
        self.metrics.extend(self._tail.read_new())
        self._reload_watched()

    def _reload_watched(self, force: bool = False) -> None:
        ckpt = checkpoint_path(self.watch_dir)
        if not ckpt.is_file():
            return
        mtime = ckpt.stat().st_mtime
        if force or mtime > self._watch_mtime:
            self._watch_mtime = mtime
            self.trainer.load(ckpt)
            self._checkpoints = [str(ckpt)]
            self._make_report()

    def _shutdown(self) -> None:
        tr = self.trainer
        if tr is None:
            return
        try:
            if self.save_on_exit and tr.logdir is not None and self.watch_dir is None and tr.updates > 0:
                tr.flush()
                self._save(None)
        except Exception as exc:
            self.errored.emit("Could not save on exit", str(exc), traceback.format_exc())
        finally:
            tr.close()
            self._phase = "stopped"
            self._publish()
            # Drop the envs here: MuJoCo's GL contexts must be freed on the thread that made them.
            self.trainer = None
            del tr
            gc.collect()

    # -- status --------------------------------------------------------------------------------------------------
    def _phase_now(self) -> str:
        tr = self.trainer
        if self._phase in ("error", "stopped", "finished", "watching", "building"):
            return self._phase
        if self._paused:
            return "paused"
        return "collecting" if tr.replay.steps < tr.train_fill else "training"

    def _publish(self, message: str | None = None) -> None:
        tr = self.trainer
        phase = self._phase_now()
        if tr is None:
            self.status.put(Status(phase=phase, message=message or phase, time=time.time()))
            return
        if phase not in ("error", "stopped", "finished", "watching", "building"):
            self._phase = phase
        fill, have = tr.train_fill, tr.replay.steps
        if message is None:
            message = {
                "collecting": f"collecting the first {fill:,} steps… {have:,}/{fill:,}",
                "training": "training",
                "paused": "paused" + ("" if have >= fill else f" (collected {have:,}/{fill:,} steps)"),
                "watching": f"watching {self.watch_dir} (read-only; Resume trains a local copy)",
                "finished": f"finished: {tr.counters.agent_steps:,} steps",
                "stopped": "stopped",
            }.get(phase, phase)
        eta = None
        if phase in ("collecting", "training"):
            eta = max(0.0, self._next_report - time.time()) if self._next_report else None
        now = time.time()
        then, steps, updates = self._rate_mark
        if now - then >= 1.0:
            if not self._paused:
                self._rates = ((tr.counters.agent_steps - steps) / (now - then), (tr.updates - updates) / (now - then))
            self._rate_mark = (now, tr.counters.agent_steps, tr.updates)
        policy_fps, update_fps = self._rates if phase in ("collecting", "training") else (0.0, 0.0)
        self.status.put(Status(
            phase=phase, message=message, paused=self._paused, agent_steps=tr.counters.agent_steps,
            env_frames=tr.counters.env_frames, updates=tr.updates, replay_steps=have, train_fill=fill,
            policy_fps=policy_fps, update_fps=update_fps, report_eta=eta,
            last_score=self._last_score, episodes=tr.counters.episodes, checkpoints=tuple(self._checkpoints),
            time=time.time()))
