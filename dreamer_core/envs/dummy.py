"""Tiny learnable envs without physics, for tests and smoke runs: `dummy_disc` and `dummy_cont`.

dummy_disc: a target class k in {0, 1, 2} is drawn every step and shown as the colour and row of a square
that slides across the image (and as a one-hot in `vector`); choosing action k pays +1.
dummy_cont: a square the agent moves by 0.25 * action per frame towards a fixed target marker; the reward
is 1 minus half the mean distance, so it lies in [0, 1].
Episodes last 40 agent steps (or config.time_limit) and end by time limit only.

Fault injection (for tests and scripts/fault_injection.py, also through the CLI): the environment variable
`DREAMER_DUMMY_FAULT=<kind>:<n>` makes every dummy env fail on its n-th, 2n-th, ... step (counted per env
instance, resets excluded): kind `RuntimeError` or `ValueError` raises it; kind `nan` instead returns NaN
observations and rewards from the n-th step on.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

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
        self._calls = 0  # steps taken by this instance (for fault injection)
        self._fault = _fault_spec(os.environ.get("DREAMER_DUMMY_FAULT", ""))

    def step(self, action: np.ndarray | None, reset: bool) -> dict[str, np.ndarray]:
        if self._fault and not reset:
            kind, n = self._fault
            self._calls += 1
            if kind != "nan" and self._calls % n == 0:
                raise {"RuntimeError": RuntimeError, "ValueError": ValueError}[kind](
                    f"injected fault (DREAMER_DUMMY_FAULT) at step {self._calls} of this env")
            if kind == "nan" and self._calls >= n:
                return {k: (np.full_like(v, np.nan) if v.dtype.kind == "f" else v)
                        for k, v in super().step(action, reset).items()}
        return super().step(action, reset)

    def _get_state(self) -> dict[str, Any]:
        return {"rng": self._rng.bit_generator.state, "targets": self._targets.copy(), "pos": self._pos.copy(),
                "goal": self._goal.copy(), "calls": self._calls}

    def _set_state(self, state: dict[str, Any]) -> None:
        self._rng.bit_generator.state = state["rng"]
        self._targets = np.array(state["targets"])
        self._pos, self._goal = np.array(state["pos"]), np.array(state["goal"])
        self._calls = int(state["calls"])

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
            vector = np.zeros(4, np.float32)  # (4,): the one-hot target of 3, then the share of the episode gone
            vector[self._targets[self._steps]] = 1.0
            vector[3] = self._steps / self._time_limit
            return vector
        return np.concatenate([self._pos, self._goal]).astype(np.float32)  # (4,): position, goal

    def _draw(self) -> np.ndarray:
        image = np.zeros((self._size, self._size, 3), np.uint8)  # (h, w, 3)
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


def _fault_spec(text: str) -> tuple[str, int] | None:
    if not text:
        return None
    kind, _, n = text.partition(":")
    if kind not in ("RuntimeError", "ValueError", "nan") or not n.isdigit() or int(n) < 1:
        raise ValueError(f"DREAMER_DUMMY_FAULT={text!r}: use RuntimeError:<n>, ValueError:<n> or nan:<n> (n >= 1)")
    return kind, int(n)
