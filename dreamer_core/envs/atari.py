"""Atari 2600 games through ale-py, whose wheel ships the ROMs: `atari_<game>` and `atari100k_<game>`.

The wrapper follows HEAD's `embodied/envs/atari.py` with the `configs.yaml` blocks `env.atari` and
`env.atari100k`; the frame size (96 / 64) and the action repeat (4) come from the config's domain block:
- each agent step repeats the action for `action_repeat` emulator frames and max-pools the last 2 frames
  (sprites flicker between frames); the reward is the sum over the repeat, not clipped (`clip_reward: False`);
- a reset plays a uniform 0..30 NOOP frames (`noops: 30`), restarting the game should it end meanwhile;
- RGB frames are resized with Pillow's bilinear filter, then (atari only) made gray with the luma weights
  0.299, 0.587, 0.114 and truncated to uint8, as HEAD;
- lives are unused (`lives: unused`): only game over ends an episode, as does the limit of 108,000 emulator
  frames (30 minutes). HEAD marks every episode end terminal (`is_terminal=is_last`), the time limit included;
- atari: sticky actions with probability 0.25, all 18 actions; atari100k: no sticky actions, the game's minimal
  action set, RGB.
One deviation: HEAD sets `repeat_action_probability` after `loadROM`, where ALE no longer reads it, so its
atari100k runs with ALE's default 0.25 despite `sticky: False`. We set it before loading, as the config says.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import numpy as np

from .base import BaseEnv, DiscreteActions, flag_spaces, image_space, resize_image

if TYPE_CHECKING:
    from ..config import EnvConfig

# Per-suite settings from HEAD's configs.yaml (size and repeat live in the config's domain blocks).
SUITES = {
    "atari": dict(sticky=True, gray=True, actions="all"),
    "atari100k": dict(sticky=False, gray=False, actions="needed"),
}
STICKY = 0.25  # repeat_action_probability when sticky: ALE repeats the previous action with this probability
NOOPS = 30  # a reset plays a uniform number of 0..NOOPS NOOP frames
POOLING = 2  # frames max-pooled at the end of each action repeat
LENGTH = 108_000  # emulator frames per episode at most (HEAD's default `length`)
GRAY = np.array([0.299, 0.587, 1 - (0.299 + 0.587)])  # equal channel weights would merge red on green
_LOCK = threading.Lock()  # ALE's ROM loading and game reset are not thread-safe (HEAD locks them too)


def parse_task(task: str) -> tuple[str, str]:
    """('atari' | 'atari100k', game) of `atari_<game>` / `atari100k_<game>`, or a one-line ValueError."""
    suite, _, game = task.partition("_")
    if suite not in SUITES or not game:
        raise ValueError(f"unknown Atari task {task!r}: use atari_<game> or atari100k_<game>, e.g. atari_pong")
    return suite, "jamesbond" if game == "james_bond" else game


class AtariEnv(BaseEnv):
    def __init__(self, config: EnvConfig, seed: int) -> None:
        suite, game = parse_task(config.task)
        if config.obs != "vision":
            raise ValueError(f"{config.task} is observed from pixels only: env.obs must be 'vision', got "
                             f"{config.obs!r}")
        # The repeat runs inside _act (BaseEnv repeats once) so that its last frames can be pooled.
        super().__init__(config.task, 1, config.time_limit)
        import ale_py
        import ale_py.roms

        settings = SUITES[suite]
        if game not in ale_py.roms.get_all_rom_ids():
            raise ValueError(f"ale-py has no ROM for {game!r} (task {config.task!r}); games are e.g. pong, "
                             f"breakout, ms_pacman, space_invaders")
        self.frame_repeat = config.action_repeat
        self.sticky = STICKY if settings["sticky"] else 0.0
        self.gray = settings["gray"]
        self._size = config.size
        self._rng = np.random.default_rng(seed)
        with _LOCK:
            ale = ale_py.ALEInterface()
            ale.setLoggerMode(ale_py.LoggerMode.Error)
            ale.setInt("random_seed", int(self._rng.integers(0, 2**31)))
            ale.setFloat("repeat_action_probability", self.sticky)  # read by loadROM: must come first
            ale.loadROM(ale_py.roms.get_rom_path(game))
        self.ale = ale
        self._noop = ale_py.Action.NOOP
        self.action_set = list(ale.getLegalActionSet() if settings["actions"] == "all" else
                               ale.getMinimalActionSet())
        self.actions = DiscreteActions(len(self.action_set))
        height, width = ale.getScreenDims()
        self._buffers = [np.zeros((height, width, 3), np.uint8) for _ in range(POOLING)]  # newest first
        self.obs_space = {**flag_spaces(), "image": image_space(config.size, 1 if self.gray else 3)}
        self.frames = 0  # emulator frames since the reset (NOOP starts not counted, as HEAD)

    def _reset(self) -> None:
        with _LOCK:
            self.ale.reset_game()
        for _ in range(self._rng.integers(NOOPS + 1)):
            self.ale.act(self._noop)
            if self.ale.game_over():
                with _LOCK:
                    self.ale.reset_game()
        self.frames = 0
        self._render()
        for buffer in self._buffers[1:]:  # nothing older to pool with after a reset
            np.copyto(buffer, self._buffers[0])

    def _act(self, action: int) -> tuple[float, bool, bool]:
        native = self.action_set[action]
        reward, last = 0.0, False
        for i in range(self.frame_repeat):
            reward += self.ale.act(native)
            self.frames += 1
            if i >= self.frame_repeat - POOLING:
                self._render()
            if self.ale.game_over() or self.frames >= LENGTH:
                last = True
                break
        return reward, last, last  # HEAD: is_terminal = is_last

    def _render(self) -> None:
        self._buffers.insert(0, self._buffers.pop())  # reuse the oldest buffer for the newest frame
        self.ale.getScreenRGB(self._buffers[0])

    def _observe(self) -> dict[str, np.ndarray]:
        image = np.maximum(self._buffers[0], self._buffers[1]) if POOLING == 2 else np.max(self._buffers, 0)
        image = resize_image(image, self._size)  # (h, w, 3), Pillow bilinear as HEAD's `resize: pillow`
        if self.gray:
            image = (image * GRAY).sum(-1).astype(np.uint8)[:, :, None]  # (h, w, 1), truncated as HEAD
        return {"image": image}
