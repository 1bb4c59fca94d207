"""The one time cursor and the report history it moves through (a mixin of MainWindow).

Imagined/observed time: `t` indexes the report's context, then the imagined steps. Training time: the report on
screen is the newest (`follow`), or the one the user pinned, held by its report id (`pinned_id`): new reports
push old ones out of the bounded history, and a position would drift with them. A pinned report that left the
history falls back to the oldest remaining one.
"""

from __future__ import annotations

from PySide6.QtCore import Slot

from dreamer_studio.session import timeline_length


class TimeCursor:
    """Mixed into MainWindow; uses its `worker`, `_ids`, `timeline`, `settings`, `edits` and `notify`."""

    @Slot(int)
    def set_t(self, t: int) -> None:
        entry, result = self._entry()
        self.t = max(0, min(int(t), timeline_length(entry, result) - 1))

    @Slot()
    def step_back(self) -> None:
        self.set_t(self.t - 1)

    @Slot()
    def step_forward(self) -> None:
        self.set_t(self.t + 1)

    @Slot()
    def go_first(self) -> None:
        self.set_t(0)

    @Slot()
    def go_last(self) -> None:
        self.set_t(10**9)

    @Slot()
    def older_report(self) -> None:
        self.on_report_scrub(max(0, self._index() - 1))

    @Slot()
    def newer_report(self) -> None:
        self.on_report_scrub(self._index() + 1)

    @Slot(int)
    def on_report_scrub(self, index: int) -> None:
        if not self._ids:
            return
        index = max(0, min(index, len(self._ids) - 1))
        if index != len(self._ids) - 1:
            self.timeline.follow.setChecked(False)  # (this pins the report on screen; the scrub target wins)
        self.pinned_id = self._ids[index]
        self._ensure_current_settings()

    @Slot(bool)
    def on_follow(self, on: bool) -> None:
        if not on and self.follow and self._ids:
            self.pinned_id = self._ids[self._index()]  # pin the report on screen now
        self.follow = on

    def _index(self) -> int:
        """Position in the history of the report on screen: the newest when following, else the pinned one."""
        if not self._ids:
            return -1
        if self.follow or self.pinned_id is None:
            return len(self._ids) - 1
        if self.pinned_id in self._ids:
            return self._ids.index(self.pinned_id)
        return 0  # the pinned report left the bounded history: the oldest remaining one

    def _repin_if_dropped(self) -> None:
        if not self.follow and self.pinned_id is not None and self._ids and self.pinned_id not in self._ids:
            self.pinned_id = self._ids[0]
            self.notify(f"the pinned report left the history (the newest {len(self._ids)} are kept): showing the "
                        "oldest one", 6000)

    def _entry(self):
        if self.worker is None:
            return None, None
        index = self._index()
        return self.worker.reports.get(self._ids[index] if index >= 0 else None)

    def _ensure_current_settings(self) -> None:
        """A report viewed with other settings than it was imagined with gets re-imagined."""
        entry, result = self._entry()
        if entry is None:
            return
        edits = tuple(sorted(self.edits.items())) if self.edits_for == entry.id else ()
        if self.settings == self._failed_settings:
            return  # the worker could not imagine these settings: asking again would fail again
        if result is None or result.settings != self.settings or result.edits != edits:
            self._request_imagine()
