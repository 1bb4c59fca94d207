"""What a run is doing, as `Status.phase` says it to the status line and the panels (Qt-free).

A Phase is a `StrEnum`: it equals, prints and serialises as its value, so `status.phase == "training"` and
f-strings keep working where a plain string was used before.
"""

from __future__ import annotations

from enum import StrEnum


class Phase(StrEnum):
    IDLE = "idle"  # no run (the window before the first start)
    BUILDING = "building"  # the env and the model are being built
    COLLECTING = "collecting"  # replay fills before the first update
    TRAINING = "training"
    PAUSED = "paused"
    WATCHING = "watching"  # showing a run directory or model written elsewhere, read-only
    FINISHED = "finished"  # run.steps reached: nothing more to train
    ERROR = "error"  # the run could not start
    STOPPING = "stopping"  # saving latest.ckpt before the thread ends
    STOPPED = "stopped"

    @property
    def sticky(self) -> bool:
        """Held until the worker leaves it. The others are read off the run at each status: paused, or
        collecting until replay holds `train_fill` steps, then training."""
        return self in STICKY

    @property
    def running(self) -> bool:
        """Stepping the envs: rates and the countdown to the next report mean something."""
        return self in (Phase.COLLECTING, Phase.TRAINING)


STICKY = frozenset({Phase.IDLE, Phase.BUILDING, Phase.WATCHING, Phase.FINISHED, Phase.ERROR, Phase.STOPPING,
                    Phase.STOPPED})
