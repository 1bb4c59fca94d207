"""Atari through ale-py with HEAD's wrapper settings: shapes, the config blocks, sticky actions, NOOP starts,
frame pooling and grayscale, episode ends, and a few train steps through the real Trainer."""

import numpy as np
import pytest

from dreamer_core.config import domain_of, make_config
from dreamer_core.envs import atari, make_env
from dreamer_core.envs.base import resize_image


def env(task="atari_pong", seed=0, **env_overrides):
    return make_env(make_config(task, "vision", "debug", {"env": env_overrides} if env_overrides else None).env,
                    seed)


def onehot(index, n):
    return np.eye(n, dtype=np.float32)[index]


def test_atari_reset_and_step_shapes_and_dtypes():
    e = env()
    assert e.act_space.shape == (18,) and e.act_space.discrete  # HEAD actions: all (ALE's legal set)
    obs = e.step(None, reset=True)
    assert obs["image"].shape == (96, 96, 1) and obs["image"].dtype == np.uint8
    assert obs["is_first"] and not obs["is_last"] and not obs["is_terminal"]
    obs = e.step(onehot(1, 18), reset=False)
    assert obs["image"].shape == (96, 96, 1) and obs["reward"].dtype == np.float32 and not obs["is_first"]
    assert set(obs) == set(e.obs_space) and e.frames == 4  # one agent step = 4 emulator frames


def test_atari100k_is_rgb_64_with_the_minimal_action_set_and_no_sticky_actions():
    e = env("atari100k_pong")
    assert e.obs_space["image"].shape == (64, 64, 3) and e.act_space.shape == (6,)  # Pong's minimal set
    assert e.step(None, reset=True)["image"].shape == (64, 64, 3)
    assert e.sticky == 0.0 and e.ale.getFloat("repeat_action_probability") == 0.0


def test_domain_blocks_follow_head_configs():
    c = make_config("atari_pong", "proprio", "size1m")  # the CLI's default obs: Atari is pixels only
    assert domain_of("atari_pong", "proprio") == "atari" and domain_of("atari100k_pong", "vision") == "atari100k"
    assert (c.env.obs, c.env.size, c.env.action_repeat) == ("vision", 96, 4)
    assert (c.run.train_ratio, c.run.steps, c.run.envs) == (32.0, 51_000_000, 16)
    k = make_config("atari100k_pong", "vision", "size1m")
    assert (k.env.size, k.env.action_repeat, k.run.train_ratio, k.run.steps, k.run.envs) == (64, 4, 256.0,
                                                                                           110_000, 1)
    e = env()
    assert e.sticky == 0.25 and e.ale.getFloat("repeat_action_probability") == pytest.approx(0.25)


def screens_after(task, seed, steps=60):
    e = env(task, seed)
    e.step(None, reset=True)
    actions = np.random.default_rng(0).integers(e.act_space.shape[0], size=steps)
    for a in actions:
        e.step(onehot(a, e.act_space.shape[0]), reset=False)
    return e.ale.getScreenRGB().copy()


def test_sticky_actions_take_effect_and_are_off_when_disabled(monkeypatch):
    monkeypatch.setattr(atari, "NOOPS", 0)  # same start for every seed: only sticky actions can differ
    # With sticky actions the emulator's seed decides which actions repeat: the same actions diverge.
    assert not np.array_equal(screens_after("atari_breakout", 1), screens_after("atari_breakout", 2))
    monkeypatch.setitem(atari.SUITES["atari"], "sticky", False)
    assert np.array_equal(screens_after("atari_breakout", 1), screens_after("atari_breakout", 2))


def test_noop_starts_play_0_to_30_frames_and_vary_with_the_seed():
    starts = []
    for seed in range(8):
        e = env(seed=seed)
        e.step(None, reset=True)
        starts.append(e.ale.getEpisodeFrameNumber())
        assert e.frames == 0  # NOOP frames do not count towards the episode length
    assert all(0 <= s <= atari.NOOPS for s in starts) and len(set(starts)) > 1


def test_observation_max_pools_the_last_two_frames_then_resizes_and_grays():
    e = env(seed=3)
    e.step(None, reset=True)
    assert np.array_equal(e._buffers[0], e._buffers[1])  # a reset pools the first frame with itself
    for a in (1, 3, 4, 1):
        obs = e.step(onehot(a, 18), reset=False)
    assert np.array_equal(e._buffers[0], e.ale.getScreenRGB())  # newest buffer: the last frame of the repeat
    rgb = resize_image(np.maximum(e._buffers[0], e._buffers[1]), 96)  # (96, 96, 3)
    luma = np.array([0.299, 0.587, 1 - (0.299 + 0.587)])  # HEAD's weights, to the last bit (0.114 rounds apart)
    expected = (rgb * luma).sum(-1).astype(np.uint8)  # (96, 96), truncated
    assert np.array_equal(obs["image"][..., 0], expected)


class ScriptedALE:
    """The real ALE, but every frame pays 5 and the game never ends: checks summing, clipping and the limit."""

    def __init__(self, ale):
        self._ale = ale

    def act(self, action):
        self._ale.act(action)
        return 5

    def game_over(self):
        return False

    def __getattr__(self, name):
        return getattr(self._ale, name)


def test_rewards_sum_over_the_repeat_unclipped_and_the_frame_limit_ends_as_terminal(monkeypatch):
    monkeypatch.setattr(atari, "LENGTH", 20)
    e = env()
    e.ale = ScriptedALE(e.ale)
    e.step(None, reset=True)
    for _ in range(4):
        obs = e.step(onehot(0, 18), reset=False)
        assert obs["reward"] == 20.0 and not obs["is_last"]  # 4 frames x 5, no sign() clipping
    obs = e.step(onehot(0, 18), reset=False)
    assert obs["is_last"] and obs["is_terminal"]  # HEAD marks every episode end terminal


def test_game_over_ends_the_episode():
    e = env(seed=1)
    e.step(None, reset=True)
    for steps in range(1, 3000):
        obs = e.step(onehot(0, 18), reset=False)  # NOOP until the opponent wins 21 points
        if obs["is_last"]:
            break
    assert obs["is_last"] and obs["is_terminal"] and e.ale.game_over() and steps < 3000
    with pytest.raises(RuntimeError, match="call step"):
        e.step(onehot(0, 18), reset=False)


@pytest.mark.parametrize("task, obs, message", [("atari_no_such_game", "vision", "has no ROM"),
                                                ("atari_pong", "proprio", "pixels only")])
def test_bad_atari_tasks_are_one_line_errors(task, obs, message):
    from dataclasses import replace

    config = replace(make_config("atari_pong", "vision", "debug").env, task=task, obs=obs)
    with pytest.raises(ValueError, match=message) as info:
        make_env(config, 0)
    assert "\n" not in str(info.value)


def test_a_few_debug_train_steps_on_atari_through_the_trainer(tmp_path):
    from dreamer_core.trainer import Trainer

    config = make_config("atari_pong", "vision", "debug", {"run": {"envs": 1, "train_fill": 40}})
    trainer = Trainer(config, tmp_path)
    try:
        for _ in range(48):
            trainer.step()
        assert trainer.updates > 0 and trainer.counters.env_frames == 48 * 4
        assert trainer.agent.encoder.convs[0].in_channels == 1 and trainer.agent.act_space.shape == (18,)
        report = trainer.report(samples=1)
        assert report is not None and report.decoded.shape[-3:] == (96, 96, 3)  # gray shown as RGB
    finally:
        trainer.close()
