"""DreamerV3, top to bottom: the whole training loop in one readable script, built from dreamer_core's pieces.

This is what `dreamer_core.trainer.Trainer` does, without the logging, checkpoint and report plumbing, so a reader can
follow one step of the algorithm from the environment to the optimizer. Run it:

    python scripts/reference_dreamerv3.py --task dmc_cartpole_balance --preset debug --steps 2000

Symbols: B batch, T time, K replay context, A action dims, N envs.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import numpy as np
import torch

from dreamer_core.agent import Agent
from dreamer_core.config import make_config
from dreamer_core.envs import is_log_key, make_env
from dreamer_core.replay import Replay


@dataclass
class Args:
    task: str = "dmc_cartpole_balance"  # dmc_<domain>_<task>, gym_<EnvId>, dummy_disc, dummy_cont
    obs: str = "proprio"  # proprio (vectors) or vision (64x64 pixels)
    preset: str = "debug"  # debug, cpu, size1m ... size400m
    steps: int = 2000  # agent steps (env frames = steps * action repeat)
    train_ratio: float = 64.0  # replayed steps per agent step (official DMC: 512)
    seed: int = 0


def main(args: Args) -> None:
    config = make_config(args.task, args.obs, args.preset, {"run": {"train_ratio": args.train_ratio,
                                                                    "seed": args.seed}})
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)  # every sample in the agent draws from this generator

    # 1. Environment: one step function returning obs + reward + is_first/is_last/is_terminal.
    env = make_env(config.env, args.seed)

    # 2. Agent: encoder, RSSM, decoder, reward/continue heads, actor, critic (+ slow critic), one LaProp optimizer.
    agent = Agent(config, env.obs_space, env.act_space)
    print(f"{sum(agent.param_counts().values()):,} trainable parameters")

    # 3. Replay: every step stores the observation, the action taken there, and the policy's latent at that step,
    #    so training windows can start from the stored latent (the "replay context").
    t = config.train
    spaces = {k: (s.shape, s.dtype) for k, s in env.obs_space.items()}
    spaces.update(action=(env.act_space.shape, np.float32), deter=((config.model.deter,), np.float32),
                  stoch=((config.model.stoch, config.model.classes), np.float32))
    replay = Replay(spaces, capacity=100_000, length=t.batch_length + t.replay_context, seed=args.seed)

    # 4. The loop: act, store, and train `train_ratio / (B*T)` times per agent step.
    carry = agent.initial_carry(1)
    obs = env.step(None, reset=True)  # (is_first=True)
    updates_per_step = config.run.train_ratio / (t.batch_size * t.batch_length)
    credit, episode_return = 0.0, 0.0
    for step in range(args.steps):
        model_obs = {k: torch.as_tensor(v)[None] for k, v in obs.items() if not is_log_key(k)}
        carry, action = agent.policy(carry, model_obs, gen)  # posterior step, then a sampled action  (1, A)
        latent = carry.latent
        replay.add({**obs, "action": action[0].numpy(), "deter": latent.deter[0].numpy(),
                    "stoch": latent.stoch[0].numpy()})
        episode_return += float(obs["reward"])
        if obs["is_last"]:
            print(f"step {step:>6}  episode return {episode_return:8.1f}")
            episode_return = 0.0
        obs = env.step(action[0].numpy(), reset=bool(obs["is_last"]))  # reset after the last step

        if replay.steps < t.batch_size * t.batch_length:
            continue  # no prefill with random actions: the untrained policy collects the first data
        credit += updates_per_step
        while credit >= 1.0:
            credit -= 1.0
            batch = replay.sample(t.batch_size)  # (B, K + T, ...), fresh windows first (online queue)
            index = batch.pop("index")
            data = agent.to_tensors({k: v for k, v in batch.items() if not is_log_key(k)})
            # One update: world model (KL with free bits, reconstruction, reward, continue), imagination from
            # all B*T posteriors, λ-returns, REINFORCE actor, two-hot critic + slow-critic regulariser, replay
            # value loss; one optimizer step (AGC -> LaProp -> warm-up); slow critic EMA.
            states, metrics = agent.train_step(data, gen)
            # Refreshed latents replace the stored ones, so later windows start from better contexts.
            replay.update(index[:, t.replay_context :], {"deter": states.deter.numpy(),
                                                         "stoch": states.stoch.numpy()})
            if agent.updates % 50 == 0:
                print(f"update {agent.updates:>5}  wm {metrics['loss/dyn']:.2f} dyn  {metrics['loss/rew']:.3f} rew"
                      f"  policy entropy {metrics['rand/action']:.2f}  return scale {metrics['ret_scale']:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for name, default in vars(Args()).items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(default), default=default)
    main(Args(**vars(parser.parse_args())))
