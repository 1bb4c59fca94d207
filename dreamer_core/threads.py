"""Torch's thread count and OpenMP's wait policy, chosen so a trainer degrades gracefully when it shares the CPU.

On a busy machine (a browser, a second run, the Studio's own GUI thread) a trainer whose OpenMP threads outnumber
the cores it actually gets loses far more than its share: the threads that reach a barrier first spin for a core
that the late one needs (issue #17 §4, docs/results/benchmarks.md "Throughput under contention"). `run.threads`:

- a whole number: that many intra-op threads, fixed (0 keeps torch's default), as before;
- "auto": OpenMP threads that sleep instead of spinning while they wait (OMP_WAIT_POLICY=PASSIVE, unless the user
  set a policy or a spin count), and a `ThreadController` that now and then times a window at another thread
  count and keeps the faster one (at most the usable cores, or OMP_NUM_THREADS where the user set it).

This module imports no torch at module level: libgomp reads OMP_WAIT_POLICY and GOMP_SPINCOUNT once, when torch
loads it, so `prepare_openmp` must run before the first `import torch` (the CLI calls it first thing).
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any

AUTO = "auto"
# Variables by which a user already chose how OpenMP threads wait (libgomp's and Intel OpenMP's): "auto" keeps them.
WAIT_VARIABLES = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME")


def parse_setting(name: str, value: Any) -> int | str:
    """`run.threads` from a file, `--set` or code: a whole number >= 0 or "auto" (old config.json files hold an
    int), or a ValueError naming the field."""
    if isinstance(value, str) and value.strip().lower() == AUTO:
        return AUTO
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    elif isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise ValueError(f"{name} must be a whole number of threads (0: torch's default) or \"auto\", got {value!r}; "
                     f"e.g. --set {name}=auto")


def usable_cores() -> int:
    """Cores this process may run on (its affinity mask, as taskset or a container sets it), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # no sched_getaffinity (macOS, Windows)
        return max(1, os.cpu_count() or 1)


def thread_limit(environ: Mapping[str, str] = os.environ) -> int:
    """The most threads "auto" may use: the usable cores, or fewer where the user set OMP_NUM_THREADS."""
    cores = usable_cores()
    with contextlib.suppress(ValueError):
        return max(1, min(cores, int(environ.get("OMP_NUM_THREADS", cores))))
    return cores


def prepare_openmp(setting: int | str, environ: MutableMapping[str, str] = os.environ) -> bool:
    """For "auto", asks OpenMP threads to sleep while they wait (passive) unless the user chose a wait behaviour.
    Whether it set the policy: too late once torch (hence libgomp) is loaded, as when a test calls the CLI's main
    in-process; an environment variable set after that changes nothing (docs/results/benchmarks.md)."""
    if setting != AUTO or any(v in environ for v in WAIT_VARIABLES) or "torch" in sys.modules:
        return False
    environ["OMP_WAIT_POLICY"] = "PASSIVE"
    return True


class ThreadController:
    """Decides the thread count from timings it is given (no clock of its own, so tests feed synthetic times).

    After `first_after` updates, and then every `period` updates, it times a window at the current count (the
    base), then a window at a candidate (half or double the count, in turn, within 1..`max_threads`), and keeps
    the candidate only when it did more than `1 + margin` times the base's updates per second (hysteresis: noise
    does not flip the count). A window is `settle` untimed updates (the pool's first region after a change), then
    at least `window` updates and `min_seconds` seconds. `after_update(now)` returns a count to set, or None."""

    def __init__(self, max_threads: int, start: int, period: int = 300, first_after: int = 20, window: int = 16,
                 min_seconds: float = 5.0, settle: int = 2, margin: float = 0.1):
        if max_threads < 1 or not 1 <= start <= max_threads:
            raise ValueError(f"need 1 <= start ({start}) <= max_threads ({max_threads})")
        self.max_threads, self.current = max_threads, start
        self.period, self.window, self.min_seconds = period, window, min_seconds
        self.settle, self.margin = settle, margin
        self.phase = "run"  # run -> base -> trial -> run
        self.countdown = first_after  # updates left in the run phase
        self.candidate = start
        self.base_rate = 0.0
        self._upward = False  # the next candidate doubles (True) or halves (False)
        self._window_start: float | None = None
        self._timed = 0  # updates counted in this window
        self._seen = 0  # updates since this window began, the settling ones included
        self.decisions: list[tuple[int, float, float]] = []  # (candidate, base rate, candidate rate) per trial

    @property
    def active(self) -> bool:
        return self.max_threads > 1

    def forget_window(self) -> None:
        """Restarts the window being timed (a pause or a load would count as slow updates)."""
        self._window_start, self._timed, self._seen = None, 0, 0

    def after_update(self, now: float) -> int | None:
        if not self.active:
            return None
        if self.phase == "run":
            self.countdown -= 1
            if self.countdown <= 0:
                self.phase = "base"
                self.forget_window()
            return None
        rate = self._tick(now)
        if rate is None:
            return None
        if self.phase == "base":
            self.base_rate, self.candidate = rate, self._next_candidate()
            self.phase = "trial"
            self.forget_window()
            return self.candidate
        self.decisions.append((self.candidate, self.base_rate, rate))
        if rate > self.base_rate * (1.0 + self.margin):
            self.current = self.candidate
        self.phase, self.countdown = "run", self.period
        return self.current

    def _tick(self, now: float) -> float | None:
        """Counts one update in the window; its updates per second once the window is long enough, else None."""
        self._seen += 1
        if self._seen <= self.settle:
            self._window_start = now  # timing starts at the end of the last settling update
            return None
        if self._window_start is None:
            self._window_start = now
            return None
        self._timed += 1
        elapsed = now - self._window_start
        if self._timed < self.window or elapsed < self.min_seconds:
            return None
        return self._timed / elapsed

    def _next_candidate(self) -> int:
        up, down = min(self.current * 2, self.max_threads), max(self.current // 2, 1)
        options = [up, down] if self._upward else [down, up]
        self._upward = not self._upward
        return next(c for c in options if c != self.current)


class ThreadTuner:
    """Applies `run.threads` to torch: a fixed count once, or for "auto" a `ThreadController` fed after every
    update. `set_threads` and `clock` are torch.set_num_threads and time.perf_counter unless a test passes others."""

    def __init__(self, setting: int | str, set_threads: Callable[[int], None] | None = None,
                 get_threads: Callable[[], int] | None = None, clock: Callable[[], float] = time.perf_counter):
        if set_threads is None or get_threads is None:
            import torch  # here, not at the top: see the module docstring

            set_threads, get_threads = torch.set_num_threads, torch.get_num_threads
        self._set, self._clock = set_threads, clock
        self.controller: ThreadController | None = None
        if setting == AUTO:
            limit = thread_limit()
            start = min(get_threads(), limit)  # torch's default: physical cores, so hyperthreads start unused
            self._set(start)
            self.controller = ThreadController(limit, start)
        elif setting:
            self._set(int(setting))

    def after_update(self) -> None:
        if self.controller is not None:
            count = self.controller.after_update(self._clock())
            if count is not None:
                self._set(count)

    def forget_window(self) -> None:
        if self.controller is not None:
            self.controller.forget_window()


def leave_cores_to_the_trainer() -> None:
    """On a player's or a sweep's own thread: its torch work runs on one thread, so the trainer keeps the other
    cores."""
    import torch

    torch.set_num_threads(1)
