"""Environments behind one contract (`Env`): dm_control, gymnasium and tiny dummy tasks.

Backends are imported lazily so that a dummy or gym run never pays for importing dm_control.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import Env, Space, is_log_key

if TYPE_CHECKING:
    from ..config import EnvConfig

__all__ = ["Env", "Space", "is_log_key", "make_env"]

TASK_HELP = (
    "task names are dmc_<domain>_<task> (e.g. dmc_cartpole_balance, dmc_walker_walk, dmc_ball_in_cup_catch), "
    "gym_<EnvId> (e.g. gym_CartPole-v1, gym_Pendulum-v1), or dummy_disc / dummy_cont"
)


def make_env(config: EnvConfig, seed: int) -> Env:
    """Build the env named by `config.task`, seeded with `seed`."""
    if config.obs not in ("proprio", "vision"):
        raise ValueError(f"unknown observation mode {config.obs!r}: use 'proprio' or 'vision'")
    if config.size < 1 or config.action_repeat < 1:
        raise ValueError(f"size and action_repeat must be >= 1, got {config.size} and {config.action_repeat}")
    task = config.task
    if task.startswith("dmc_"):
        from .dmc import DMCEnv

        return DMCEnv(config, seed)
    if task.startswith("gym_"):
        from .gym import GymEnv

        return GymEnv(config, seed)
    if task.startswith("dummy_"):
        from .dummy import DummyEnv

        return DummyEnv(config, seed)
    raise ValueError(f"unknown task {task!r}: {TASK_HELP}")
