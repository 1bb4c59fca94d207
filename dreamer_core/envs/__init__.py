"""Environments behind one contract (`Env`): dm_control, gymnasium, Atari (ale-py) and tiny dummy tasks.

Backends are imported lazily so that a dummy or gym run never pays for importing dm_control.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from .base import Env, Space, is_log_key

if TYPE_CHECKING:
    from ..config import EnvConfig

__all__ = ["Env", "Space", "check_task", "gym_spec", "is_log_key", "make_env", "make_envs", "task_family"]

TASK_HELP = (
    "task names are dmc_<domain>_<task> (e.g. dmc_cartpole_balance, dmc_walker_walk, dmc_ball_in_cup_catch), "
    "gym_<EnvId> with an id registered in gymnasium (e.g. gym_CartPole-v1, gym_Pendulum-v1), "
    "atari_<game> or atari100k_<game> (e.g. atari_pong, atari_breakout), or dummy_disc / dummy_cont"
)
# Task names come from config.json files that other people hand over, so they are data: the characters of env ids
# (namespaces like ALE/Pong-v5 included), and never gymnasium's `module:EnvId` form, which imports `module`.
_TASK_CHARS = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_./-]*")
FAMILIES = ("dmc", "gym", "dummy", "atari", "atari100k")  # the prefix of a task name, before its first '_'


def task_family(task: str) -> str:
    """The family of a task name, which picks its backend and its config block: `dmc`, `gym`, `dummy`, `atari` or
    `atari100k` (the part before the first underscore). Any other name is a one-line ValueError."""
    family, _, rest = task.partition("_")
    if family not in FAMILIES or not rest:
        raise ValueError(f"unknown task {task!r}: {TASK_HELP}")
    return family


def check_task(task: Any) -> None:
    """Raises a one-line ValueError unless `task` names a task without importing anything: every path that reads
    a task (CLI, resume, export, the studio's open and watch) builds its env through `make_env`, which calls this
    first; config validation calls it too, so a bad config.json is refused before anything else happens."""
    if not isinstance(task, str) or not _TASK_CHARS.fullmatch(task) or ".." in task:
        why = " (the 'module:EnvId' form is refused: it would import module)" if ":" in str(task) else ""
        raise ValueError(f"env.task {task!r} is not a task name{why}; {TASK_HELP}")
    if task_family(task) == "gym":
        gym_spec(task)


def gym_spec(task: str) -> Any:
    """The gymnasium EnvSpec of `gym_<EnvId>`, looked up in the registry as it stands: envs are made from this spec,
    never from the id string, so no name can make gymnasium import a module."""
    import gymnasium

    env_id = task[len("gym_") :]
    spec = gymnasium.envs.registry.get(env_id)
    if spec is None:
        name = env_id.split("-v")[0]
        versions = [f"gym_{k}" for k in gymnasium.envs.registry if k.split("-v")[0] == name]
        examples = ", ".join(versions or [f"gym_{k}" for k in list(gymnasium.envs.registry)[:6]])
        raise ValueError(f"gymnasium cannot make {task!r}: env.task must be gym_<EnvId> with an id registered in "
                         f"gymnasium ({'registered versions' if versions else 'e.g.'}: {examples}); the "
                         f"'module:EnvId' form is refused because it imports a module")
    return spec


def make_env(config: EnvConfig, seed: int, parallel: bool = False) -> Env:
    """Build the env named by `config.task`, seeded with `seed`; `parallel`: in its own worker process
    (envs/parallel.py), with the same env and seed."""
    check_task(config.task)
    if config.obs not in ("proprio", "vision"):
        raise ValueError(f"unknown observation mode {config.obs!r}: use 'proprio' or 'vision'")
    if config.size < 1 or config.action_repeat < 1:
        raise ValueError(f"size and action_repeat must be >= 1, got {config.size} and {config.action_repeat}")
    if parallel:
        from .parallel import EnvWorker

        return EnvWorker(config, seed).ready()
    family = task_family(config.task)
    if family == "dmc":
        from .dmc import DMCEnv

        return DMCEnv(config, seed)
    if family == "gym":
        from .gym import GymEnv

        return GymEnv(config, seed)
    if family == "dummy":
        from .dummy import DummyEnv

        return DummyEnv(config, seed)
    from .atari import AtariEnv  # atari and atari100k

    return AtariEnv(config, seed)


def make_envs(config: EnvConfig, seeds: list[int], parallel: bool = False) -> list[Env]:
    """One env per seed: in process, one after another, or (`parallel`) each in its own worker process, all
    started before any is waited for."""
    if not parallel:
        return [make_env(config, seed) for seed in seeds]
    check_task(config.task)  # the worker checks the rest, and its ValueError is raised here
    from .parallel import make_envs as start_workers

    return start_workers(config, seeds)
