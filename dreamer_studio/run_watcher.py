"""Following a run directory that another process writes (the headless trainer, maybe on a GPU machine): the
watching half of the trainer thread (worker.py), Qt-free.

Contract with the worker, which owns the thread, the trainer and the stores:
- `config(device)` is the run's config; the worker builds its trainer from it without a logdir, so nothing is
  ever written to the watched directory.
- `follow_rows(metrics)` appends the metric rows written since the last call (or starts the curves over when the
  run resumed and rewrote metrics.jsonl); `reload(trainer, force)` loads newer weights into the trainer.
- `poll(trainer, metrics)` does both, at most every WATCH_EVERY seconds; the worker calls it every loop turn.
- `reload` and `poll` return the checkpoint path whose weights they loaded (None: nothing new). The worker then
  treats it as a load: rates and score start over, and it makes a report on the new weights.
- `message(trainer)` and `counters(updates)` say where the run is, for the status while watching.
- Resume forks the run: the worker drops its watcher and trains a copy in `copy_dir(fork_root)`.
"""

from __future__ import annotations

import time
from pathlib import Path

from dreamer_core.config import Config
from dreamer_studio.rundir import RunWatch, load_config
from dreamer_studio.session import MetricsStore

WATCH_EVERY = 3.0  # s between looks at a watched run directory


class RunWatcher:
    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)
        self.run = RunWatch(self.run_dir)  # the run's weights, their age and its live counters
        self._next_look = 0.0

    def config(self, device: str | None) -> Config:
        return load_config(self.run_dir, device)

    def follow_rows(self, metrics: MetricsStore) -> None:
        rows = self.run.read_rows()
        if self.run.tail.restarted:
            metrics.clear()  # the trainer resumed and rewrote metrics.jsonl: read it from the start
        metrics.extend(rows)

    def reload(self, trainer, force: bool = False) -> str | None:
        """Loads the weights written since the last look (all of them with `force`), oldest first."""
        names = self.run.due(force)
        for name in names:
            self.run.load(trainer, name)
        return str(self.run_dir / names[-1]) if names else None

    def poll(self, trainer, metrics: MetricsStore) -> str | None:
        now = time.time()
        if now < self._next_look:
            return None
        self._next_look = now + WATCH_EVERY
        self.follow_rows(metrics)
        return self.reload(trainer)

    def message(self, trainer) -> str:
        return self.run.message()

    def counters(self, updates: int) -> dict[str, int]:
        """Where the run is now, not the weights on screen (empty when its newest row is behind them)."""
        return self.run.counters(updates)

    def copy_dir(self, fork_root: Path) -> Path:
        """A new run directory for the local copy that Resume trains (the watched directory is never written)."""
        from dreamer_core.logdir import new_run_dir

        return new_run_dir(fork_root, self.run_dir.name, "local")
