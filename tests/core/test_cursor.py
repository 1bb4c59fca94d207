"""The state under the time cursor (dreamer_core.cursor): Play from a replay moment, a sweep from any step."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dreamer_core import cursor, play, sweep
from dreamer_core.config import make_config
from dreamer_core.envs import make_env

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def trained():
    """A debug trainer on dummy_disc vision and one of its reports."""
    from dreamer_core.trainer import Trainer

    config = make_config("dummy_disc", "vision", "debug", {"run": {"device": "cpu"}})
    trainer = Trainer(config, None)
    try:
        while (report := trainer.report(samples=2)) is None:
            trainer.step()
        yield trainer, report
    finally:
        trainer.close()


def test_the_cursor_reads_report_and_imagined_states(trained):
    _, report = trained
    ctx, steps = report.context_len, len(report.rewards)
    start = cursor.posterior_at(report, ctx - 1)  # the report's own start, rebuilt from its features
    torch.testing.assert_close(start.deter, report.start.deter.cpu(), rtol=0, atol=0)
    torch.testing.assert_close(start.stoch, report.start.stoch.cpu(), rtol=0, atol=0)
    at = cursor.state_at(report, report.imagination, 1)
    assert (at.t, at.imagined, at.sample) == (1, None, None) and at.describe() == "report step 2"
    np.testing.assert_array_equal(at.latent.feat()[0].numpy(), report.features[1])
    dreamed = cursor.state_at(report, report.imagination, ctx + 2, sample=1)
    assert (dreamed.imagined, dreamed.sample) == (2, 1) and "imagined step 3 of dream 2" == dreamed.describe()
    np.testing.assert_array_equal(dreamed.latent.feat()[0].numpy(), report.imagination.features[1, 2])
    past = cursor.state_at(report, None, steps + 5)  # no imagination: the report's last step at most
    assert past.t == steps - 1 and past.imagined is None
    old = type(report)(**{**report.__dict__, "features": None})  # a report from before features
    assert cursor.posterior_at(old, ctx - 1).stoch.equal(report.start.stoch.cpu())
    with pytest.raises(ValueError, match="only its last context step"):
        cursor.posterior_at(old, 0)


def test_play_from_a_replay_moment_dreams_from_it_and_starts_the_real_env_fresh(trained):
    trainer, report = trained
    t = 1  # not the report's start: a moment the user chose
    env = make_env(trainer.config.env, 3)
    try:
        player = play.DreamPlayer(trainer.agent, play.context_from_report(report, t), env, seed=0)
        first = player.reset()
        np.testing.assert_array_equal(first.frame, report.real[t])  # the dream starts at that replay frame
        np.testing.assert_array_equal(first.stoch, report.features[t, -first.stoch.size:].reshape(first.stoch.shape))
        twin = make_env(trainer.config.env, 3)  # the same env, same seed: what its first fresh reset shows
        fresh = twin.step(None, reset=True)
        twin.close()
        np.testing.assert_array_equal(first.real_frame, fresh["image"])  # no physics state in replay
        assert first.info == play.REPLAY_FRESH
        one_hot = np.eye(3, dtype=np.float32)
        dream = [player.step(one_hot[2]) for _ in range(3)]
        assert all(s.real_frame is not None for s in dream)
        again = player.reset()  # R: the same replay moment, not a new context
        np.testing.assert_array_equal(again.frame, report.real[t])
        np.testing.assert_array_equal(again.stoch, first.stoch)
        for a, b in zip(dream, [player.step(one_hot[2]) for _ in range(3)]):
            np.testing.assert_array_equal(a.frame, b.frame)  # same seed, same actions: the same dream
    finally:
        env.close()


def test_a_sweep_from_the_cursor_branches_at_that_step_with_the_same_seed(trained):
    trainer, report = trained
    agent = trainer.agent
    ctx = report.context_len
    for t, sample in ((0, 0), (ctx + 1, 1)):  # a context step, and an imagined step of dream 2
        out = sweep.sweep_from_cursor(agent, report, report.imagination, t, sample, horizon=4, seed=3)
        origin = cursor.state_at(report, report.imagination, t, sample)
        assert out.origin.t == t and out.origin.imagined == origin.imagined
        again = sweep.sweep(agent, origin.latent, horizon=4, seed=3)  # the same start, the same seed
        for a, b in zip(out.futures, again.futures):
            np.testing.assert_array_equal(a.frames, b.frames)
            np.testing.assert_array_equal(a.actions, b.actions)
        # Same seed elsewhere: the futures differ only in the first action's choice.
        assert [int(f.actions[0].argmax()) for f in out.futures] == [0, 1, 2]
    from_start = sweep.sweep(agent, report.start, horizon=4, seed=3)
    moved = sweep.sweep_from_cursor(agent, report, report.imagination, 0, horizon=4, seed=3)
    assert not np.array_equal(from_start.futures[0].deter, moved.futures[0].deter)  # it did branch elsewhere
