"""What the user is looking at, without Qt (napari's ViewerModel): the one time cursor, the report on screen,
latent edits, imagination settings, held action keys and the imagination requests in flight.

The window and its widgets bind to a StudioModel by composition: they call its methods when the user acts and
subscribe to its `events` to show what changed; the model builds the commands it sends and the `View` every
panel draws from. Its logic is tested without widgets (tests/studio/test_studio_model.py).

Imagined/observed time: `t` indexes the report's context, then the imagined steps. Training time: the report on
screen is the newest (`follow`), or the one the user pinned, held by its report id (`pinned_id`): new reports
push old ones out of the bounded history, and a position would drift with them. A pinned report that left the
history falls back to the oldest remaining one.

The run the model looks at is anything with a `reports` ReportStore, a `metrics` MetricsStore and an `info`
RunInfo (None until the run is built): the trainer worker in the app, a plain object in tests.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from dreamer_studio import commands as cmd
from dreamer_studio.held_keys import HeldKeys, is_action_key
from dreamer_studio.session import ImagineResult, ImagineSettings, ReportEntry, View, timeline_length

MAX_REQUESTS_KEPT = 64  # requests the worker coalesced away never answer: forget them past this many


class Events:
    """A callback list per event name: the model's change notification, without Qt signals."""

    def __init__(self, *names: str) -> None:
        self._callbacks: dict[str, list[Callable[..., Any]]] = {name: [] for name in names}

    def connect(self, name: str, callback: Callable[..., Any]) -> None:
        self._callbacks[name].append(callback)

    def emit(self, name: str, *args: Any) -> None:
        for callback in list(self._callbacks[name]):
            callback(*args)


class StudioModel:
    """`send(command) -> bool` delivers a command to the run (the window's `send`, which says why it cannot).

    Events: `follow(on)` when following the newest report starts or stops; `edits(dict)` when the latent edits
    change; `held(action)` when the held keys spell a new action; `notice(text, ms)` for a short-lived notice.
    """

    def __init__(self, send: Callable[[cmd.Command], bool]) -> None:
        self._send = send
        self.events = Events("follow", "edits", "held", "notice")
        self._settings = ImagineSettings()
        self.held_keys = HeldKeys()
        self._request_id = 0
        self.reset(None)

    def reset(self, run) -> None:
        """Looks at `run` (None: no run) from the start: newest report, cursor at 0, no edits."""
        self.run = run
        self._t, self._sample, self._pinned_id, self._follow = 0, 0, None, True
        self._edits: dict[int, int] = {}
        self._edits_for: int | None = None  # report id the edits belong to
        self._metrics: tuple[int, list[dict[str, float]]] = (-1, [])
        self._ids: list[int] = []
        self._requested: dict[int, ImagineSettings] = {}  # request id -> settings, for the requests in flight
        self._failed_settings: ImagineSettings | None = None  # the last settings the run could not imagine
        self.events.emit("edits", {})
        self.events.emit("follow", True)

    # -- read-only state --------------------------------------------------------------------------------------
    @property
    def t(self) -> int:
        return self._t

    @property
    def sample(self) -> int:
        """Which imagined future the critic and latent panels follow."""
        return self._sample

    @property
    def follow(self) -> bool:
        return self._follow

    @property
    def pinned_id(self) -> int | None:
        return self._pinned_id

    @property
    def edits(self) -> dict[int, int]:
        return dict(self._edits)

    @property
    def settings(self) -> ImagineSettings:
        return self._settings

    @property
    def report_ids(self) -> tuple[int, ...]:
        """The ids in the report history as last synced (oldest first)."""
        return tuple(self._ids)

    @property
    def metrics(self) -> list[dict[str, float]]:
        return self._metrics[1]

    def index(self) -> int:
        """Position in the history of the report on screen: the newest when following, else the pinned one."""
        if not self._ids:
            return -1
        if self._follow or self._pinned_id is None:
            return len(self._ids) - 1
        if self._pinned_id in self._ids:
            return self._ids.index(self._pinned_id)
        return 0  # the pinned report left the bounded history: the oldest remaining one

    def current(self) -> tuple[ReportEntry | None, ImagineResult | None]:
        """The report on screen and its newest imagination (either may be None)."""
        if self.run is None:
            return None, None
        index = self.index()
        return self.run.reports.get(self._ids[index] if index >= 0 else None)

    def state_key(self) -> tuple:
        """Everything the user chose that the panels depend on (a changed key means a redraw)."""
        return (self._t, self._sample, self._pinned_id, self._follow, self._edits_for,
                tuple(sorted(self._edits.items())))

    # -- the time cursor ----------------------------------------------------------------------------------------
    def set_t(self, t: int) -> None:
        entry, result = self.current()
        self._t = max(0, min(int(t), timeline_length(entry, result) - 1))

    def step_back(self) -> None:
        self.set_t(self._t - 1)

    def step_forward(self) -> None:
        self.set_t(self._t + 1)

    def go_first(self) -> None:
        self.set_t(0)

    def go_last(self) -> None:
        self.set_t(10**9)

    # -- training time: the report on screen ----------------------------------------------------------------------
    def older_report(self) -> None:
        self.scrub_report(max(0, self.index() - 1))

    def newer_report(self) -> None:
        self.scrub_report(self.index() + 1)

    def scrub_report(self, index: int) -> None:
        if not self._ids:
            return
        index = max(0, min(index, len(self._ids) - 1))
        if index != len(self._ids) - 1:
            self.set_follow(False)  # (this pins the report on screen; the scrub target wins)
        self._pinned_id = self._ids[index]
        self.ensure_current_settings()

    def set_follow(self, on: bool) -> None:
        if not on and self._follow and self._ids:
            self._pinned_id = self._ids[self.index()]  # pin the report on screen now
        changed = on != self._follow
        self._follow = on
        if changed:
            self.events.emit("follow", on)

    def pin(self, report_id: int) -> None:
        """Shows `report_id` and keeps it on screen while new reports arrive."""
        self.set_follow(False)
        self._pinned_id = report_id

    def sync(self) -> None:
        """Takes the run's newest metrics and report history; a changed history may re-pin and re-imagine."""
        if self.run is None:
            return
        if self.run.metrics.version != self._metrics[0]:
            self._metrics = self.run.metrics.snapshot()
        ids = self.run.reports.ids()
        if ids != self._ids:
            self._ids = ids
            self._repin_if_dropped()
            self.ensure_current_settings()

    def _repin_if_dropped(self) -> None:
        if not self._follow and self._pinned_id is not None and self._ids and self._pinned_id not in self._ids:
            self._pinned_id = self._ids[0]
            self.events.emit("notice", f"the pinned report left the history (the newest {len(self._ids)} are "
                             "kept): showing the oldest one", 6000)

    # -- latent edits -------------------------------------------------------------------------------------------
    def edit(self, s: int, c: int) -> None:
        """Sets latent `s` of the start latent to class `c` (its own class undoes that edit) and re-imagines."""
        entry = self.current()[0]
        if entry is None:
            return
        if self._edits_for != entry.id:
            self._edits, self._edits_for = {}, entry.id
        if int(entry.start_stoch[s].argmax()) == c:
            self._edits.pop(s, None)
        else:
            self._edits[s] = c
        self.set_follow(False)  # pin this report while editing it
        self.events.emit("edits", self.edits)
        self.request_imagine()

    def reset_edits(self) -> None:
        self._edits = {}
        self.events.emit("edits", {})
        self.request_imagine()

    def _edits_of(self, entry: ReportEntry) -> tuple[tuple[int, int], ...]:
        return tuple(sorted(self._edits.items())) if self._edits_for == entry.id else ()

    # -- imagination --------------------------------------------------------------------------------------------
    def set_settings(self, settings: ImagineSettings) -> None:
        self._settings = settings
        if settings.source != "keys":
            self.held_keys.clear()
        self.request_imagine()

    def request_imagine(self) -> int:
        """Asks the run to imagine the report on screen with the current settings and edits; the request id
        (0: there is no report to imagine)."""
        entry = self.current()[0]
        if entry is None:
            return 0
        self._request_id += 1
        if len(self._requested) > MAX_REQUESTS_KEPT:
            self._requested.clear()
        self._requested[self._request_id] = self._settings
        self._send(cmd.Imagine(entry.id, self._settings, self._edits_of(entry), self._request_id))
        return self._request_id

    def ensure_current_settings(self) -> None:
        """A report viewed with other settings than it was imagined with gets re-imagined."""
        entry, result = self.current()
        if entry is None or self._settings == self._failed_settings:
            return  # nothing to imagine, or settings the run could not imagine: asking again would fail again
        if result is None or result.settings != self._settings or result.edits != self._edits_of(entry):
            self.request_imagine()

    def imagine_failed(self, request_id: int) -> None:
        """The run could not imagine request `request_id`: its settings are not asked for again."""
        self._failed_settings = self._requested.pop(request_id, self._settings)

    # -- held action keys ---------------------------------------------------------------------------------------
    def press_key(self, key: int) -> bool:
        """A key went down; True when it is an action key that now drives imagination."""
        info = self.run.info if self.run is not None else None
        if self._settings.source != "keys" or info is None or not is_action_key(key):
            return False
        self.held_keys.press(key)
        self._publish_held()
        return True

    def release_key(self, key: int) -> bool:
        """A key came up; True when it was a held action key."""
        if key not in self.held_keys:
            return False
        self.held_keys.release(key)
        self._publish_held()
        return True

    def release_all(self) -> None:
        if self.held_keys:
            self.held_keys.clear()
            self._publish_held()

    def _publish_held(self) -> None:
        info = self.run.info if self.run is not None else None
        if info is not None:
            self.events.emit("held", self.held_keys.action(info.act_dim, info.discrete))

    # -- panel inputs -------------------------------------------------------------------------------------------
    def settle(self, entry: ReportEntry | None, result: ImagineResult | None) -> int:
        """Fits the cursor and the edits to the report on screen, which may have changed under them; returns
        the timeline's length."""
        length = timeline_length(entry, result)
        self._t = min(self._t, length - 1)
        if self._edits_for is not None and entry is not None and entry.id != self._edits_for and self._edits:
            self._edits, self._edits_for = {}, None
            self.events.emit("edits", {})
        return length

    def report_caption(self, entry: ReportEntry | None) -> str:
        """The timeline's words for the report on screen: its place in the history, updates and age."""
        if entry is None:
            return "no reports yet"
        ago = time.time() - entry.made_at
        return f"{self.index() + 1}/{len(self._ids)} · {entry.report.updates:,} updates · {ago:.0f} s ago"

    def view(self, entry: ReportEntry | None, result: ImagineResult | None, status, info) -> View:
        return View(entry=entry, result=result, t=self._t, sample=self._sample, status=status, info=info,
                    metrics_version=self._metrics[0], metrics=self._metrics[1])
