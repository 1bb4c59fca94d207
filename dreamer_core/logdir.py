"""A run directory's files, its lock, setting an old run aside (the Trainer's side of a run directory), and the
name of a new one."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

from dreamer_core.config import Config
from dreamer_core.faults import remove_stale_temps

CHECKPOINT_NAME = "latest.ckpt"
CONFIG_NAME = "config.json"
LOCK_NAME = ".trainer.lock"
ORIGIN_NAME = "origin.json"  # a run that continues a trained model: where from (write_origin)
# What a run started from a model-only checkpoint takes over (models.load_into), for origin.json and the messages
FROM_MODEL_KEPT = "weights, return normaliser and counters; replay started empty, the optimizer fresh"
RUN_FILES = (CHECKPOINT_NAME, CONFIG_NAME, "scores.jsonl", "metrics.jsonl", ORIGIN_NAME)
RUNS_ROOT = Path("runs")  # new run directories go here, relative to the working directory
STUDIO_RUNS = RUNS_ROOT / "studio"  # the app's own runs and the copies it trains of watched runs


def new_run_dir(root: Path, *name_parts: str) -> Path:
    """`root/<part>-<part>-...-<YYYYmmdd-HHMMSS>`: a new run directory, unique by the second it was named."""
    return Path(root) / "-".join([*name_parts, time.strftime("%Y%m%d-%H%M%S")])


def read_config(logdir: Path) -> Config:
    """The run's config.json. A ValueError names the file: it is not JSON, or config validation refuses a field
    (env.task, a number out of range, ...)."""
    path = Path(logdir) / CONFIG_NAME
    try:
        return Config.from_dict(json.loads(path.read_text()))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from None
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None


def write_origin(logdir: Path, source: str | Path, updates: int, env_frames: int, kept: str) -> Path:
    """`<logdir>/origin.json`: the run began from the model file `source` at `updates` and `env_frames`; `kept`
    says in words what it took over and what it did not (replay, optimizer). Its curve continues the model's from
    those frames (scripts/plot_curve.py marks where). A failed write (a full disk) raises OSError: the file only
    informs, so callers go on without it."""
    path = Path(logdir) / ORIGIN_NAME
    path.write_text(json.dumps({"source": str(source), "updates": int(updates), "env_frames": int(env_frames),
                                "kept": kept, "time": time.time()}, indent=1) + "\n")
    return path


def read_origin(logdir: Path) -> dict | None:
    """The run's origin.json, or None for a run that began from nothing (or whose file is unreadable)."""
    try:
        origin = json.loads((Path(logdir) / ORIGIN_NAME).read_text())
    except (OSError, ValueError):
        return None
    return origin if isinstance(origin, dict) and isinstance(origin.get("env_frames"), int) else None


def default_run_dir(config: Config, root: Path = RUNS_ROOT) -> Path:
    """Where a run goes when no --logdir is given: `root/<task>-<obs>-<preset>-<time>`."""
    return new_run_dir(root, config.env.task, config.env.obs, config.preset)


def row_step(line: str) -> float | None:
    """The env-frame `step` of a jsonl log line; None for a line that is not a whole JSON row (a write cut short
    by a crash or a full disk)."""
    try:
        return float(json.loads(line)["step"])
    except (ValueError, TypeError, KeyError):
        return None


def truncate_logs(logdir: Path, env_frames: int) -> None:
    """After a resume, drops log rows written past the checkpoint's `env_frames` (the run is redoing those
    frames), so the curve continues without duplicates. Each file is rewritten atomically."""
    for name in ("scores.jsonl", "metrics.jsonl"):
        path = logdir / name
        if not path.exists():
            continue
        lines = path.read_text().splitlines(keepends=True)
        kept = [line if line.endswith("\n") else line + "\n" for line in lines
                if (step := row_step(line)) is not None and step <= env_frames]
        if kept != lines:
            tmp = path.with_suffix(".jsonl.tmp")
            tmp.write_text("".join(kept))
            os.replace(tmp, path)


class LogdirLock:
    """An exclusive lock on a run directory, so two trainers never write one run's checkpoint and logs. The OS
    drops it when the process dies, so a crashed run never leaves a stale lock behind."""

    def __init__(self, logdir: Path, claim: bool = True) -> None:
        self.path = logdir / LOCK_NAME
        self._file = None
        self._previous = ""  # the lock file's text before: a refused start puts it back (release(restore=True))
        self.removed: list[Path] = []
        try:
            import fcntl
        except ImportError:  # Windows: no advisory locks; run directories are unguarded there
            return
        handle = open(self.path, "a+", newline="", errors="surrogateescape")  # its text comes back byte for byte
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            owner = handle.read().strip() or "another process"
            handle.close()
            raise ValueError(f"{logdir} is in use by a running trainer ({owner}); stop it first, or pass another "
                             f"--logdir. To watch a live run, open it in the app (--open {logdir})")
        handle.seek(0)
        self._previous = handle.read()
        handle.truncate(0)
        handle.write(f"pid {os.getpid()}\n")
        handle.flush()
        self._file = handle
        if claim:
            self.claim()

    def claim(self) -> None:
        """The directory is this process's run from now on (`claim=False` defers this until a resume is accepted)."""
        if self._file is not None:
            # Holding the lock, no save of this run is under way: temp files here are a killed save's leftovers
            # (with a large replay, gigabytes each).
            self.removed = remove_stale_temps(self.path.parent)

    def release(self, restore: bool = False) -> None:
        """`restore`: a start that was refused puts the lock file's previous text back."""
        if self._file is not None:
            if restore:
                self._file.truncate(0)
                self._file.write(self._previous)
                self._file.flush()
            self._file.close()  # closing the descriptor drops the flock
            self._file = None


def set_aside(logdir: Path) -> Path | None:
    """Moves a previous run's files out of `logdir` into `logdir/replaced-<time>/` so a fresh run neither mixes
    its curve with the old one nor can resume the old weights by accident. Returns the folder, or None."""
    present = [logdir / name for name in RUN_FILES if (logdir / name).exists()]
    if not present:
        return None
    folder = logdir / time.strftime("replaced-%Y%m%d-%H%M%S")
    folder.mkdir()
    for path in present:
        shutil.move(str(path), folder / path.name)
    return folder
