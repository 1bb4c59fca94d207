"""Reading a run directory written by `dreamer-studio train --headless` (Qt-free).

A run directory holds config.json, metrics.jsonl (one JSON row per log interval), scores.jsonl, latest.ckpt
and watch.ckpt (weights only, every run.watch_every s). Studio follows it: new metric rows are tailed, the newest
weights are reloaded, and `RunWatch` says how old they are and where the run is now.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import replace
from pathlib import Path

from dreamer_core import models
from dreamer_core.checkpoint import WATCH_NAME
from dreamer_core.config import Config
from dreamer_core.logdir import CHECKPOINT_NAME, CONFIG_NAME, read_config


def load_config(run_dir: str | Path, device: str | None = None) -> Config:
    """The run's config; `device` replaces the saved one (a GPU run can be opened on a CPU machine)."""
    if not (Path(run_dir) / CONFIG_NAME).is_file():
        raise FileNotFoundError(f"{run_dir} is not a run directory: it has no {CONFIG_NAME} "
                                "(runs written by `dreamer-studio train --headless --logdir DIR` have one)")
    config = read_config(Path(run_dir))
    return replace(config, run=replace(config.run, device=device or "auto"))


def checkpoint_path(run_dir: str | Path) -> Path:
    return Path(run_dir) / CHECKPOINT_NAME


class MetricsTail:
    """Reads only the lines appended to metrics.jsonl since the last call (a partial last line waits).

    A resumed headless trainer rewrites the file (atomically: a new, shorter file replaces it). A file with another
    inode, or shorter than what was read, is read again from the start and `restarted` is set for that call, so
    the caller can drop the rows it has (they may be past the resumed run's checkpoint).
    """

    def __init__(self, run_dir: str | Path, name: str = "metrics.jsonl") -> None:
        self.path = Path(run_dir) / name
        self._offset = 0
        self._identity: tuple[int, int] | None = None  # (st_dev, st_ino) of the file the offset belongs to
        self.restarted = False

    def read_new(self, limit: int = 5000) -> list[dict[str, float]]:
        self.restarted = False
        try:
            f = open(self.path, "rb")
        except FileNotFoundError:
            return []
        with f:
            st = os.fstat(f.fileno())
            identity = (st.st_dev, st.st_ino)
            if self._identity is not None and (identity != self._identity or st.st_size < self._offset):
                self._offset = 0
                self.restarted = True
            self._identity = identity
            f.seek(self._offset)
            data = f.read()
        end = data.rfind(b"\n") + 1
        self._offset += end
        rows = []
        for line in data[:end].splitlines()[-limit:]:
            try:
                row = json.loads(line)  # old files hold bare NaN tokens, which Python's json reads
            except json.JSONDecodeError:
                continue  # a damaged line (torn by a crash or a full disk, older versions) is skipped, not fatal
            if isinstance(row, dict):  # null (a non-finite value) reads as NaN, as the live rows hold it
                rows.append({k: float("nan") if v is None else v for k, v in row.items()})
        return rows


def _age(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


class RunWatch:
    """What a watcher shows of a run directory: which weights to load next (latest.ckpt brings replay, the newer
    watch.ckpt only weights), how old the shown weights are, and the run's live counters from its newest metrics
    row (a run trains on between its snapshots, and before its first one)."""

    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)
        self.tail = MetricsTail(run_dir)
        self.live: dict[str, float] | None = None  # the newest metrics row
        self.weights: tuple[float, int] | None = None  # (written at, updates) of the weights loaded last
        self._seen: dict[str, float] = {}  # file name -> mtime already considered
        self.replay_loaded = False  # a latest.ckpt brought the run's replay (else replay holds a context made here)

    def read_rows(self) -> list[dict[str, float]]:
        rows = self.tail.read_new()
        if self.tail.restarted:
            self.live = None
        if rows:
            self.live = rows[-1]
        return rows

    def due(self, force: bool = False) -> list[str]:
        """The files to load now, in order: a changed latest.ckpt (its replay gives reports real data), then a
        changed watch.ckpt when it is newer than latest.ckpt."""
        found = {}
        for name in (CHECKPOINT_NAME, WATCH_NAME):
            try:
                found[name] = (self.run_dir / name).stat().st_mtime
            except OSError:  # not written yet, or replaced this instant
                continue
        changed = [n for n, mtime in found.items() if force or mtime > self._seen.get(n, -math.inf)]
        self._seen.update(found)  # a file that fails to load is not retried until it changes
        if WATCH_NAME in changed and found[WATCH_NAME] <= found.get(CHECKPOINT_NAME, -math.inf):
            changed.remove(WATCH_NAME)
        return changed

    def load(self, trainer, name: str) -> None:
        path = self.run_dir / name
        written = path.stat().st_mtime
        if name == WATCH_NAME:
            state = models.read_model(path)
            models.load_into(trainer, state, path)
            need = models.context_steps(trainer.config)
            if trainer.replay.steps < need:  # no checkpoint's replay yet: a fresh real context from the env
                models.collect(trainer, need)
            written = float(state.get("saved_at", written))
        else:
            trainer.load(path, any_world_size=True)  # a DDP run's checkpoint shows its rank 0 part
            self.replay_loaded = True
        self.weights = (written, trainer.updates)

    def counters(self, updates: int) -> dict[str, int]:
        """Status counters from the newest metrics row, when it is not behind the weights shown."""
        row = self.live
        if not row or row.get("updates", -1) < updates:
            return {}
        keys = {"updates": "updates", "env_frames": "step", "agent_steps": "agent_steps", "episodes": "episodes"}
        return {field: int(row[key]) for field, key in keys.items() if isinstance(row.get(key), (int, float))}

    def message(self, now: float | None = None) -> str:
        now = time.time() if now is None else now
        text = f"watching {self.run_dir} (read-only; Start trains a local copy)"
        if self.weights is None:
            text += f" · waiting for the run's first snapshot ({WATCH_NAME} or {CHECKPOINT_NAME})"
        else:
            text += f" · weights from {_age(now - self.weights[0])} ago, at {self.weights[1]:,} updates"
        if self.live and "updates" in self.live:
            text += (f" · the run is at {int(self.live['updates']):,} updates, "
                     f"{int(self.live.get('step', 0)):,} env frames")
        return text
