"""Play inside the dream: a window where held keys drive the world model step by step, a real env beside it.

A QTimer ticks at PLAY_HZ; each tick reads the keys held at that moment and asks the play thread for one step
(`dreamer_core.play.DreamPlayer.step`); a tick that finds the previous step still running is owed and goes out
as soon as that step is back (at most one owed), so a slow step costs a late frame, not a dropped one, and nothing
queues. The play thread (dreamer_studio/play_thread.py) owns its own CPU copy of the weights and its own real env (MuJoCo's
GL context belongs to the thread that made it), so the trainer thread never waits for Play and Play never reads
weights while they are being updated.

Weights: the window asks the trainer for a report (`ReportNow`, an existing command) and copies the weights inside
the `report_ready` signal, connected directly so that the copy runs on the trainer thread between two train steps
(a state-dict copy: 0.5 ms median at the `cpu` preset, docs/results/gui.md). With the weights comes the trainer's live moment (`live_moment`:
its env's exact state, the frame it acts on next and its acting latent), the context Play starts from. Later
reports refresh that copy too; the player takes the newest copy on R (reset), so a session keeps one set of
weights from reset to reset, and the HUD says which.

A replay moment instead (`PlayWindow.play_from`, from the Replay tab's *Play from the cursor*): the posterior at the
report step under the time cursor, dreamed with the weights that made that report (its latent belongs to them), so
R goes back to that moment, not to newer weights. Replay keeps frames, not physics states: the real env beside it
starts from a fresh reset, and the status line says so. *Latest real frames* goes back to the trainer's moment.

Keys: 1-9 or the arrows pick a discrete action (← 1, → 2, ↑ 3, ↓ 4); for continuous actions ←/→ choose the
dimension and ↑/↓ push it (by PUSH per tick while held; it stays where it is left; 0 zeroes the vector). Space
pauses, R resets to the real context (the trainer's latest, or the chosen replay moment), H toggles the HUD, Esc
closes Play.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import (QApplication, QCheckBox, QFileDialog, QHBoxLayout, QLabel, QPushButton, QVBoxLayout,
                               QWidget)
from shiboken6 import isValid

from dreamer_core.play import KEEP_STEPS
from dreamer_studio import commands as cmd
from dreamer_studio.held_keys import HeldKeys
from dreamer_studio.panels.base import ImageView
from dreamer_studio.play_thread import PLAY_HZ, PlayThread
from dreamer_studio.shipped import ModelWatcher

PLOT_STEPS = 30 * PLAY_HZ  # steps the error plot shows
PUSH = 0.5  # how far ↑/↓ move a continuous action dimension per tick
DIGITS = [getattr(Qt.Key, f"Key_{i}") for i in range(1, 10)]
ARROWS = [Qt.Key.Key_Left, Qt.Key.Key_Right, Qt.Key.Key_Up, Qt.Key.Key_Down]


class PlayKeys:
    """The action the held keys spell at each tick (Qt key codes in, an action vector (A,) out)."""

    def __init__(self, act_dim: int, discrete: bool) -> None:
        self.act_dim, self.discrete = act_dim, discrete
        self.held = HeldKeys()  # press order: the newest discrete key wins, a release falls back to the one before
        self.dim = 0  # continuous: the dimension ↑/↓ push
        self.vector = np.zeros(act_dim, np.float32)  # continuous: the action vector, kept between ticks

    def press(self, key: int) -> None:
        self.held.press(key)
        if not self.discrete:
            if key in (Qt.Key.Key_Left, Qt.Key.Key_Right):  # choose a dimension (one press, one move)
                self.dim = (self.dim + (1 if key == Qt.Key.Key_Right else -1)) % self.act_dim
            elif key == Qt.Key.Key_0:
                self.vector[:] = 0.0

    def release(self, key: int) -> None:
        if key in self.held:  # a release whose press went elsewhere (the focus came back meanwhile)
            self.held.release(key)

    def release_all(self) -> None:
        self.held.clear()

    def action(self) -> np.ndarray:
        """The action of this tick; continuous pushes move the kept vector."""
        if self.discrete:
            index = 0  # nothing held: action 1
            for key in self.held.keys:
                if key in DIGITS:
                    index = DIGITS.index(key)
                elif key in ARROWS:
                    index = ARROWS.index(key)
            out = np.zeros(self.act_dim, np.float32)
            out[min(index, self.act_dim - 1)] = 1.0
            return out
        push = (Qt.Key.Key_Up in self.held) - (Qt.Key.Key_Down in self.held)
        if push:
            self.vector[self.dim] = np.clip(self.vector[self.dim] + PUSH * push, -1.0, 1.0)
        return self.vector.copy()

    def readout(self) -> str:
        if self.discrete:
            return f"action {int(self.action().argmax()) + 1} of {self.act_dim} (keys 1-{min(self.act_dim, 9)})"
        cells = [f"[{v:+.1f}]" if i == self.dim else f"{v:+.1f}" for i, v in enumerate(self.vector)]
        return f"a = ({', '.join(cells)})  dim {self.dim + 1}/{self.act_dim}: ←/→ choose, ↑/↓ push, 0 zero"


class PlayWindow(QWidget):
    """Play inside the dream of `worker`'s model. Closing it (Esc) stops its thread; training is never touched."""

    ticked = Signal()  # every timer tick, stepped or not (tests wait on it instead of sleeping)
    step_shown = Signal(int)  # the step index just drawn

    def __init__(self, worker, parent: QWidget | None = None, seed: int = 0) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        info = worker.info
        self.setWindowTitle(f"Play inside the dream · {info.config.env.task}")
        self.resize(1100, 640)
        self.worker = worker
        self.keys = PlayKeys(info.act_dim, info.discrete)
        self.paused = False
        self.in_flight = False  # a step request the thread has not answered yet
        self.steps: list = []  # DreamSteps since the last reset, as shown
        self.errors: list[float] = []
        self.hud_on = True
        self.last_record: list[Path] = []
        self._build_ui()
        self.thread = PlayThread(info.config, seed)
        self.thread.stepped.connect(self._on_step)
        self.thread.opened.connect(self._on_opened)
        self.thread.recorded.connect(self._on_recorded)
        self.thread.failed.connect(self._on_failed)
        self.thread.start()
        # Runs on the trainer thread, between train steps: the only place its weights may be read.
        worker.report_ready.connect(self._grab_weights, Qt.ConnectionType.DirectConnection)
        worker.send(cmd.ReportNow())
        self.status.setText("waiting for the trainer's weights (a report of now; replay must hold one window)…")
        self.timer = QTimer(self)
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(1000 // PLAY_HZ)  # 66 ms: 15.15 ticks/s (67 ms would cap Play at 14.93)
        self.timer.timeout.connect(self.tick)
        self.timer.start()
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        QApplication.instance().aboutToQuit.connect(self.close)  # never leave the play thread running

    # -- layout -------------------------------------------------------------------------------------------------
    def _build_ui(self) -> None:
        self.dream_view, self.real_view = ImageView(interactive=False), ImageView(interactive=False)
        self.dream_vec = pg.PlotWidget(title="dream vs real vector (proprio)")
        self.dream_bars = pg.BarGraphItem(x=[], height=[], width=0.4, brush="#e57373")
        self.real_bars = pg.BarGraphItem(x=[], height=[], width=0.4, brush="#81c784")
        self.dream_vec.addItem(self.dream_bars)
        self.dream_vec.addItem(self.real_bars)
        self.dream_vec.setVisible(False)
        sides = QHBoxLayout()
        for title, view in (("dream (the model's prior)", self.dream_view), ("real env, same actions", self.real_view)):
            column = QVBoxLayout()
            label = QLabel(title)
            label.setStyleSheet("color: #ddd; font-weight: bold;")
            column.addWidget(label)
            column.addWidget(view, 1)
            sides.addLayout(column, 1)
        sides.addWidget(self.dream_vec, 1)
        self.error_plot = pg.PlotWidget(title="dream vs real: mean squared error per step (0-255 scale)")
        self.error_plot.setFixedHeight(160)
        self.error_curve = self.error_plot.plot(pen=pg.mkPen("#ffb74d", width=2))  # no symbols: cheap at 15 Hz
        self.hud = QLabel()
        self.hud.setStyleSheet("color: #fff; background: #333; font-family: monospace; padding: 3px;")
        self.readout = QLabel()
        self.readout.setStyleSheet("color: #90caf9; font-family: monospace;")
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setStyleSheet("color: #aaa;")
        self.record_button = QPushButton("Record…")
        self.record_button.clicked.connect(self.on_record_clicked)
        self.live_button = QPushButton("Latest real frames")
        self.live_button.setToolTip("play from the trainer's latest real frame again, instead of the replay moment "
                                    "chosen in the Replay tab (Play from the cursor)")
        self.live_button.setEnabled(False)  # enabled while a replay moment is played (disabled, not hidden: no jump)
        self.live_button.clicked.connect(self.play_live)
        self.hud_box = QCheckBox("HUD (H)")
        self.hud_box.setChecked(True)
        self.hud_box.toggled.connect(self.set_hud)
        for w in (self.record_button, self.live_button, self.hud_box):
            w.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # the play keys (Space above all) stay with the window
        bar = QHBoxLayout()
        bar.addWidget(self.readout, 1)
        bar.addWidget(self.hud_box)
        bar.addWidget(self.live_button)
        bar.addWidget(self.record_button)
        help_line = QLabel("Space pause · R reset to the real context (latest, or the replay moment) · H HUD · "
                           "Esc leave Play · "
                           + ("1-9 or arrows: action" if self.keys.discrete else "←/→ dimension · ↑/↓ push · 0 zero"))
        help_line.setStyleSheet("color: #888;")
        layout = QVBoxLayout(self)
        layout.addLayout(sides, 1)
        layout.addWidget(self.hud)
        layout.addLayout(bar)
        layout.addWidget(self.error_plot)
        layout.addWidget(self.status)
        layout.addWidget(help_line)
        self.readout.setText(self.keys.readout())

    # -- weights from the trainer ------------------------------------------------------------------------------------
    def _grab_weights(self, _report_id: int) -> None:
        """Trainer thread (direct connection): copies the weights; everything else happens on other threads."""
        from dreamer_core.play import weights_snapshot

        from dreamer_core.play import live_moment

        trainer = self.worker.trainer
        if trainer is not None:
            # A watched run's envs live in the process that trains it; this trainer's env has only been reset,
            # so its moment is not "the run's latest real frame": Play starts from its own env then (and says so).
            watcher = getattr(self.worker, "watcher", None)
            watched = watcher is not None and not isinstance(watcher, ModelWatcher)
            self.thread.offer_weights(weights_snapshot(trainer.agent), int(trainer.agent.updates),
                                      None if watched else live_moment(trainer))

    # -- the clock ---------------------------------------------------------------------------------------------------
    @Slot()
    def tick(self) -> None:
        """One frame: the keys held now become the next dream step. A tick that finds the previous step still
        running is owed: the next step goes out as soon as that one is back (one owed at most, so nothing piles
        up and a slow step costs one late frame instead of a dropped one)."""
        if not self.paused and self.steps:
            if self.in_flight:
                self._owed = True
            else:
                self._send_step()
        self.readout.setText(self.keys.readout())
        self.ticked.emit()

    def _send_step(self) -> None:
        self.in_flight, self._owed = True, False
        self.thread.request("step", self.keys.action())

    def toggle_pause(self) -> None:
        self.paused, self._owed = not self.paused, False
        self.status.setText("paused (Space resumes)" if self.paused else self._context_line)

    def reset(self) -> None:
        self.in_flight, self._owed = True, False  # no step goes out before step 0 of the new session is back
        self.thread.request("reset")

    def play_from(self, context, weights: dict | None, updates: int | None) -> None:
        """Plays from a replay moment (`dreamer_core.play.context_from_report`) with the weights that made its
        report (None: the trainer's newest); R comes back to it until `play_live`."""
        self.in_flight, self._owed = True, False  # as a reset: no step goes out before the new step 0
        self.live_button.setEnabled(True)
        self.thread.request("replay", context, weights, updates)

    def play_live(self) -> None:
        """Back to the trainer's latest real frame (and its newest weights)."""
        self.in_flight, self._owed = True, False
        self.live_button.setEnabled(False)
        self.thread.request("live")

    def record(self, stem: str | Path) -> None:
        """Writes STEM.mp4 and STEM.npz of the session since the last reset (answered by `recorded`)."""
        self.thread.request("record", str(stem))

    def set_hud(self, on: bool) -> None:
        self.hud_on = on
        self.hud.setVisible(on)
        if self.hud_box.isChecked() != on:
            self.hud_box.setChecked(on)

    # -- answers from the play thread ------------------------------------------------------------------------------
    _context_line = ""

    @Slot(str)
    def _on_opened(self, text: str) -> None:
        self._context_line = text
        self.status.setText(text)

    _owed = False  # a tick came while a step was running

    @Slot(object)
    def _on_step(self, step) -> None:
        self.in_flight = False
        if self._owed and not self.paused and step.t > 0:
            self._send_step()  # the owed tick's step, with the keys held now
        if step.t == 0:
            self.steps, self.errors = [], []
        self.steps.append(step)
        self.errors.append(np.nan if step.error is None else step.error)
        if len(self.steps) > KEEP_STEPS:  # as the player's own history: memory stays bounded
            del self.steps[1], self.errors[1]
        self._draw(step)
        self.step_shown.emit(step.t)

    def _draw(self, step) -> None:
        if step.frame is not None:
            self.dream_view.set_image(step.frame)
        if step.real_frame is not None:
            self.real_view.set_image(step.real_frame)
        has_vec = step.frame is None and step.vector is not None
        if self.dream_vec.isVisibleTo(self) != has_vec:  # only on a change: a relayout per frame costs time
            self.dream_vec.setVisible(has_vec)
            self.dream_view.setVisible(not has_vec)
        if has_vec:
            x = np.arange(len(step.vector))
            self.dream_bars.setOpts(x=x - 0.2, height=step.vector)
            if step.real_vector is not None:
                self.real_bars.setOpts(x=x + 0.2, height=step.real_vector)
        shown = self.steps[-PLOT_STEPS:]  # the last 30 s: the plot's cost stays flat in a long session
        errors = np.asarray(self.errors[-PLOT_STEPS:], float)
        self.error_curve.setData(np.array([s.t for s in shown]), np.nan_to_num(errors, nan=0.0))
        act = "context" if step.action is None else "a=(" + ", ".join(f"{v:+.2f}" for v in step.action) + ")"
        err = "—" if step.error is None else f"{step.error:.1f}"
        real = "" if step.real_reward is None else f" · real reward {step.real_reward:+.3f}"
        updates = self.thread.weights_updates
        self.hud.setText(f"step {step.t} · {act} · predicted reward {step.reward:+.3f} · continue {step.cont:.2f} · "
                         f"value {step.value:+.2f}{real} · error {err} · {step.latency * 1000:.0f} ms · weights "
                         f"at {updates or 0:,} updates")
        if not self.paused:
            extra = "" if step.info in self._context_line else f" · {step.info}"
            self.status.setText(self._context_line + extra)

    @Slot(object)
    def _on_recorded(self, paths) -> None:
        self.last_record = list(paths)
        self.status.setText("recorded " + ", ".join(str(p) for p in paths))

    @Slot(str, str)
    def _on_failed(self, message: str, details: str) -> None:
        self.in_flight = False
        self.status.setText(f"Play failed: {message}")
        print(details, file=sys.stderr, flush=True)

    # -- user input ----------------------------------------------------------------------------------------------
    @Slot()
    def on_record_clicked(self) -> None:
        stem = f"play-{time.strftime('%Y%m%d-%H%M%S')}"
        path, _ = QFileDialog.getSaveFileName(self, "Record the play session (writes .mp4 and .npz)", stem + ".mp4",
                                              "Video (*.mp4)")
        if path:
            self.record(path)

    def keyPressEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        key = event.key()
        if event.isAutoRepeat():
            return
        if key == Qt.Key.Key_Escape:
            self.close()
        elif key == Qt.Key.Key_Space:
            self.toggle_pause()
        elif key == Qt.Key.Key_R:
            self.reset()
        elif key == Qt.Key.Key_H:
            self.set_hud(not self.hud_on)
        elif key in DIGITS or key in ARROWS or key == Qt.Key.Key_0:
            self.keys.press(key)
            self.readout.setText(self.keys.readout())
        else:
            super().keyPressEvent(event)

    def keyReleaseEvent(self, event) -> None:  # noqa: N802
        if not event.isAutoRepeat():
            self.keys.release(event.key())

    def focusOutEvent(self, event) -> None:  # noqa: N802
        self.keys.release_all()  # no action stays stuck when the focus goes elsewhere
        super().focusOutEvent(event)

    def closeEvent(self, event) -> None:  # noqa: N802
        self.timer.stop()
        try:
            self.worker.report_ready.disconnect(self._grab_weights)
        except (RuntimeError, TypeError):  # already gone with its worker
            pass
        self.thread.request_stop()
        self.thread.wait()
        super().closeEvent(event)


def open_play(window) -> PlayWindow | None:
    """The main window's Play action: a Play window on the current run (one at a time)."""
    worker = window.worker
    if worker is None or worker.info is None or not worker.isRunning():
        window.notify("Play needs a run: start one or open a run directory first", 5000)
        return None
    current = getattr(window, "play_window", None)
    if current is not None and isValid(current) and current.isVisible():  # a closed one is deleted (DeleteOnClose)
        current.raise_()
        current.activateWindow()
        return current
    window.play_window = PlayWindow(worker, parent=window)  # a window of its own that closes with the app
    window.play_window.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    window.play_window.show()
    window.play_window.activateWindow()
    return window.play_window
