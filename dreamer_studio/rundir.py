"""Reading a run directory written by `dreamer-studio train --headless` (Qt-free).

A run directory holds config.json, metrics.jsonl (one JSON row per log interval), scores.jsonl and
latest.ckpt. Studio follows it: new metric rows are tailed, a newer checkpoint is reloaded.
"""

from __future__ import annotations

import json
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
    return replace(config, run=replace(config.run, device=device or "auto"))


def checkpoint_path(run_dir: str | Path) -> Path:
    return Path(run_dir) / CHECKPOINT_NAME


class MetricsTail:
    """Reads only the lines appended to metrics.jsonl since the last call (a partial last line waits)."""

    def __init__(self, run_dir: str | Path, name: str = "metrics.jsonl") -> None:
        self.path = Path(run_dir) / name
        self._offset = 0

    def read_new(self, limit: int = 5000) -> list[dict[str, float]]:
        if not self.path.is_file():
            return []
        with open(self.path, "rb") as f:
            f.seek(self._offset)
            data = f.read()
        end = data.rfind(b"\n") + 1
        self._offset += end
        rows = []
        for line in data[:end].splitlines()[-limit:]:
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a damaged line is skipped, not fatal
        return rows
