"""Commands the GUI sends to the trainer thread, and the bounded inbox they travel through.

The trainer drains the inbox between train steps (never mid-update), so pause and single step happen in place.
Imagination requests are coalesced: only the newest one is served, older ones are stale by construction.
"""

from __future__ import annotations

import queue
from dataclasses import dataclass

from dreamer_studio.session import ImagineSettings


@dataclass(frozen=True)
class Pause:
    pass


@dataclass(frozen=True)
class Resume:
    pass


@dataclass(frozen=True)
class Step:
    """One env step plus the updates it earns, then stay paused."""


@dataclass(frozen=True)
class Stop:
    pass


@dataclass(frozen=True)
class ReportNow:
    pass


@dataclass(frozen=True)
class Save:
    path: str | None = None  # None: latest.ckpt in the run directory


@dataclass(frozen=True)
class Load:
    path: str


@dataclass(frozen=True)
class Imagine:
    """Re-imagine from report `report_id`'s start latent with `settings` and the given latent edits."""

    report_id: int
    settings: ImagineSettings
    edits: tuple[tuple[int, int], ...] = ()
    request_id: int = 0


@dataclass(frozen=True)
class Fail:
    """Raise inside the trainer thread (a diagnostic: checks that errors surface and the run survives)."""

    message: str = "injected failure"


Command = Pause | Resume | Step | Stop | ReportNow | Save | Load | Imagine | Fail


class InboxFull(RuntimeError):
    pass


class Inbox:
    """A bounded, thread-safe command queue."""

    def __init__(self, maxsize: int = 128) -> None:
        self._queue: queue.Queue[Command] = queue.Queue(maxsize=maxsize)

    def put(self, command: Command) -> None:
        try:
            self._queue.put_nowait(command)
        except queue.Full:
            raise InboxFull("the trainer is not taking commands (its inbox is full); is it stuck?") from None

    def drain(self, timeout: float | None = None) -> list[Command]:
        """All waiting commands, oldest first; waits up to `timeout` s for the first one (None: no wait)."""
        out: list[Command] = []
        try:
            if timeout:
                out.append(self._queue.get(timeout=timeout))
            while True:
                out.append(self._queue.get_nowait())
        except queue.Empty:
            pass
        # Coalesce imagination requests: only the newest matters.
        last = max((i for i, c in enumerate(out) if isinstance(c, Imagine)), default=-1)
        return [c for i, c in enumerate(out) if not isinstance(c, Imagine) or i == last]
