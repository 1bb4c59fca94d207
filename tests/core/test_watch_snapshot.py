"""The watchers' snapshot: a trainer with a run directory writes watch.ckpt (model-only, weights and counters)
every run.watch_every s once it trains; it loads as a model-only state, and neither `checkpoint.latest` nor a
resume ever takes it for a training checkpoint."""

import pytest
import torch

from dreamer_core import checkpoint, models
from dreamer_core.config import make_config
from dreamer_core.logdir import CHECKPOINT_NAME
from dreamer_core.trainer import Trainer

WATCH = checkpoint.WATCH_NAME


def config(watch_every: float = 1e-6):
    return make_config("dummy_disc", "proprio", "debug", {"run": {"steps": 10_000, "watch_every": watch_every}})


def train_until_snapshot(trainer: Trainer, logdir, limit: int = 400) -> None:
    start = trainer.updates
    for _ in range(limit):
        trainer.step()
        if trainer.updates > start and (logdir / WATCH).is_file():
            return
    raise AssertionError(f"no {WATCH} after {limit} steps ({trainer.updates} updates)")


def test_a_training_run_writes_a_model_only_snapshot(tmp_path):
    trainer = Trainer(config(), tmp_path)
    try:
        for _ in range(5):  # collecting, no update yet: nothing worth watching
            trainer.step()
        assert trainer.updates == 0 and not (tmp_path / WATCH).exists()
        train_until_snapshot(trainer, tmp_path)
        state = models.read_model(tmp_path / WATCH)  # raises unless it is a model-only state
        assert state["agent"]["updates"] == trainer.updates > 0
        assert state["counters"]["env_frames"] == trainer.counters.env_frames
        assert "replay" not in state and "optimizer" not in state["agent"] and state["saved_at"] > 0
        live = trainer.agent.state_dict()
        assert all(torch.equal(live[k].cpu(), v) for k, v in state["agent"]["model"].items())
        assert checkpoint.latest(tmp_path) is None  # the snapshot is no training checkpoint
        trainer.save()
        train_until_snapshot(trainer, tmp_path)  # the snapshot is now newer than latest.ckpt
        assert (tmp_path / WATCH).stat().st_mtime_ns >= (tmp_path / CHECKPOINT_NAME).stat().st_mtime_ns
        assert checkpoint.latest(tmp_path) == tmp_path / CHECKPOINT_NAME
        viewer = Trainer(config(), None)  # as a watching Studio loads it
        try:
            models.load_into(viewer, models.read_model(tmp_path / WATCH))
            assert viewer.updates == trainer.updates
            mine = viewer.agent.state_dict()
            assert all(torch.equal(mine[k], v.cpu()) for k, v in trainer.agent.state_dict().items())
        finally:
            viewer.close()
    finally:
        trainer.close()


def test_resume_never_loads_the_snapshot(tmp_path):
    trainer = Trainer(config(), tmp_path)
    train_until_snapshot(trainer, tmp_path)
    trainer.save()
    saved = trainer.updates
    train_until_snapshot(trainer, tmp_path)  # weights past the checkpoint, as a crashed run leaves them
    assert models.read_model(tmp_path / WATCH)["agent"]["updates"] > saved
    trainer.close()
    resumed = Trainer(config(), tmp_path)
    try:
        assert resumed.resumed_from == tmp_path / CHECKPOINT_NAME and resumed.updates == saved
        assert not (tmp_path / WATCH).exists()  # stale: past the checkpoint the run goes on from
    finally:
        resumed.close()


def test_a_snapshot_alone_is_no_run_to_resume(tmp_path):
    trainer = Trainer(config(), tmp_path)
    train_until_snapshot(trainer, tmp_path)
    trainer.close()
    fresh = Trainer(config(), tmp_path)
    try:
        assert fresh.resumed_from is None and fresh.updates == 0
    finally:
        fresh.close()


def test_watch_every_zero_writes_none_and_negative_is_refused(tmp_path):
    trainer = Trainer(config(0.0), tmp_path)
    try:
        for _ in range(200):
            trainer.step()
        assert trainer.updates > 0 and not (tmp_path / WATCH).exists()
    finally:
        trainer.close()
    with pytest.raises(ValueError, match="watch_every"):
        config(-1.0)


def test_a_vector_runs_snapshot_carries_its_replays_scale_to_the_watcher(tmp_path):
    import numpy as np

    trainer = Trainer(config(), tmp_path)
    try:
        train_until_snapshot(trainer, tmp_path)
        live_scale = trainer.vector_scale_now()  # (V,) over this run's replay
        state = models.read_model(tmp_path / WATCH)
        np.testing.assert_allclose(state["vector_scale"], live_scale)
    finally:
        trainer.close()
    viewer = Trainer(config(), None)  # a watcher's trainer: its replay will hold one short context
    try:
        models.load_into(viewer, state, tmp_path / WATCH)
        models.collect(viewer, models.context_steps(viewer.config))
        from dreamer_core import confidence

        own = confidence.replay_vector_scale(viewer.replay, sorted(viewer.agent.vector_dims))
        assert not np.allclose(own, live_scale)  # the short context alone would give another scale
        np.testing.assert_allclose(viewer.vector_scale_now(), live_scale)  # the run's, not the short context's
        report = viewer.report()
        np.testing.assert_allclose(report.vector_scale, live_scale)
        assert report.openloop_signal is not None
    finally:
        viewer.close()
