"""scripts/confidence_eval.py on a tiny trained model: the cached stream reads back, every candidate signal comes
out per open-loop step, and the re-imagined open loop is the report's own (the check the script makes)."""

from __future__ import annotations


import numpy as np
import pytest
import torch

import model_helpers
from dreamer_core import confidence

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def script():
    return model_helpers.load_script("scripts/confidence_eval.py")


def test_window_starts_never_cross_an_episode_start(script):
    is_first = np.zeros(20, bool)
    is_first[[0, 7]] = True  # episodes begin at 0 and 7
    assert script.window_starts(is_first, 4) == [0, 7, 11, 15]  # 4..6 would cross 7; the next window begins there
    assert script.window_starts(is_first, 8) == [7]


def test_the_cached_stream_reads_back_and_every_candidate_is_measured_per_open_loop_step(script, tmp_path_factory,
                                                                                         tmp_path):
    model = model_helpers.shared_debug_model(tmp_path_factory)
    length = 8  # 4 context + 4 open-loop steps: small and quick
    trainer = script.model_trainer(str(model), seed=3, report_length=length, replay_size=400)
    try:
        script.collect_episodes(trainer, episodes=1, max_steps=100)
        cached = script.cache_file(str(tmp_path), str(model), 3, 1)
        script.save_stream(trainer, cached)
        again = script.model_trainer(str(model), seed=3, report_length=length, replay_size=400)
        try:
            script.load_stream(again, cached)
            for key in trainer.replay.data:
                np.testing.assert_array_equal(script.stream(again, key), script.stream(trainer, key))
            starts = script.window_starts(script.stream(again, "is_first"),
                                          length + again.config.train.replay_context)[:3]
            signals, error = script.measure(again, starts, seed=3, samples=3)
        finally:
            again.close()
    finally:
        trainer.close()
    assert set(signals) == set(script.CANDIDATES) and error.shape == (len(starts), length // 2)
    for name, values in signals.items():
        assert values.shape == error.shape and np.isfinite(values).all(), name
    assert (signals["dream_pixel_var"] >= 0).all() and (signals["ensemble_pixel_var"] >= 0).all()
    summary = script.summarise(signals["dream_pixel_var"], error, confidence.THRESHOLD)
    assert summary["current_threshold"]["threshold"] == confidence.THRESHOLD and summary["steps"] == error.size
    assert "current_threshold" not in script.summarise(signals["recheck_kl"], error)


def test_a_vector_model_is_measured_on_its_decoded_vectors(script):
    """The shipped CartPole-v1 proprio model decodes no frames: the error is the open-loop vector's normalised
    squared error and the vector candidates replace the pixel ones."""
    length = 8  # 4 context + 4 open-loop steps
    trainer = script.model_trainer(str(model_helpers.ROOT / "dreamer_core/assets/models/cartpole_v1_proprio"),
                                   seed=3, report_length=length, replay_size=400)
    try:
        script.collect_episodes(trainer, episodes=1, max_steps=60)
        starts = script.window_starts(script.stream(trainer, "is_first"),
                                      length + trainer.config.train.replay_context)[:2]
        signals, error = script.measure(trainer, starts, seed=3, samples=3)
    finally:
        trainer.close()
    pixel_only = {"ensemble_pixel_var", "ensemble_dist_to_openloop", "dream_pixel_var", "reencode_pixel_error"}
    assert set(signals) == (set(script.CANDIDATES) - pixel_only) | set(script.VECTOR_CANDIDATES)
    assert len(starts) == 2 and error.shape == (2, length // 2) and (error >= 0).all() and error.max() > 0
    for name, values in signals.items():
        assert values.shape == error.shape and np.isfinite(values).all(), name
    assert (signals[script.VECTOR_SIGNAL] > 0).all()  # three policy dreams never agree to the last bit
