"""Reading a run directory written by `dreamer-studio train --headless` (Qt-free).

A run directory holds config.json, metrics.jsonl (one JSON row per log interval), scores.jsonl and
latest.ckpt. Studio follows it: new metric rows are tailed, a newer checkpoint is reloaded.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

from dreamer_core.config import Config
from dreamer_core.run import CHECKPOINT_NAME


def load_config(run_dir: str | Path, device: str | None = None) -> Config:
    """The run's config; `device` replaces the saved one (a GPU run can be opened on a CPU machine)."""
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"{run_dir} is not a run directory: it has no config.json "
                                "(runs written by `dreamer-studio train --headless --logdir DIR` have one)")
    try:
        config = Config.from_dict(json.loads(path.read_text()))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from None
    except ValueError as exc:  # a field config validation refuses (env.task, a number out of range, ...)
        raise ValueError(f"{path}: {exc}") from None
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
