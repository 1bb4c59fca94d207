"""What the status line and the run page say of a run: its phase and a `Status` snapshot (Qt-free).

The trainer thread (worker.py) holds the sticky phases; the others are read off the run here. The snapshot is
built on the trainer thread, which owns the trainer, and handed to the GUI through a latest-only store.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from dreamer_studio.phase import Phase
from dreamer_studio.run_watcher import RunWatcher
from dreamer_studio.session import Status


def live_phase(trainer, paused: bool) -> Phase:
    """The phase of a run that holds no sticky one: paused, or collecting until replay holds `train_fill` steps."""
    if paused:
        return Phase.PAUSED
    return Phase.COLLECTING if trainer.replay.steps < trainer.train_fill else Phase.TRAINING


def phase_message(phase: Phase, trainer, watcher: RunWatcher | None) -> str:
    fill, have = trainer.train_fill, trainer.replay.steps
    match phase:
        case Phase.COLLECTING:
            return f"collecting the first {fill:,} steps… {have:,}/{fill:,}"
        case Phase.TRAINING:
            skipped = trainer.agent.skipped_updates
            return "training" + (f" · {skipped:,} updates skipped (non-finite)" if skipped else "")
        case Phase.PAUSED:
            return "paused" + ("" if have >= fill else f" (collected {have:,}/{fill:,} steps)")
        case Phase.WATCHING:
            return watcher.message(trainer)
        case Phase.FINISHED:
            return f"finished: {trainer.counters.agent_steps:,} steps"
    return phase.value


def run_status(phase: Phase, trainer, watcher: RunWatcher | None, *, paused: bool, message: str | None,
               next_report: float, last_score: float | None, checkpoints: Sequence[str]) -> Status:
    """The snapshot of a run in `phase`. `trainer` None: not built yet, or closed. `message` None: the phase's
    own. `next_report`: time.time() of the next automatic report, 0 when none is scheduled."""
    if trainer is None:
        return Status(phase=phase, message=message or phase.value, time=time.time())
    eta = None
    if phase.running and next_report:
        eta = max(0.0, next_report - time.time())
    rates = trainer.rates if phase.running else {}  # the trainer's own meter, which a pause or a load restarts
    counters = trainer.counters
    counts = dict(agent_steps=counters.agent_steps, env_frames=counters.env_frames, updates=trainer.updates,
                  episodes=counters.episodes)
    if phase == Phase.WATCHING:
        counts.update(watcher.counters(trainer.updates))  # where the run is now, not the weights on screen
    return Status(
        phase=phase, message=phase_message(phase, trainer, watcher) if message is None else message, paused=paused,
        replay_steps=trainer.replay.steps, train_fill=trainer.train_fill, policy_fps=rates.get("fps/policy", 0.0),
        update_fps=rates.get("fps/updates", 0.0), report_eta=eta, last_score=last_score,
        checkpoints=tuple(checkpoints), time=time.time(), **counts)
