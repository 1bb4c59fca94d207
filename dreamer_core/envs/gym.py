"""Gymnasium tasks: `gym_<EnvId>`, e.g. gym_CartPole-v1 (discrete) or gym_Pendulum-v1 (continuous)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import numpy as np

from .base import BaseEnv, ContinuousActions, DiscreteActions, Space, flag_spaces, image_space, resize_image

if TYPE_CHECKING:
    from ..config import EnvConfig

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")  # pygame-rendered envs must not open a window


class GymEnv(BaseEnv):
    def __init__(self, config: EnvConfig, seed: int) -> None:
        import gymnasium

        env_id = config.task[len("gym_") :]
        super().__init__(config.task, config.action_repeat)
        self._vision = config.obs == "vision"
        self._image_key = "image" if self._vision else ("log/image" if config.log_image else None)
        self._size = config.size
        self.note = ""  # said once by the trainer
        if self._image_key and not _renders_frames(env_id):  # else gymnasium's bare AssertionError, or a warning
            if self._vision:
                raise ValueError(f"{self.name} renders no frames (it has no 'rgb_array' render mode); use --obs "
                                 "proprio (this env draws no frames to learn from)")
            self._image_key = None
            self.note = (f"{self.name} renders no frames (it has no 'rgb_array' render mode): training from its "
                         "vectors without a display frame")
        self._env = _make(env_id, config, render=self._image_key is not None)
        self._seed: int | None = seed  # only the first reset is seeded; later ones continue its RNG

        self.actions = _actions(self._env.action_space, config.task)
        self._obs_space = self._env.observation_space
        self._flatten = gymnasium.spaces.flatten  # handles Box, Discrete (one-hot), Dict and Tuple
        self.obs_space = flag_spaces()
        if not self._vision:
            dim = int(gymnasium.spaces.flatdim(self._obs_space))
            self.obs_space["vector"] = Space((dim,), np.float32)
        if self._image_key:
            self.obs_space[self._image_key] = image_space(config.size)
        self._obs: Any = None

    def _reset(self) -> None:
        self._obs, _ = self._env.reset(seed=self._seed)
        self._seed = None

    def _act(self, action: Any) -> tuple[float, bool, bool]:
        self._obs, reward, terminated, truncated, _ = self._env.step(action)
        return float(reward), bool(terminated or truncated), bool(terminated)

    def _observe(self) -> dict[str, np.ndarray]:
        obs = {}
        if not self._vision:
            flat = self._flatten(self._obs_space, self._obs)
            obs["vector"] = np.asarray(flat, np.float32).reshape(-1)  # (V,): the whole observation, flattened
        if self._image_key:
            frame = self._env.render()
            if frame is None:
                fix = ("use --obs proprio with --set env.log_image=false" if not self._vision
                       else "use --obs proprio (this env draws no frames to learn from)")
                raise ValueError(f"{self.name} renders no frames (render() returned None for "
                                 f"render_mode='rgb_array'); {fix}")
            obs[self._image_key] = resize_image(frame, self._size)  # (h, w, 3)
        return obs

    def close(self) -> None:
        super().close()
        self._env.close()


def _make(env_id: str, config: EnvConfig, render: bool) -> Any:
    import gymnasium

    from . import gym_spec

    kwargs: dict[str, Any] = {"render_mode": "rgb_array"} if render else {}
    if config.time_limit > 0:
        # Replaces the env's own TimeLimit; in frames, so the episode ends on exactly that agent step.
        kwargs["max_episode_steps"] = config.time_limit * config.action_repeat
    spec = gym_spec(f"gym_{env_id}")  # made from the registered spec: an id string never imports a module
    try:
        return gymnasium.make(spec, **kwargs)
    except gymnasium.error.Error as error:  # missing extra (box2d, atari), bad kwargs
        raise ValueError(f"gymnasium cannot make 'gym_{env_id}': {error}") from error


def _renders_frames(env_id: str) -> bool:
    """Whether the registered env lists 'rgb_array' among its render modes (True when it does not say)."""
    from gymnasium.envs.registration import load_env_creator

    from . import gym_spec

    try:
        spec = gym_spec(f"gym_{env_id}")
        creator = load_env_creator(spec.entry_point) if isinstance(spec.entry_point, str) else spec.entry_point
        modes = getattr(creator, "metadata", {}).get("render_modes")
    except Exception:  # noqa: BLE001 - an unknown or broken id: _make reports it
        return True
    return modes is None or "rgb_array" in modes


def _actions(space: Any, task: str) -> ContinuousActions | DiscreteActions:
    from gymnasium import spaces

    if isinstance(space, spaces.Discrete):
        if space.start != 0:
            raise ValueError(f"{task}: Discrete action spaces with start != 0 are not supported")
        return DiscreteActions(int(space.n))
    if isinstance(space, spaces.Box):
        if len(space.shape) != 1:
            raise ValueError(f"{task}: Box action spaces must be 1-D, got shape {space.shape}")
        return ContinuousActions(space.low, space.high, space.dtype)
    raise ValueError(f"{task}: action space {space} is not supported (only Discrete and 1-D Box)")
