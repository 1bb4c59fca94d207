"""A trainer's envs stepped: the policy's action stored in replay with its latent, every env sent its action at
once, and episode returns tracked, shared by `Trainer.step` and the model viewers (models.collect / evaluate).

Each function takes the trainer and works on its `envs`, `obs`, `carry`, `replay` and episode counters, as
faults.py and episode.py do.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from dreamer_core.envs import is_log_key
from dreamer_core.envs.parallel import start_step
from dreamer_core.faults import restart_env

if TYPE_CHECKING:
    from dreamer_core.trainer import Trainer


def stack(steps: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """One env step per env -> each key stacked: (B, ...)."""
    return {k: np.stack([s[k] for s in steps]) for k in steps[0]}


def reset_envs(trainer: Trainer) -> None:
    """Starts every env's episode afresh, with the policy's carry from zeros and no return counted yet."""
    trainer.carry = trainer.agent.initial_carry(len(trainer.envs))
    trainer.obs = stack([env.step(None, reset=True) for env in trainer.envs])
    trainer.episode_return[:] = 0
    trainer.episode_length[:] = 0


def act_and_store(trainer: Trainer) -> np.ndarray:
    """The policy's action on the current observations; the step (observation, action and the policy's latent)
    goes into each env's replay worker. Returns the actions: (B, A)."""
    agent = trainer.agent
    obs = agent.to_tensors({k: v for k, v in trainer.obs.items() if not is_log_key(k)})
    trainer.carry, action = agent.policy(trainer.carry, obs, trainer.gen)
    action_np = action.cpu().numpy()  # (B, A)
    latent = trainer.carry.latent
    deter, stoch = latent.deter.cpu().numpy(), latent.stoch.cpu().numpy()  # (B, D), (B, S, C)
    for i in range(len(trainer.envs)):
        step = {k: v[i] for k, v in trainer.obs.items()}
        step.update(action=action_np[i], deter=deter[i], stoch=stoch[i])
        trainer.replay.add(step, worker=i)
    return action_np


def step_envs(trainer: Trainer, action_np: np.ndarray) -> None:
    """Every env steps with its action (B, A), or starts over after an is_last step. All are sent their action
    before any result is gathered, so worker envs (run.parallel) step at once; an env that raises is rebuilt and
    its episode ended (faults.restart_env)."""
    last = trainer.obs["is_last"]
    steps = [start_step(env, action_np[i], bool(last[i])) for i, env in enumerate(trainer.envs)]
    trainer.obs = stack([_gathered(trainer, i, step) for i, step in enumerate(steps)])


def _gathered(trainer: Trainer, i: int, step: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    try:
        return step()  # env i's step, started by start_step
    except Exception as exc:  # noqa: BLE001 - any env error (PhysicsError, a gym env's RuntimeError ...)
        return restart_env(trainer, i, exc)  # ends its episode in replay, rebuilds it (faults.py)


def track_episodes(trainer: Trainer) -> list[float]:
    """Accumulates returns; an episode's score is final on its is_last step. Returns the scores that ended."""
    scores = []
    trainer.episode_return += trainer.obs["reward"]
    trainer.episode_length += 1
    for i in np.flatnonzero(trainer.obs["is_last"]):
        score = float(trainer.episode_return[i])
        length = int(trainer.episode_length[i])
        scores.append(score)
        trainer.scores.append((trainer.counters.env_frames, score))
        trainer.counters.episodes += 1
        trainer._pending.setdefault("episode/score", []).append(score)
        trainer._pending.setdefault("episode/length", []).append(float(length))
        trainer._append_jsonl("scores.jsonl", {"step": trainer.counters.env_frames, "episode/score": score,
                                               "episode/length": length})
        trainer.episode_return[i] = 0.0
        trainer.episode_length[i] = 0
    return scores
