"""The env contract against real dm_control physics, real gymnasium and the dummy tasks."""

import os

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

from collections.abc import Callable, Iterator  # noqa: E402

import gymnasium  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from dreamer_core.config import EnvConfig  # noqa: E402
from dreamer_core.envs import Env, Space, make_env  # noqa: E402
from dreamer_core.envs.base import ContinuousActions  # noqa: E402
from dreamer_core.envs.dmc import parse_task  # noqa: E402

FLAGS = ("reward", "is_first", "is_last", "is_terminal")


@pytest.fixture
def make() -> Iterator[Callable[..., Env]]:
    """make(task, seed=0, **EnvConfig fields) -> env, closed after the test."""
    opened: list[Env] = []

    def factory(task: str, seed: int = 0, **fields) -> Env:
        env = make_env(EnvConfig(task=task, **fields), seed)
        opened.append(env)
        return env

    yield factory
    for env in opened:
        env.close()


def check_obs(env: Env, obs: dict[str, np.ndarray]) -> None:
    assert list(obs) == list(env.obs_space)
    for key, space in env.obs_space.items():
        assert isinstance(obs[key], np.ndarray), key
        assert obs[key].shape == space.shape, key
        assert obs[key].dtype == np.dtype(space.dtype), key


def check_first(obs: dict[str, np.ndarray]) -> None:
    assert obs["reward"] == 0 and obs["is_first"] and not obs["is_last"] and not obs["is_terminal"]


def act(env: Env, value: float = 0.0) -> np.ndarray:
    return np.full(env.act_space.shape, value, np.float32)


def onehot(n: int, index: int) -> np.ndarray:
    return np.eye(n, dtype=np.float32)[index]


# --- dm_control ---------------------------------------------------------------------------------------------


def test_dmc_proprio_spaces_and_flags(make):
    env = make("dmc_walker_walk", log_image=False)
    assert env.act_space == Space((6,), np.float32, -1.0, 1.0, False)
    vectors = {k: s.shape for k, s in env.obs_space.items() if k not in FLAGS}
    assert vectors == {"orientations": (14,), "height": (1,), "velocity": (9,)}
    first = env.step(None, reset=True)
    check_obs(env, first)
    check_first(first)
    obs = env.step(act(env, 0.3), reset=False)
    check_obs(env, obs)
    assert not obs["is_first"] and not obs["is_last"] and not obs["is_terminal"]


def test_dmc_proprio_log_image_is_rendered(make):
    env = make("dmc_cartpole_balance", size=32)
    assert set(env.obs_space) == set(FLAGS) | {"position", "velocity", "log/image"}
    first = env.step(None, reset=True)
    second = env.step(act(env, 1.0), reset=False)
    for obs in (first, second):
        check_obs(env, obs)
        assert obs["log/image"].std() > 5  # not a blank frame
    # Frames must be independent arrays: the camera reuses its pixel buffer.
    assert not np.shares_memory(first["log/image"], second["log/image"])
    assert not np.array_equal(first["log/image"], second["log/image"])


def test_dmc_vision_feeds_only_the_image(make):
    env = make("dmc_cartpole_balance", obs="vision", size=48)
    assert set(env.obs_space) == set(FLAGS) | {"image"}
    assert env.obs_space["image"] == Space((48, 48, 3), np.uint8, 0, 255)
    obs = env.step(None, reset=True)
    check_obs(env, obs)
    assert obs["image"].std() > 5


def test_dmc_episode_ends_at_time_limit_without_terminal(make):
    env = make("dmc_cartpole_balance", action_repeat=4, log_image=False)
    assert env._env._step_limit == 1000  # frames per episode
    env.step(None, reset=True)
    for step in range(1, 251):
        obs = env.step(act(env), reset=False)
        assert bool(obs["is_last"]) == (step == 250)
    assert not obs["is_terminal"]
    with pytest.raises(RuntimeError, match="reset"):
        env.step(act(env), reset=False)
    check_first(env.step(None, reset=True))


def test_dmc_action_repeat_sums_rewards(make):
    single = make("dmc_cartpole_swingup", action_repeat=1, log_image=False)
    double = make("dmc_cartpole_swingup", action_repeat=2, log_image=False)
    single.step(None, reset=True)
    double.step(None, reset=True)
    for value in (0.5, -0.7, 1.0):
        expected = sum(float(single.step(act(single, value), reset=False)["reward"]) for _ in range(2))
        obs = double.step(act(double, value), reset=False)
        assert obs["reward"] == pytest.approx(expected, rel=1e-6)
        assert obs["reward"] != 0


def test_dmc_actions_are_clipped_to_bounds(make):
    env = make("dmc_cartpole_balance", log_image=False)
    env.step(None, reset=True)
    env.step(act(env, 5.0), reset=False)
    assert env._env.physics.data.ctrl[0] == pytest.approx(1.0)
    env.step(act(env, -3.0), reset=False)
    assert env._env.physics.data.ctrl[0] == pytest.approx(-1.0)
    with pytest.raises(ValueError, match="shape"):
        env.step(np.zeros(3, np.float32), reset=False)


def test_dmc_seeds_and_shadows(make):
    a, b, c = (make("dmc_cartpole_swingup", seed=s, log_image=False) for s in (3, 3, 4))
    first = [env.step(None, reset=True)["position"] for env in (a, b, c)]
    np.testing.assert_array_equal(first[0], first[1])
    assert not np.array_equal(first[0], first[2])
    assert not a._env.physics.model.light_castshadow.any()
    shadowed = make("dmc_cartpole_balance", shadows=True, log_image=False)
    assert shadowed._env.physics.model.light_castshadow.any()


def test_dmc_task_names():
    assert parse_task("ball_in_cup_catch") == ("ball_in_cup", "catch")
    assert parse_task("cup_catch") == ("ball_in_cup", "catch")  # official DreamerV3 spelling
    assert parse_task("humanoid_CMU_run") == ("humanoid_CMU", "run")
    with pytest.raises(ValueError, match="swingup"):
        make_env(EnvConfig(task="dmc_cartpole_nope"), 0)
    with pytest.raises(ValueError, match="walker"):
        make_env(EnvConfig(task="dmc_robot_walk"), 0)
    with pytest.raises(ValueError, match="cameras"):
        make_env(EnvConfig(task="dmc_cartpole_balance", camera=99), 0)


# --- gymnasium ----------------------------------------------------------------------------------------------


def test_gym_cartpole_discrete_one_hot(make):
    env = make("gym_CartPole-v1", seed=7, log_image=False, action_repeat=1)
    assert env.act_space == Space((2,), np.float32, 0.0, 1.0, discrete=True)
    assert set(env.obs_space) == set(FLAGS) | {"vector"}
    reference = gymnasium.make("CartPole-v1")
    expected, _ = reference.reset(seed=7)
    obs = env.step(None, reset=True)
    check_obs(env, obs)
    np.testing.assert_array_equal(obs["vector"], expected)
    for index in (1, 1, 0):
        expected = reference.step(index)[0]
        np.testing.assert_array_equal(env.step(onehot(2, index), reset=False)["vector"], expected)
    # Pushing right until the pole falls is a true terminal.
    while not obs["is_last"]:
        obs = env.step(onehot(2, 1), reset=False)
    assert obs["is_terminal"]


def test_gym_time_limit_is_not_terminal(make):
    env = make("gym_CartPole-v1", time_limit=5, action_repeat=2, log_image=False)
    env.step(None, reset=True)
    flags = [env.step(onehot(2, i % 2), reset=False) for i in range(5)]
    assert [bool(o["is_last"]) for o in flags] == [False] * 4 + [True]
    assert not flags[-1]["is_terminal"]
    assert flags[0]["reward"] == 2  # CartPole pays 1 per frame, summed over the repeat
    with pytest.raises(RuntimeError):
        env.step(onehot(2, 0), reset=False)


def test_gym_pixels(make):
    env = make("gym_CartPole-v1", obs="vision", size=32)
    assert set(env.obs_space) == set(FLAGS) | {"image"}
    obs = env.step(None, reset=True)
    check_obs(env, obs)
    assert obs["image"].std() > 5
    proprio = make("gym_CartPole-v1", size=32)
    obs = proprio.step(None, reset=True)
    check_obs(proprio, obs)
    assert obs["log/image"].std() > 5 and obs["vector"].shape == (4,)


def test_gym_continuous_actions_are_rescaled_and_clipped(make):
    env = make("gym_Pendulum-v1", log_image=False, action_repeat=1)
    assert env.act_space == Space((1,), np.float32, -1.0, 1.0, False)
    env.step(None, reset=True)
    pendulum = env._env.unwrapped  # torque bounds are +-2
    env.step(act(env, 0.5), reset=False)
    assert pendulum.last_u == pytest.approx(1.0)
    env.step(act(env, -7.0), reset=False)
    assert pendulum.last_u == pytest.approx(-2.0)


def test_gym_seeds_and_unknown_id(make):
    first = [make("gym_Pendulum-v1", seed=s, log_image=False).step(None, reset=True)["vector"] for s in (1, 1, 2)]
    np.testing.assert_array_equal(first[0], first[1])
    assert not np.array_equal(first[0], first[2])
    with pytest.raises(ValueError, match="gym_CartPole-v1"):
        make_env(EnvConfig(task="gym_NoSuchEnv-v0"), 0)


# --- dummy and shared -------------------------------------------------------------------------------------


@pytest.mark.parametrize("task", ["dummy_disc", "dummy_cont"])
@pytest.mark.parametrize("obs_mode", ["proprio", "vision"])
def test_dummy_episode(make, task, obs_mode):
    env = make(task, obs=obs_mode, size=16)
    image_key = "image" if obs_mode == "vision" else "log/image"
    assert ("vector" in env.obs_space) == (obs_mode == "proprio")
    obs = env.step(None, reset=True)
    check_first(obs)
    frames = [obs[image_key]]
    for step in range(1, 41):
        obs = env.step(act(env, 0.5), reset=False)
        check_obs(env, obs)
        frames.append(obs[image_key])
        assert bool(obs["is_last"]) == (step == 40) and not obs["is_terminal"]
    assert len({frame.tobytes() for frame in frames}) > 1  # the picture follows the state


def test_dummy_disc_reward_follows_the_visible_target(make):
    env = make("dummy_disc", seed=5, action_repeat=1)
    obs = env.step(None, reset=True)
    total = 0.0
    while not obs["is_last"]:
        obs = env.step(onehot(3, int(np.argmax(obs["vector"][:3]))), reset=False)
        total += float(obs["reward"])
    assert total == 40
    again = make("dummy_disc", seed=5).step(None, reset=True)
    other = make("dummy_disc", seed=5).step(None, reset=True)
    np.testing.assert_array_equal(again["log/image"], other["log/image"])


def test_misuse_errors(make):
    env = make("dummy_cont")
    with pytest.raises(RuntimeError, match="before reset"):
        env.step(act(env), reset=False)
    env.step(None, reset=True)
    with pytest.raises(ValueError, match="needs an action"):
        env.step(None, reset=False)
    for bad in ("dmc", "procgen_coinrun", "dummy_other"):
        with pytest.raises(ValueError, match="dummy"):
            make_env(EnvConfig(task=bad), 0)
    with pytest.raises(ValueError, match="vision"):
        make_env(EnvConfig(task="dummy_disc", obs="pixels"), 0)


def test_continuous_action_mapping():
    actions = ContinuousActions(np.array([0.0, -2.0]), np.array([1.0, 2.0]))
    np.testing.assert_allclose(actions(np.array([-1.0, 1.0])), [0.0, 2.0])
    np.testing.assert_allclose(actions(np.array([0.0, 0.25])), [0.5, 0.5])
    np.testing.assert_allclose(actions(np.array([9.0, -9.0])), [1.0, -2.0])
