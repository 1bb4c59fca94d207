"""Play's thread: it owns the player (`dreamer_core.play.DreamPlayer`), its CPU copy of the weights and its real
env, and serves the window's requests in order (open, step, reset, a replay moment, back to live, record).

The real env lives here because MuJoCo's GL context belongs to the thread that made it; the weights come from the
trainer thread through `offer_weights` (thread-safe) and are taken up on the next open or reset, or come with a
replay moment (the weights that made its report). See dreamer_studio/play.py for the window and the clock.
"""

from __future__ import annotations

import queue
import threading
import traceback

from PySide6.QtCore import QThread, Signal

PLAY_HZ = 15  # dream steps per second (the window's clock; also the recordings' frame rate)
CONTEXT_STEPS = 4  # policy steps after the env reset before the dream takes over


class PlayThread(QThread):
    """Owns the player (its agent copy and real env) and serves open / step / reset / replay (a replay moment) /
    live (back to the trainer's moment) / record requests in order."""

    opened = Signal(str)  # a line about the context (where it came from, whether the real env restores)
    stepped = Signal(object)  # DreamStep
    recorded = Signal(object)  # list of paths
    failed = Signal(str, str)  # message, details

    def __init__(self, config, seed: int = 0, parent=None) -> None:
        super().__init__(parent)
        self.config, self.seed = config, seed
        self.requests: queue.Queue = queue.Queue()
        self._weights_lock = threading.Lock()
        self._weights: tuple | None = None  # the newest copy from the trainer: (state dict, updates, live moment)
        self.weights_updates: int | None = None  # the updates of the weights the player uses
        self.player = None
        self.replay = None  # the replay moment's PlayContext while Play dreams from one; None: the trainer's
        self._env = None
        self._agent = None
        self._live: tuple | None = None  # the trainer's weights last loaded, to go back to after a replay moment

    def offer_weights(self, weights: dict, updates: int, moment: dict | None = None) -> None:
        """Thread-safe: the newest weights (and the trainer's live moment, `dreamer_core.play.live_moment`),
        taken up on the next open or reset."""
        with self._weights_lock:
            self._weights = (weights, updates, moment)
        self.requests.put(("weights",))

    def request(self, *item) -> None:
        self.requests.put(item)

    def request_stop(self) -> None:
        self.requests.put(("stop",))

    def run(self) -> None:
        try:
            while True:
                item = self.requests.get()
                if item[0] == "stop":
                    return
                try:
                    self._serve(item)
                except Exception as exc:  # a failed request is shown; Play stays open
                    self.failed.emit(f"{type(exc).__name__}: {exc}", traceback.format_exc())
        finally:
            if self._env is not None:
                self._env.close()  # on this thread: MuJoCo's GL context was made here

    def _serve(self, item: tuple) -> None:
        from dreamer_core import play

        kind = item[0]
        if kind == "weights":
            if self.player is None:
                self._open()
        elif kind == "replay":
            self._play_replay(*item[1:])
        elif self.player is None:
            return  # no weights yet: nothing to step
        elif kind == "step":
            self.stepped.emit(self.player.step(item[1]))
        elif kind == "live":
            self._play_live()
        elif kind == "reset":
            # The old context's latent belongs to the old weights; a replay moment keeps the report's.
            if self.replay is None and self._load_newest(self.player.agent):
                self.player.context = self._context(self.player.agent)
                self.opened.emit(f"newer weights: a new context, {self.player.context.source} · "
                                 f"{self.player.source_info()}")
            self.stepped.emit(self.player.reset())
        elif kind == "record":
            self.recorded.emit(play.save_recording(list(self.player.steps), item[1], meta=self._meta(), fps=PLAY_HZ))

    def _build(self):
        """This thread's real env and agent copy (once)."""
        from dreamer_core import play
        from dreamer_core.envs import make_env

        if self._agent is None:
            self._env = make_env(self.config.env, self.seed)
            self._agent = play.player_agent(self.config, self._env.obs_space, self._env.act_space)
        return self._agent

    def _start(self, context) -> None:
        """Plays from `context`: the player's first, or its new one."""
        from dreamer_core import play

        if self.player is None:
            self.player = play.DreamPlayer(self._agent, context, self._env, seed=self.seed)
        else:
            self.player.context = context
        first = self.player.reset()
        self.opened.emit(f"{context.source} · {first.info}")
        self.stepped.emit(first)

    def _open(self) -> None:
        agent = self._build()
        self._load_newest(agent)
        self._start(self._context(agent))

    def _play_replay(self, context, weights: dict | None, updates: int | None) -> None:
        """Dreams from a replay moment with the weights that made its report (None: too large to keep, so the
        trainer's newest weights, which the status line then names)."""
        agent = self._build()
        if weights is not None:
            agent.load_state_dict(weights)
            self.weights_updates = updates
        else:
            self._load_newest(agent)
        self.replay = context
        self._start(context)
        if weights is None:
            self.opened.emit(f"{context.source} · {self.player.source_info()} · dreamed with the weights of now "
                             f"({self.weights_updates or 0:,} updates): the report's own are not kept (see "
                             "KEEP_BYTES in dreamer_studio/imagine.py)")

    def _play_live(self) -> None:
        """Back from a replay moment to the trainer's latest real frame, with the trainer's newest weights."""
        agent = self._build()
        self.replay = None
        if not self._load_newest(agent) and self._live is not None:
            agent.load_state_dict(self._live[0])
            self.weights_updates, self._moment = self._live[1], self._live[2]
        self._start(self._context(agent))

    def _load_newest(self, agent) -> bool:
        """Loads the newest weights the trainer offered, if any came since the last load."""
        with self._weights_lock:
            weights, self._weights = self._weights, None
        if weights is None:
            return False
        agent.load_state_dict(weights[0])
        self.weights_updates, self._moment = weights[1], weights[2]
        self._live = weights
        return True

    _moment: dict | None = None  # the trainer's live moment that came with the weights in use

    def _context(self, agent):
        """The trainer's latest real frame when it came with the weights (its env state restores here), else a
        reset of this thread's own env plus a few policy steps."""
        from dreamer_core import play

        if self._moment is not None:
            try:
                return play.context_from_moment(agent, self._env, self._moment, self.seed)
            except Exception:  # noqa: BLE001 - a state this env cannot take: play from a reset instead
                pass
        return play.context_from_env(agent, self._env, CONTEXT_STEPS, self.seed)

    def _meta(self) -> dict[str, str]:
        env = self.config.env
        return {"task": env.task, "obs": env.obs, "preset": self.config.preset,
                "weights_updates": str(self.weights_updates), "seed": str(self.seed)}
