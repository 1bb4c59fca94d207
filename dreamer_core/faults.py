"""Faults a run survives, or stops on with its work saved: an env that raises, a full disk, updates that go
non-finite, temp files a killed save left behind.

One mechanism each, used by `Trainer`, so the headless CLI and the studio behave alike:
- `EnvRestarts` counts env failures in a sliding window of agent steps. The trainer closes and rebuilds a failed
  env, ends its broken episode in replay (`is_last`) and trains on; `run.env_failures` failures within
  `run.env_failure_window` agent steps stop the run (`EnvFailures`).
- `JsonlWriter` appends whole lines or nothing: a failed write (a full disk) is cut back to the previous size,
  said once, kept and retried, and training goes on.
- `RunStopped` is what the trainer raises when the run cannot usefully go on; the caller saves and says why.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dreamer_core.trainer import Trainer

RETRY_EVERY = 60.0  # s between attempts to write a log file that failed (a full disk)
BACKLOG = 100_000  # log lines kept while a file cannot be written (metrics rows are ~1 kB, one per 10 s)


class RunStopped(RuntimeError):
    """The run cannot usefully go on (its env keeps failing, it trains nothing); the message says why."""


class EnvFailures(RunStopped):
    pass


class NonFiniteUpdates(RunStopped):
    pass


def describe(exc: BaseException) -> str:
    """`Type: first line of the message`, short enough for a progress line."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__


class EnvRestarts:
    """Agent steps at which envs failed, over the last `window` agent steps."""

    def __init__(self, limit: int, window: int) -> None:
        self.limit, self.window = limit, window
        self._at: deque[int] = deque()

    def failed(self, agent_step: int) -> bool:
        """Records a failure; True when `limit` of them fall within the window (0 for either: never)."""
        self._at.append(agent_step)
        while self._at and self._at[0] <= agent_step - self.window:
            self._at.popleft()
        return self.limit > 0 and self.window > 0 and len(self._at) >= self.limit

    def __len__(self) -> int:
        return len(self._at)


def finite_row(row: dict[str, Any]) -> dict[str, Any]:
    """NaN and infinities become null: bare `NaN` tokens are not JSON (jq, pandas and browsers refuse them)."""
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in row.items()}


def row_line(row: dict[str, Any]) -> bytes:
    clean = {k: (float(v) if hasattr(v, "dtype") else v) for k, v in row.items()}  # numpy scalars
    return (json.dumps(finite_row(clean), allow_nan=False) + "\n").encode()


class JsonlWriter:
    """Appends rows to a jsonl file as whole lines. A write that fails (ENOSPC, EIO, a read-only remount) is
    truncated back to the file's previous size, so no torn line is ever left; the rows are kept (bounded) and
    written with the next row after `retry_every` seconds. `warn` is told once when writing fails and once when
    it works again."""

    def __init__(self, path: Path, warn: Callable[[str], None], retry_every: float | None = None) -> None:
        self.path, self.warn = Path(path), warn
        self.retry_every = RETRY_EVERY if retry_every is None else retry_every
        self._backlog: deque[bytes] = deque(maxlen=BACKLOG)
        self._next_try = 0.0
        self._failing = False
        self._checked_end = False  # whether a torn last line of an older writer was looked for

    def append(self, row: dict[str, Any]) -> None:
        self._backlog.append(row_line(row))
        self.retry()

    def retry(self) -> None:
        """Writes the kept rows if any wait and a retry is due (the trainer calls it at every log interval)."""
        if self._backlog and time.time() >= self._next_try:
            self._write_backlog()

    def _write_backlog(self) -> None:
        data = b"".join(self._backlog)
        try:
            with open(self.path, "a+b", buffering=0) as f:
                size = f.seek(0, 2)
                if size and not self._checked_end:
                    f.seek(size - 1)
                    if f.read(1) != b"\n":  # an older version's torn line: start ours on a line of its own
                        data = b"\n" + data
                try:
                    view = memoryview(data)
                    while view:
                        view = view[f.write(view):]
                except OSError:
                    try:
                        f.truncate(size)  # never leave part of a line behind
                    except OSError:
                        pass
                    raise
        except OSError as exc:
            self._next_try = time.time() + self.retry_every
            if not self._failing:
                self._failing = True
                self.warn(f"could not write {self.path.name} ({describe(exc)}); training goes on, keeping its "
                          f"rows in memory and retrying every {self.retry_every:.0f} s")
            return
        self._checked_end = True
        self._backlog.clear()
        if self._failing:
            self._failing = False
            self.warn(f"writing {self.path.name} again; the rows kept meanwhile are in it")


def remove_stale_temps(logdir: Path) -> list[Path]:
    """Temp files that a killed save left in a run directory (`.latest.ckpt.*.tmp`, `*.jsonl.tmp`). Only call it
    while holding the directory's lock: then no save of this run is under way."""
    removed = []
    for pattern in (".*.ckpt.*.tmp", "*.jsonl.tmp"):
        for path in logdir.glob(pattern):
            try:
                path.unlink()
                removed.append(path)
            except OSError:
                pass  # read-only or already gone: harmless, it is never read
    return removed


def restart_env(trainer: Trainer, i: int, exc: Exception) -> dict[str, Any]:
    """After env `i` of `trainer` raised: ends its episode in replay (the step just stored becomes is_last; no
    score is counted), closes it and builds a fresh one (a new seed each time), whose reset step it returns, as
    sheeprl's RestartOnException. Too many failures in the window set the trainer's pending stop."""
    from dreamer_core.envs import make_env

    c, run = trainer.counters, trainer.config.run
    what = describe(exc)
    trainer.replay.end_episode(i)
    trainer.episode_return[i], trainer.episode_length[i] = 0.0, 0
    with contextlib.suppress(Exception):
        trainer.envs[i].close()
    too_many = trainer.env_failures.failed(c.agent_steps)
    trainer.notes.append(f"the env raised at {c.env_frames:,} env frames ({what}); rebuilt it, ended its episode "
                         "in replay and training goes on")
    for _ in range(max(1, run.env_failures)):
        c.env_restarts += 1
        try:
            env = make_env(trainer.config.env, run.seed + i + run.envs * c.env_restarts, parallel=run.parallel)
            first = env.step(None, reset=True)
            break
        except Exception as again:  # noqa: BLE001 - any env error
            what = describe(again)
    else:
        trainer.obs["is_last"][i] = True  # a resume starts this env over
        trainer._broken = EnvFailures(f"the env raised ({describe(exc)}) and could not be rebuilt ({what}); "
                                      "stopping")
        raise trainer._broken
    trainer.envs[i] = env
    if too_many:
        trainer._stop = EnvFailures(
            f"the env failed {len(trainer.env_failures)} times within {run.env_failure_window:,} agent steps, the "
            f"last at {c.env_frames:,} env frames ({what}); stopping (run.env_failures and "
            "run.env_failure_window set how many failures a run tolerates)")
    return first


def count_skip(trainer: Trainer) -> None:
    """Counts a skipped (non-finite) update of `trainer`; `run.nonfinite_limit` in a row set its pending stop,
    naming what went non-finite first."""
    c, agent, limit = trainer.counters, trainer.agent, trainer.config.run.nonfinite_limit
    trainer.skip_streak += 1
    if trainer._first_skip is None:
        trainer._first_skip = (c.env_frames, agent.nonfinite)
        if agent.skipped_updates == 1:
            trainer.notes.append(f"an update was skipped at {c.env_frames:,} env frames: {agent.nonfinite} is "
                                 "non-finite (skipped updates are counted in the progress line)")
    if limit and trainer.skip_streak >= limit and trainer._stop is None:
        frames, what = trainer._first_skip
        trainer.skip_streak, trainer._first_skip = 0, None  # resumed (in the app), it gets `limit` more tries
        trainer._stop = NonFiniteUpdates(
            f"{limit} updates in a row were non-finite and skipped (the model is not training); the first, at "
            f"{frames:,} env frames: {what}; stopping (run.nonfinite_limit sets how many are tolerated)")
