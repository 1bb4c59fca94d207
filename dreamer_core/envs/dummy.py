"""Tiny learnable envs without physics, for tests and smoke runs: `dummy_disc` and `dummy_cont`.

dummy_disc: a target class k in {0, 1, 2} is drawn every step and shown as the colour and row of a square
that slides across the image (and as a one-hot in `vector`); choosing action k pays +1.
dummy_cont: a square the agent moves by 0.25 * action per frame towards a fixed target marker; the reward
is 1 minus half the mean distance, so it lies in [0, 1].
Episodes last 40 agent steps (or config.time_limit) and end by time limit only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .base import BaseEnv, ContinuousActions, DiscreteActions, Space, flag_spaces, image_space

if TYPE_CHECKING:
    from ..config import EnvConfig

EPISODE_LENGTH = 40
COLOURS = np.array([[255, 64, 64], [64, 255, 64], [64, 128, 255]], np.uint8)


class DummyEnv(BaseEnv):
    def __init__(self, config: EnvConfig, seed: int) -> None:
        kind = config.task[len("dummy_") :]
        if kind not in ("disc", "cont"):
            raise ValueError(f"unknown dummy task {config.task!r}: use dummy_disc or dummy_cont")
        super().__init__(config.task, config.action_repeat, config.time_limit or EPISODE_LENGTH)
        self._discrete = kind == "disc"
        self._rng = np.random.default_rng(seed)
        self._size = config.size
        self._square = max(2, config.size // 8)
        self.actions = DiscreteActions(3) if self._discrete else ContinuousActions(-np.ones(2), np.ones(2))
        self._image_key = "image" if config.obs == "vision" else ("log/image" if config.log_image else None)
        self.obs_space = flag_spaces()
        if config.obs != "vision":
            self.obs_space["vector"] = Space((4,), np.float32)
        if self._image_key:
            self.obs_space[self._image_key] = image_space(config.size)
        self._targets = np.zeros(0, np.int64)  # disc: class to choose at each agent step of the episode
        self._pos = np.zeros(2)  # cont: agent square in [-1, 1]^2
        self._goal = np.zeros(2)  # cont: target marker in [-1, 1]^2

    def _reset(self) -> None:
        # The whole episode's targets are drawn up front; agent step t shows and rewards targets[t].
        self._targets = self._rng.integers(3, size=self._time_limit + 1)
        self._pos = self._rng.uniform(-1, 1, 2)
        self._goal = self._rng.uniform(-1, 1, 2)

    def _act(self, action: int | np.ndarray) -> tuple[float, bool, bool]:
        if self._discrete:
            reward = float(action == self._targets[self._steps])
        else:
            self._pos = np.clip(self._pos + 0.25 * action, -1, 1)
            reward = 1.0 - 0.5 * float(np.abs(self._pos - self._goal).mean())
        return reward, False, False

    def _observe(self) -> dict[str, np.ndarray]:
        obs: dict[str, np.ndarray] = {}
        if "vector" in self.obs_space:
            obs["vector"] = self._vector()
        if self._image_key:
            obs[self._image_key] = self._draw()
        return obs

    def _vector(self) -> np.ndarray:
        if self._discrete:
            vector = np.zeros(4, np.float32)
            vector[self._targets[self._steps]] = 1.0
            vector[3] = self._steps / self._time_limit
            return vector
        return np.concatenate([self._pos, self._goal]).astype(np.float32)

    def _draw(self) -> np.ndarray:
        image = np.zeros((self._size, self._size, 3), np.uint8)
        image[..., 2] = 32  # a dim blue background, so frames are never all zero
        if self._discrete:
            target = self._targets[self._steps]
            x = (self._steps * 3) % (self._size - self._square)  # slides so frames differ over time
            y = int((target + 0.5) * self._size / 3) - self._square // 2
            self._paint(image, x, y, COLOURS[target])
        else:
            self._paint(image, *self._to_pixels(self._goal), COLOURS[0])
            self._paint(image, *self._to_pixels(self._pos), np.array([255, 255, 255], np.uint8))
        return image

    def _to_pixels(self, point: np.ndarray) -> tuple[int, int]:
        x, y = ((point + 1) / 2 * (self._size - self._square)).astype(int)
        return int(x), int(y)

    def _paint(self, image: np.ndarray, x: int, y: int, colour: np.ndarray) -> None:
        image[y : y + self._square, x : x + self._square] = colour
