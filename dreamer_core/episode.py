"""The episode in flight, saved with a checkpoint, so a resumed run continues exactly where it stopped.

Without it a resume reset every env: the episode in flight was cut short and the envs' RNGs started over, so a
300 -> resume -> 600 run first differed from an uninterrupted one at step 306. `capture` adds to the checkpoint
what the checkpoint's other fields lack: each env's state (`Env.get_state`: its RNG, the episode's progress and,
for dm_control, the MuJoCo integration state and the model fields tasks randomise), the current observation, the
policy's carry, the running returns and Python's `random` state. `restore` puts it back; a checkpoint without it
(older versions) or an env that cannot save its state (gymnasium) resets the envs, as before.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

import numpy as np

from dreamer_core.agent import ActCarry
from dreamer_core.env_steps import reset_envs
from dreamer_core.rssm import Latent

if TYPE_CHECKING:
    from dreamer_core.trainer import Trainer


def capture(trainer: Trainer) -> dict[str, Any]:
    envs = []
    for env in trainer.envs:
        try:
            envs.append(env.get_state() if hasattr(env, "get_state") else None)
        except Exception:  # noqa: BLE001 - a broken env must not stop the save; the resume resets it
            envs.append(None)
    carry = trainer.carry
    return {"envs": envs, "obs": {k: np.array(v) for k, v in trainer.obs.items()},
            "carry": {"deter": carry.latent.deter.cpu(), "stoch": carry.latent.stoch.cpu(),
                      "action": carry.action.cpu()},
            "return": trainer.episode_return.copy(), "length": trainer.episode_length.copy(),
            "python_rng": random.getstate()}


def restore(trainer: Trainer, saved: dict[str, Any] | None) -> bool:
    """Continues the saved episode; False when it reset the envs instead (no or unusable saved episode)."""
    n = len(trainer.envs)
    if saved and len(saved["envs"]) == n and all(s is not None for s in saved["envs"]):
        try:
            if set(saved["obs"]) != set(trainer.obs):
                raise ValueError("the saved observation has other keys")
            for env, state in zip(trainer.envs, saved["envs"]):
                env.set_state(state)
        except Exception:  # noqa: BLE001 - another env version, say: start the episodes over
            pass
        else:
            trainer.obs = {k: np.array(v) for k, v in saved["obs"].items()}
            c, device = saved["carry"], trainer.device
            trainer.carry = ActCarry(Latent(c["deter"].to(device), c["stoch"].to(device)), c["action"].to(device))
            trainer.episode_return[:] = saved["return"]
            trainer.episode_length[:] = saved["length"]
            version, internal, gauss = saved["python_rng"]
            random.setstate((version, tuple(internal), gauss))
            return True
    # Envs restart their episodes: the carry starts from zeros at the first (is_first) step.
    reset_envs(trainer)
    return False

