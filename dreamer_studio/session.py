"""Qt-free session data shared by the trainer thread and the GUI: settings, snapshots and bounded stores.

Everything crossing threads lives here. Stores are lock-protected and bounded; the GUI pulls from them on a
timer (latest-only), so a slow GUI never makes the trainer queue work, and a fast trainer never floods the GUI.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import numpy as np

from dreamer_studio.phase import Phase

T = TypeVar("T")

ACTION_SOURCES = ("policy", "replayed", "keys")


@dataclass(frozen=True)
class ImagineSettings:
    """How imagination is rolled out from a report's start latent."""

    horizon: int = 16  # imagined steps
    samples: int = 3  # M futures side by side
    temperature: float = 1.0  # prior sampling temperature (1 = the model's own distribution)
    seed: int = 0  # the same seed gives the same futures
    source: str = "policy"  # policy | replayed | keys
    held: tuple[float, ...] | None = None  # the action the user holds (source == "keys")


@dataclass(frozen=True)
class RunInfo:
    """What the GUI needs to know about a run once the trainer is built."""

    config: Any  # dreamer_core.config.Config
    device: str
    params: dict[str, int]
    logdir: str | None
    resumed_from: str | None
    act_dim: int
    discrete: bool
    watch_dir: str | None = None  # set when watching a run directory written elsewhere


@dataclass
class Status:
    """A cheap per-step snapshot for the status line and the run page."""

    phase: Phase = Phase.BUILDING  # a str too: compares equal to "training" etc. (phase.py lists them)
    message: str = "building the environment and the model…"
    paused: bool = False
    agent_steps: int = 0
    env_frames: int = 0
    updates: int = 0
    replay_steps: int = 0
    train_fill: int = 0
    policy_fps: float = 0.0
    update_fps: float = 0.0
    report_eta: float | None = None  # seconds until the next report, None when none is scheduled
    last_score: float | None = None
    episodes: int = 0
    checkpoints: tuple[str, ...] = ()
    time: float = 0.0


@dataclass
class ReportEntry:
    """A report plus what the GUI needs from it without touching torch."""

    id: int
    report: Any  # dreamer_core.report.Report (numpy arrays; `start` stays with the worker)
    start_stoch: np.ndarray  # (S, C) one-hot stochastic state where imagination starts
    made_at: float


@dataclass
class ImagineResult:
    """An imagination from one report's start latent, unedited and (when edits exist) edited, same seed."""

    report_id: int
    request_id: int
    settings: ImagineSettings
    edits: tuple[tuple[int, int], ...]  # (latent s, class c) pairs applied to the start latent
    base: Any  # dreamer_core.report.Imagination
    edited: Any | None
    actions: np.ndarray | None  # (H, A) actions used when not sampled by the policy
    elapsed_ms: float | None = None  # how long the re-imagination took; None: the report's own futures
    weights_updates: int | None = None  # the update count of the weights that imagined it; None: today's weights


def is_reports_own(report, settings: ImagineSettings) -> bool:
    """Whether `settings` ask for the futures the report imagined when it was made (the policy's actions, its
    seed, M, horizon and temperature), so that no second imagination is needed."""
    own = report.imagination
    return (settings.source == "policy" and settings.seed == own.seed and settings.temperature == own.temperature
            and (settings.samples, settings.horizon) == own.rewards.shape)


def reports_own_result(report_id: int, report, settings: ImagineSettings | None = None,
                       request_id: int = 0) -> ImagineResult:
    """The report's own M futures as the ImagineResult on screen until the user asks for other settings, edits or
    actions. `settings`: the request it answers (they may hold keys that the policy's actions ignore)."""
    own = report.imagination
    if settings is None:
        samples, horizon = own.rewards.shape
        settings = ImagineSettings(horizon=horizon, samples=samples, temperature=own.temperature, seed=own.seed)
    return ImagineResult(report_id=report_id, request_id=request_id, settings=settings, edits=(), base=own,
                         edited=None, actions=None, weights_updates=report.updates)


@dataclass
class View:
    """Everything a panel draws from, assembled by the window on each timer tick."""

    entry: ReportEntry | None = None
    result: ImagineResult | None = None  # set whenever entry is: the report's own futures unless given others
    t: int = 0  # the time cursor: report step (t < T) and imagined step t - Tc (t >= Tc)
    sample: int = 0  # which imagined future the critic and latent panels follow
    status: Status = field(default_factory=Status)
    info: RunInfo | None = None
    metrics_version: int = 0
    metrics: list[dict[str, float]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.entry is not None and self.result is None:
            self.result = reports_own_result(self.entry.id, self.entry.report)


def timeline_length(entry: ReportEntry | None, result: ImagineResult | None) -> int:
    """Steps on the shared timeline: the report's steps, or context + imagined steps if that is longer. `result`
    is the entry's (ReportStore.get gives one with every entry)."""
    if entry is None:
        return 1
    report = entry.report
    return max(len(report.rewards), report.context_len + result.base.rewards.shape[1])


class Latest(Generic[T]):
    """A one-slot, lock-protected holder: writers replace, readers see the newest value and its version."""

    def __init__(self, value: T | None = None) -> None:
        self._lock = threading.Lock()
        self._value = value
        self._version = 0

    def put(self, value: T) -> None:
        with self._lock:
            self._value = value
            self._version += 1

    def get(self) -> tuple[int, T | None]:
        with self._lock:
            return self._version, self._value


class MetricsStore:
    """Bounded history of logged scalar rows (newest last)."""

    def __init__(self, maxlen: int = 5000) -> None:
        self._lock = threading.Lock()
        self._rows: deque[dict[str, float]] = deque(maxlen=maxlen)
        self._version = 0

    def extend(self, rows: list[dict[str, float]]) -> None:
        if not rows:
            return
        with self._lock:
            self._rows.extend(rows)
            self._version += 1

    @property
    def version(self) -> int:
        return self._version

    def snapshot(self) -> tuple[int, list[dict[str, float]]]:
        with self._lock:
            return self._version, list(self._rows)

    def clear(self) -> None:
        """Starts the history over (a loaded checkpoint, a rewritten metrics file): curves never run backwards."""
        with self._lock:
            self._rows.clear()
            self._version += 1


class ReportStore:
    """Bounded history of reports (training time) and the newest imagination result for each."""

    MAXLEN = 24  # reports kept; the oldest leaves when a new one arrives

    def __init__(self, maxlen: int | None = None) -> None:
        self._lock = threading.Lock()
        self._entries: OrderedDict[int, ReportEntry] = OrderedDict()
        self._results: dict[int, ImagineResult] = {}
        self._maxlen = maxlen or self.MAXLEN
        self._version = 0
        self._next_id = 0

    def new_id(self) -> int:
        with self._lock:
            self._next_id += 1
            return self._next_id

    def add(self, entry: ReportEntry, result: ImagineResult) -> None:
        """A new report and what is shown of it (for most reports, `reports_own_result`)."""
        with self._lock:
            self._entries[entry.id] = entry
            self._results[entry.id] = result
            while len(self._entries) > self._maxlen:
                old, _ = self._entries.popitem(last=False)
                self._results.pop(old, None)
            self._version += 1

    def set_result(self, result: ImagineResult) -> None:
        with self._lock:
            if result.report_id in self._entries:
                self._results[result.report_id] = result
                self._version += 1

    def clear(self) -> None:
        """Drops every report (ids keep counting up, so an old id never names a new report)."""
        with self._lock:
            self._entries.clear()
            self._results.clear()
            self._version += 1

    @property
    def version(self) -> int:
        return self._version

    def ids(self) -> list[int]:
        with self._lock:
            return list(self._entries)

    def get(self, report_id: int | None) -> tuple[ReportEntry | None, ImagineResult | None]:
        with self._lock:
            if report_id is None:
                return None, None
            return self._entries.get(report_id), self._results.get(report_id)

    def __len__(self) -> int:
        return len(self._entries)


def status_text(s: Status, info, has_reports: bool) -> str:
    """The status bar line: device, preset and task; the phase message; rates; report timing; counters."""
    parts = []
    if info is not None:
        c = info.config
        parts.append(f"{info.device.upper()} · preset {c.preset} · {c.env.task} ({c.env.obs})")
    parts.append(s.message)
    if s.phase in ("collecting", "training"):
        parts.append(f"{s.update_fps:.2f} updates/s · {s.policy_fps:.1f} env steps/s")
        if s.report_eta is not None:
            parts.append(f"next report in {s.report_eta:.0f} s")
        elif not has_reports:
            parts.append("first report as soon as replay holds one report window")
    if s.phase in ("collecting", "training", "paused"):
        parts.append(f"{s.updates:,} updates · {s.env_frames:,} env frames")
    if s.phase == "stopped":
        parts.append("Start/resume continues it")
    return "  ·  ".join(parts)
