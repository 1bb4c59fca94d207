"""Watching a trained model (a model-only checkpoint, e.g. one shipped in assets/models): a TrainerWorker whose
watcher loads the weights once, collects a fresh real context from the env and reports on it.

A model directory is opened like a watched run directory, read-only: the trainer has no logdir, and nothing is
written there. It has no replay, so a few policy steps (no updates) give the report its real frames; everything
the panels show (decoded frames, K imagined futures, critic, latents) is then the trained model's. Continue
training (Start/resume) trains a copy in a new run directory under the window's fork root, as for a watched run,
with replay starting empty and a fresh optimizer.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from dreamer_core import models
from dreamer_core.logdir import FROM_MODEL_KEPT, write_origin
from dreamer_studio.run_watcher import RunWatcher
from dreamer_studio.worker import TrainerWorker

CONTINUE_NOTE = "Continue training trains a copy in a new run directory; its replay starts empty"


def is_model(path: str | Path | None) -> bool:
    return path is not None and models.is_model_dir(path)


class ModelWatcher(RunWatcher):
    """A model directory never changes: one load on a fresh context, nothing to follow after it."""

    def __init__(self, model_dir: str | Path) -> None:
        super().__init__(model_dir)
        self.card = models.read_card(self.run_dir) if (self.run_dir / models.CARD_FILE).is_file() else None
        self.continue_note = ""
        self.trainer_fill = 0  # steps the first update waits for once training continues

    def reload(self, trainer, force: bool = False) -> str | None:
        if not force:
            return None
        models.load_into(trainer, models.read_model(self.run_dir), self.run_dir)
        models.collect(trainer, models.context_steps(trainer.config))  # a fresh real context: no replay ships
        self.trainer_fill = trainer.train_fill
        self.continue_note = CONTINUE_NOTE
        return str(self.run_dir / models.MODEL_FILE)

    def message(self, trainer) -> str:
        name = self.card.name if self.card else self.run_dir.name
        only = " · world model only: its policy is not trained yet" if self.card and self.card.world_model_only else ""
        return (f"trained model {name} ({trainer.updates:,} updates) on a fresh context from the env, "
                f"read-only{only} · {self.continue_note}")


class ModelWorker(TrainerWorker):
    """Watches a model directory: one load, one fresh context, then reports on demand; Resume forks a local copy."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.model_watcher: ModelWatcher = self.watcher  # kept past the fork, which drops `watcher`

    def _watcher_for(self, watch_dir: Path) -> ModelWatcher:
        return ModelWatcher(watch_dir)

    def _fork(self) -> None:
        """Continue training: the copy's run directory records the model it began from (origin.json)."""
        super()._fork()
        if self.trainer.logdir is not None:
            tr = self.trainer
            with contextlib.suppress(OSError):  # informative only: a full disk must not stop the fork
                write_origin(tr.logdir, (self.model_watcher.run_dir / models.MODEL_FILE).resolve(), tr.updates,
                             tr.counters.env_frames, FROM_MODEL_KEPT)

    @property
    def trainer_fill(self) -> int:
        """Steps the first update waits for once training continues (replay starts empty)."""
        return self.model_watcher.trainer_fill
