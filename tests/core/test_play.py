"""Play inside the dream (dreamer_core.play): real dm_control physics beside the dream, resets, seeds, recordings."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dreamer_core import play, video
from dreamer_core.config import make_config
from dreamer_core.envs import make_env

torch.set_num_threads(1)


def _setup(task="dmc_cartpole_balance", obs="vision", seed=0):
    config = make_config(task, obs, "debug", {"run": {"device": "cpu"}})
    env = make_env(config.env, seed)
    agent = play.player_agent(config, env.obs_space, env.act_space)
    return config, env, agent


@pytest.fixture
def cartpole():
    config, env, agent = _setup()
    yield config, env, agent
    env.close()


def _actions(n, dim, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, (n, dim)).astype(np.float32)


def test_dmc_real_beside_dream_starts_equal_and_restores_exactly(cartpole):
    _, env, agent = cartpole
    ctx = play.context_from_env(agent, env, steps=5, seed=0)
    assert ctx.env_state is not None and ctx.frame.shape == (64, 64, 3)
    player = play.DreamPlayer(agent, ctx, env, seed=3)
    first = player.reset()
    assert first.error == 0.0 and first.info == play.RESTORED
    np.testing.assert_array_equal(first.real_frame, ctx.frame)
    acts = _actions(12, 1)
    run1 = [player.step(a) for a in acts]
    assert all(s.error is not None and s.error > 0 for s in run1)  # an untrained dream departs from the world
    assert not np.array_equal(run1[-1].real_frame, ctx.frame)  # the real cart moved
    # R: back to the context. The real env restores the physics, so the same actions replay the same world.
    again = player.reset()
    assert again.error == 0.0
    np.testing.assert_array_equal(again.real_frame, ctx.frame)
    run2 = [player.step(a) for a in acts]
    for a, b in zip(run1, run2):
        np.testing.assert_array_equal(a.real_frame, b.real_frame)
        np.testing.assert_array_equal(a.frame, b.frame)  # same seed, same actions: the same dream
        assert a.real_reward == b.real_reward
    # And a fresh env with the same seed, driven by the same actions from the same policy steps, agrees: the
    # restored state is the real one, not merely a consistent one.
    twin = make_env(cartpole[0].env, 0)
    try:
        ctx2 = play.context_from_env(agent, twin, steps=5, seed=0)
        np.testing.assert_array_equal(ctx2.frame, ctx.frame)
        for a, s in zip(acts, run1):
            np.testing.assert_array_equal(twin.step(a, reset=False)["image"], s.real_frame)
    finally:
        twin.close()


def test_step_reads_heads_and_records_actions(cartpole):
    _, env, agent = cartpole
    player = play.DreamPlayer(agent, play.context_from_env(agent, env, 3), env, seed=0)
    player.reset()
    acts = _actions(6, 1, seed=1)
    steps = [player.step(a) for a in acts]
    np.testing.assert_allclose(np.stack([s.action for s in steps]), acts)
    assert [s.t for s in player.steps] == list(range(7))
    for s in steps:
        assert s.frame.dtype == np.uint8 and s.frame.shape == (64, 64, 3)
        assert 0.0 <= s.cont <= 1.0 and np.isfinite([s.reward, s.value]).all()
        assert s.stoch.shape == (8, 4) and np.allclose(s.stoch.sum(-1), 1)
    # Out-of-range continuous actions are clipped to the action space; a wrong shape is refused.
    assert player.step(np.array([5.0], np.float32)).action[0] == 1.0
    with pytest.raises(ValueError, match="1 entries"):
        player.step(np.zeros(2, np.float32))


def test_same_seed_same_dream_other_seed_other_dream(cartpole):
    _, env, agent = cartpole
    ctx = play.context_from_env(agent, env, 3)
    acts = _actions(8, 1, seed=2)

    def dream(seed):
        p = play.DreamPlayer(agent, ctx, None, seed=seed)
        p.reset()
        return np.stack([p.step(a).stoch for a in acts])  # (T, S, C)

    np.testing.assert_array_equal(dream(5), dream(5))
    assert not np.array_equal(dream(5), dream(6))


def test_recording_reads_back(cartpole, tmp_path):
    _, env, agent = cartpole
    player = play.DreamPlayer(agent, play.context_from_env(agent, env, 3), env, seed=0)
    player.reset()
    acts = _actions(9, 1, seed=4)
    for a in acts:
        player.step(a)
    paths = play.save_recording(player.steps, tmp_path / "session", meta={"task": "dmc_cartpole_balance"})
    assert [p.name for p in paths] == ["session.npz", "session.mp4"]
    rec = play.load_recording(paths[0])
    assert len(rec) == 10 and rec.dream_frames.shape == (10, 64, 64, 3) and rec.real_frames.shape == (10, 64, 64, 3)
    np.testing.assert_allclose(rec.actions, acts)
    np.testing.assert_array_equal(rec.dream_frames[3], player.steps[3].frame)
    np.testing.assert_array_equal(rec.stoch, np.stack([s.stoch for s in player.steps]))
    assert rec.t.tolist() == list(range(10))
    assert rec.errors[0] == 0.0 and np.isfinite(rec.real_rewards).all()
    assert rec.meta["task"] == "dmc_cartpole_balance" and rec.meta["info"] == play.RESTORED
    frames = video.read_video(paths[1])
    assert len(frames) == 10
    assert frames.shape[2] > 2 * 64 * 3  # dream | real side by side, upscaled


def test_env_without_state_restarts_both_from_a_fresh_reset():
    config, env, agent = _setup("gym_CartPole-v1", "proprio")
    try:
        assert env.get_state() is None  # gymnasium envs cannot say
        player = play.DreamPlayer(agent, play.context_from_env(agent, env, 2), env, seed=0)
        first = player.reset()
        assert first.info == play.FRESH and first.error == 0.0  # both sides start from the same reset
        one_hot = np.eye(2, dtype=np.float32)
        steps = [player.step(one_hot[i % 2]) for i in range(4)]
        assert all(s.vector.shape == (4,) and s.real_vector.shape == (4,) for s in steps)
        again = player.reset()
        assert again.info == play.FRESH and again.error == 0.0
        np.testing.assert_array_equal(again.real_vector, player.context.vector)  # the new context
    finally:
        env.close()


def test_replay_moment_has_no_real_side():
    from dreamer_core.trainer import Trainer

    config = make_config("dummy_disc", "vision", "debug", {"run": {"device": "cpu"}})
    trainer = Trainer(config, None)
    try:
        while (report := trainer.report()) is None:
            trainer.step()
        ctx = play.context_from_report(report)
        player = play.DreamPlayer(trainer.agent, ctx, None, seed=0)
        first = player.reset()
        np.testing.assert_array_equal(first.frame, report.real[report.context_len - 1])
        step = player.step(np.eye(3, dtype=np.float32)[1])
        assert step.info == play.NO_REAL and step.error is None and step.real_frame is None
    finally:
        trainer.close()


def test_weights_snapshot_is_a_copy(cartpole):
    config, env, agent = cartpole
    weights = play.weights_snapshot(agent)
    copy = play.player_agent(config, env.obs_space, env.act_space, weights)
    name = "rssm.prior_out.weight"
    with torch.no_grad():
        agent.state_dict()[name].add_(1.0)  # training moves the original on
    assert not torch.equal(copy.state_dict()[name], agent.state_dict()[name])
    torch.testing.assert_close(copy.state_dict()[name] + 1.0, agent.state_dict()[name])


def test_a_long_session_keeps_its_start_and_its_last_steps(cartpole, monkeypatch):
    _, env, agent = cartpole
    monkeypatch.setattr(play, "KEEP_STEPS", 5)
    player = play.DreamPlayer(agent, play.context_from_env(agent, env, 2), None, seed=0)
    player.reset()
    for a in _actions(9, 1):
        player.step(a)
    assert [s.t for s in player.steps] == [0, 6, 7, 8, 9]  # memory stays bounded however long one plays


def test_a_live_trainers_moment_is_played_from_its_exact_state():
    from dreamer_core.trainer import Trainer

    config = make_config("dmc_cartpole_balance", "vision", "debug", {"run": {"device": "cpu"}})
    trainer = Trainer(config, None)
    twin = make_env(config.env, 99)  # another seed: the state comes from the trainer's env, not from seeding
    try:
        for _ in range(6):
            trainer.step()
        moment = play.live_moment(trainer)
        agent = play.player_agent(config, twin.obs_space, twin.act_space, play.weights_snapshot(trainer.agent))
        ctx = play.context_from_moment(agent, twin, moment)
        np.testing.assert_array_equal(ctx.frame, trainer.obs["image"][0])  # the frame the trainer acts on next
        player = play.DreamPlayer(agent, ctx, twin, seed=0)
        assert player.reset().error == 0.0
        acts = _actions(4, 1, seed=5)
        steps = [player.step(a) for a in acts]
        for a, s in zip(acts, steps):  # the trainer's own env, driven by the same actions, sees the same frames
            np.testing.assert_array_equal(trainer.envs[0].step(a, reset=False)["image"], s.real_frame)
        trainer.obs["is_last"][0] = True
        assert play.live_moment(trainer) is None  # an episode that just ended has no moment to continue
    finally:
        twin.close()
        trainer.close()
