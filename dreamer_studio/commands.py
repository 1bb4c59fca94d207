"""Commands the GUI sends to the trainer thread, and the bounded inbox they travel through.

The trainer drains the inbox between train steps (never mid-update), so pause and single step happen in place.
Imagination requests are coalesced as they are queued: only the newest one waits (older ones are stale by
construction), so a burst of them during a long train step never fills the inbox and crowds out Pause or Save.
"""

from __future__ import annotations

import threading
import time
from collections import deque
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
    """Stop after the current train step; `save`: first save latest.ckpt (when the run has one to save)."""

    save: bool = True


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
class ReportFrom:
    """A report on the window of the replay episode whose first stored step is stream step `start` of `worker`."""

    worker: int
    start: int


@dataclass(frozen=True)
class Fail:
    """Raise inside the trainer thread (a diagnostic: checks that errors surface and the run survives)."""

    message: str = "injected failure"


Command = Pause | Resume | Step | Stop | ReportNow | ReportFrom | Save | Load | Imagine | Fail


class InboxFull(RuntimeError):
    pass


class Inbox:
    """A bounded, thread-safe command queue that keeps at most one (the newest) Imagine command."""

    def __init__(self, maxsize: int = 128) -> None:
        self._maxsize = maxsize
        self._items: deque[Command] = deque()
        self._ready = threading.Condition()

    def put(self, command: Command) -> None:
        with self._ready:
            if isinstance(command, Imagine):
                stale = [c for c in self._items if isinstance(c, Imagine)]
                for c in stale:
                    self._items.remove(c)
            if len(self._items) >= self._maxsize:
                raise InboxFull("the trainer is not taking commands (its inbox is full); is it stuck?")
            self._items.append(command)
            self._ready.notify()

    def drain(self, timeout: float | None = None) -> list[Command]:
        """All waiting commands, oldest first; waits up to `timeout` s for the first one (None: no wait)."""
        with self._ready:
            if timeout and not self._items:
                deadline = time.monotonic() + timeout
                while not self._items:
                    left = deadline - time.monotonic()
                    if left <= 0 or not self._ready.wait(left):
                        break
            out = list(self._items)
            self._items.clear()
        return out

    def __len__(self) -> int:
        with self._ready:
            return len(self._items)
