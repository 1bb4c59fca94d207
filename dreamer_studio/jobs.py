"""Short background jobs (video export) on their own QThread, with progress for a progress bar."""

from __future__ import annotations

import traceback
from typing import Callable

from PySide6.QtCore import QThread, Signal


class Job(QThread):
    """Runs `fn(progress)` off the GUI thread; `progress(done, total)` becomes the `progress` signal."""

    progress = Signal(int, int)
    done = Signal(object)  # fn's return value
    failed = Signal(str, str)  # message, traceback

    def __init__(self, fn: Callable[[Callable[[int, int], None]], object], name: str = "job", parent=None) -> None:
        super().__init__(parent)
        self.fn = fn
        self.name = name
        self.result: object = None
        self.error: str | None = None

    def run(self) -> None:
        try:
            self.result = self.fn(lambda done, total: self.progress.emit(done, total))
        except Exception as exc:
            self.error = str(exc)
            self.failed.emit(str(exc), traceback.format_exc())
            return
        self.done.emit(self.result)

    def request_stop(self) -> None:
        """Jobs are short; stopping means waiting for them (the dangling-thread guard calls this)."""
