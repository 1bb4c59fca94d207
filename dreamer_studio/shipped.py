"""Watching a trained model (a model-only checkpoint, e.g. one shipped in assets/models): a TrainerWorker that
loads the weights, collects a fresh real context from the env and reports on it.

A model directory is opened like a watched run directory, read-only: the trainer has no logdir, and nothing is
written there. It has no replay, so a few policy steps (no updates) give the report its real frames; everything
the panels show (decoded frames, K imagined futures, critic, latents) is then the trained model's. Continue
training (Start/resume) trains a copy in a new run directory under the window's fork root, as for a watched run,
with replay starting empty and a fresh optimizer.
"""

from __future__ import annotations

from pathlib import Path

from dreamer_core import models
from dreamer_studio.worker import TrainerWorker

CONTINUE_NOTE = "Continue training trains a copy in a new run directory; its replay starts empty"


def is_model(path: str | Path | None) -> bool:
    return path is not None and models.is_model_dir(path)


class ModelWorker(TrainerWorker):
    """Watches a model directory: one load, one fresh context, then reports on demand; Resume forks a local copy."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.model_dir = self.watch_dir
        self.card = models.read_card(self.model_dir) if (self.model_dir / models.CARD_FILE).is_file() else None
        self.continue_note = ""
        self.trainer_fill = 0  # steps the first update waits for once training continues

    def _reload_watched(self, force: bool = False) -> None:
        if not force:
            return  # a model directory never changes: nothing to follow
        tr = self.trainer
        models.load_into(tr, models.read_model(self.model_dir), self.model_dir)
        models.collect(tr, models.context_steps(tr.config))  # a fresh real context: the model ships no replay
        self._after_load(fresh_history=False)
        self._checkpoints = [str(self.model_dir / models.MODEL_FILE)]
        self.trainer_fill = tr.train_fill
        self.continue_note = CONTINUE_NOTE
        self._make_report()

    def _publish(self, message: str | None = None) -> None:
        if message is None and self._phase == "watching" and self.trainer is not None:
            name = self.card.name if self.card else self.model_dir.name
            message = (f"trained model {name} ({self.trainer.updates:,} updates) on a fresh context from the env, "
                       f"read-only · {self.continue_note}")
        super()._publish(message)
