"""The environment contract shared by every task, and the helpers the concrete envs build on.

Every env speaks one step function: `step(action, reset)` returns a dict of numpy arrays holding the
observation plus `reward`, `is_first`, `is_last` and `is_terminal`, as in the official DreamerV3 `embodied`
envs. Keys starting with `log/` are for display only and never reach the model. Shapes as in
docs/tensor_shapes.md: a frame is (h, w, c) uint8 with h = w = env.size, a vector observation (dims,) float32.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np


@dataclass(frozen=True)
class Space:
    shape: tuple[int, ...]
    dtype: type  # np.float32, np.uint8 or bool
    low: float | None = None
    high: float | None = None
    discrete: bool = False  # for actions: one-hot vector of size shape[0]


@runtime_checkable
class Env(Protocol):
    obs_space: dict[str, Space]
    act_space: Space

    def step(self, action: np.ndarray | None, reset: bool) -> dict[str, np.ndarray]: ...

    def close(self) -> None: ...


def is_log_key(key: str) -> bool:
    """An observation logged for people (`log/image`: a proprio env's rendering), never modelled or trained on."""
    return key.startswith("log/")


def flag_spaces() -> dict[str, Space]:
    """The reward and episode flags every env returns, first in every obs dict."""
    return {
        "reward": Space((), np.float32),
        "is_first": Space((), bool),
        "is_last": Space((), bool),
        "is_terminal": Space((), bool),
    }


def image_space(size: int, channels: int = 3) -> Space:
    """A size x size uint8 image with `channels` (3 RGB, 1 grayscale as on Atari)."""
    return Space((size, size, channels), np.uint8, 0, 255)


def resize_image(frame: np.ndarray, size: int) -> np.ndarray:
    """Resize an RGB frame (any h, any w, 3) to (size, size, 3); PIL's bilinear filter widens its support when
    shrinking (area-like)."""
    if frame.shape[:2] == (size, size):
        return np.ascontiguousarray(frame, dtype=np.uint8)
    from PIL import Image

    image = Image.fromarray(np.asarray(frame, dtype=np.uint8)).resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(image)


class ContinuousActions:
    """Maps agent actions in [-1, 1] to the env's bounds and clips (the actor samples an unclipped normal)."""

    def __init__(self, low: np.ndarray, high: np.ndarray, dtype: Any = np.float32) -> None:
        low = np.asarray(low, np.float64).reshape(-1)
        high = np.asarray(high, np.float64).reshape(-1)
        # Unbounded dims (gym Box with inf) pass through unscaled.
        bounded = np.isfinite(low) & np.isfinite(high)
        self._scale = np.where(bounded, (high - low) / 2, 1.0)
        self._offset = np.where(bounded, (high + low) / 2, 0.0)
        self._low, self._high = low, high
        self._out = np.zeros(low.shape, dtype)  # reused every step: the envs copy actions into their state
        self.space = Space(low.shape, np.float32, -1.0, 1.0)

    def __call__(self, action: np.ndarray | None) -> np.ndarray:
        action = _check_action(action, self.space)
        np.clip(action * self._scale + self._offset, self._low, self._high, out=self._out, casting="unsafe")
        return self._out


class DiscreteActions:
    """The agent passes a one-hot (or any score vector) of size n; the env takes its argmax."""

    def __init__(self, n: int) -> None:
        self.space = Space((n,), np.float32, 0.0, 1.0, discrete=True)

    def __call__(self, action: np.ndarray | None) -> int:
        return int(np.argmax(_check_action(action, self.space)))


def _check_action(action: np.ndarray | None, space: Space) -> np.ndarray:
    if action is None:
        raise ValueError("step(action, reset=False) needs an action; only reset=True ignores it")
    action = np.asarray(action)
    if action.shape != space.shape:
        raise ValueError(f"action has shape {action.shape}, the action space expects {space.shape}")
    return action


def _mujoco_warning(message: str) -> None:
    print(f"MuJoCo warning: {message}", file=sys.stderr, flush=True)


def keep_cwd_clean() -> None:
    """MuJoCo's default warning handler also appends to MUJOCO_LOG.TXT in the current directory (gymnasium's
    MuJoCo envs use it; dm_control installs its own): print MuJoCo's warnings to stderr only. Cheap enough for
    every reset; a no-op until something has imported mujoco."""
    mujoco = sys.modules.get("mujoco")
    if mujoco is not None and hasattr(mujoco, "set_mju_user_warning") and mujoco.get_mju_user_warning() is None:
        mujoco.set_mju_user_warning(_mujoco_warning)


class BaseEnv:
    """Implements the step contract once: reset flags, action repeat, time limit and misuse errors.

    Subclasses set `obs_space`, `actions` (a ContinuousActions or DiscreteActions) and implement
    `_reset()`, `_act(native_action) -> (reward, last, terminal)` and `_observe() -> dict` (model inputs and
    `log/` keys, in the order of `obs_space`). `self._steps` counts agent steps since the reset: `_act` sees
    the current step's index, `_observe` the index of the observation it builds (0 on reset).
    """

    obs_space: dict[str, Space]
    actions: ContinuousActions | DiscreteActions

    def __init__(self, name: str, action_repeat: int, time_limit: int = 0) -> None:
        if action_repeat < 1:
            raise ValueError(f"action_repeat must be >= 1, got {action_repeat}")
        self.name = name
        self._repeat = action_repeat
        self._time_limit = time_limit  # in agent steps; 0: only the env decides when an episode ends
        self._running = False  # True between a reset and the step that returns is_last
        self._steps = 0

    @property
    def act_space(self) -> Space:
        return self.actions.space

    def step(self, action: np.ndarray | None, reset: bool) -> dict[str, np.ndarray]:
        if reset:
            keep_cwd_clean()
            self._reset()
            self._running, self._steps = True, 0
            return self._pack(0.0, True, False, False)
        if not self._running:
            raise RuntimeError(
                f"{self.name}: step(action, reset=False) called before reset or after the episode ended "
                "(is_last was True); call step(None, reset=True) first"
            )
        native = self.actions(action)
        total, last, terminal = 0.0, False, False
        for _ in range(self._repeat):
            reward, last, terminal = self._act(native)
            total += reward
            if last:
                break
        self._steps += 1
        if self._time_limit and self._steps >= self._time_limit:
            last = True
        self._running = not last
        return self._pack(total, False, last, terminal and last)

    def close(self) -> None:
        self._running = False

    def get_state(self) -> dict[str, Any] | None:
        """Everything needed to continue this env's episode and RNG exactly (saved with a checkpoint), or None
        where the backend cannot say (gymnasium envs): a resumed run then starts a new episode."""
        inner = self._get_state()
        return None if inner is None else {"running": self._running, "steps": self._steps, "env": inner}

    def set_state(self, state: dict[str, Any]) -> None:
        self._set_state(state["env"])
        self._running, self._steps = bool(state["running"]), int(state["steps"])

    def _get_state(self) -> dict[str, Any] | None:
        return None

    def _set_state(self, state: dict[str, Any]) -> None:
        raise NotImplementedError

    def _pack(self, reward: float, first: bool, last: bool, terminal: bool) -> dict[str, np.ndarray]:
        obs = {
            "reward": np.array(reward, np.float32),
            "is_first": np.array(first),
            "is_last": np.array(last),
            "is_terminal": np.array(terminal),
        }
        obs.update(self._observe())
        return obs

    # Subclass hooks.
    def _reset(self) -> None:
        raise NotImplementedError

    def _act(self, action: Any) -> tuple[float, bool, bool]:
        raise NotImplementedError

    def _observe(self) -> dict[str, np.ndarray]:
        raise NotImplementedError
