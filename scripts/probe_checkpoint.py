"""Probe a trained checkpoint: does the world model respond to actions like the real env, and does the critic
know which states are good? Prints figures; changes nothing. CPU is enough (one thread, a few seconds).

    python scripts/probe_checkpoint.py runs/<run>/latest.ckpt [--starts 256] [--horizon 15]

1. Action response: from the replayed posterior states of episode starts, imagine `horizon` steps under a constant
   action (-1, 0, +1 on every dimension; continuous actions only) and decode the vector observations. Prints the
   mean change of each decoded vector dimension next to the same change in the real env from a reset
   (`imagined|real`), and the reward sums.
2. Critic: the critic's value of replayed states against the realised discounted return-to-go of the replay
   (gamma = 1 - 1/horizon), for states of finished episodes with at least `--min-left` steps left (the realised
   return is cut at the episode's time limit, which the critic cannot see).
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from dreamer_core import checkpoint
from dreamer_core.agent import Agent
from dreamer_core.config import Config
from dreamer_core.dists import symexp
from dreamer_core.envs import make_env
from dreamer_core.rssm import Latent


def realised_returns(reward: np.ndarray, is_first: np.ndarray, gamma: float) -> tuple[np.ndarray, np.ndarray]:
    """Discounted return-to-go of each replay step (T,) from the rewards of later steps of its own episode, and
    a mask of steps whose episode ended inside the replay (complete returns)."""
    ret, complete = np.zeros(len(reward)), np.zeros(len(reward), bool)  # the newest step: unknown, incomplete
    for t in reversed(range(len(reward) - 1)):
        if is_first[t + 1]:  # step t is its episode's last: G_t = 0
            ret[t], complete[t] = 0.0, True
        else:  # G_t = r_{t+1} + gamma * G_{t+1}
            ret[t], complete[t] = reward[t + 1] + gamma * ret[t + 1], complete[t + 1]
    return ret, complete


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkpoint")
    parser.add_argument("--starts", type=int, default=256, help="replayed start states")
    parser.add_argument("--horizon", type=int, default=15)
    parser.add_argument("--min-left", type=int, default=250, help="steps left in the episode for the critic check")
    args = parser.parse_args()
    torch.set_num_threads(1)
    state = checkpoint.load(args.checkpoint)
    config = Config.from_dict(json.loads(state["config"]))  # checkpoints hold the config as JSON
    env = make_env(config.env, 0)
    agent = Agent(config, env.obs_space, env.act_space)
    agent.load_state_dict_full(state["agent"])
    agent.eval()
    data = {k: np.asarray(v)[0] for k, v in state["replay"]["data"].items()}  # worker 0: (T, ...)
    steps = len(data["reward"])
    rng = np.random.default_rng(0)
    idx = np.sort(rng.choice(steps - 1, min(args.starts, steps - 1), replace=False))
    start = Latent(torch.as_tensor(data["deter"][idx]).float(), torch.as_tensor(data["stoch"][idx]).float())
    print(f"{args.checkpoint}: {agent.updates:,} updates, {steps:,} replay steps, {len(idx)} start states")

    firsts = np.flatnonzero(data["is_first"])
    if not env.act_space.discrete and len(firsts):
        reset = Latent(torch.as_tensor(data["deter"][firsts]).float(), torch.as_tensor(data["stoch"][firsts]).float())
        print(f"\n1. Action response over {args.horizon} steps from episode starts ({len(firsts)} replayed | "
              "real env from a reset), imagined|real")
        for value in (-1.0, 0.0, 1.0):
            acts = torch.full((len(firsts), args.horizon, env.act_space.shape[0]), value)
            with torch.no_grad():
                traj, _, _ = agent.rssm.imagine(reset, acts, args.horizon, torch.Generator().manual_seed(0))
                recon = agent.decoder(traj.deter, traj.stoch.flatten(-2))
                reward = agent.head_dist(agent.reward, traj.feat()).mean()[:, 1:].sum(1)  # (N,)
            obs = env.step(np.zeros(env.act_space.shape, np.float32), reset=True)
            first = {k: np.asarray(obs[k], np.float64) for k in agent.vector_dims}
            real_reward = 0.0
            for _ in range(args.horizon):
                obs = env.step(np.full(env.act_space.shape, value, np.float32), reset=False)
                real_reward += float(obs["reward"])
            print(f"  action {value:+.0f}: imagined reward {float(reward.mean()):6.2f} | real {real_reward:6.2f}")
            for key in agent.vector_dims:
                vec = symexp(recon[key])  # (N, H+1, dims)
                imagined = (vec[:, -1] - vec[:, 0]).mean(0).numpy()
                real = np.asarray(obs[key], np.float64) - first[key]
                pairs = ", ".join(f"{a:+.2f}|{b:+.2f}" for a, b in zip(imagined, real))
                print(f"    d{key}: {pairs}")

    gamma = 1.0 - 1.0 / config.train.discount_horizon
    ret, complete = realised_returns(data["reward"].astype(np.float64), data["is_first"].astype(bool), gamma)
    ends = np.append(firsts[1:], steps) if len(firsts) else np.full(1, steps)  # (episodes,) one past each last step
    left = ends[np.searchsorted(firsts, np.arange(steps), side="right") - 1] - np.arange(steps) if len(firsts) \
        else np.zeros(steps, int)  # (T,) steps left in each step's episode
    complete &= left >= args.min_left
    with torch.no_grad():
        value = agent.head_dist(agent.critic, start.feat()).mean().numpy()  # (N,)
    keep = complete[idx]
    real = ret[idx][keep]
    corr = float(np.corrcoef(value[keep], real)[0, 1]) if keep.sum() > 2 else float("nan")
    print(f"\n2. Critic vs realised discounted return-to-go ({keep.sum()} states of finished episodes with "
          f">= {args.min_left} steps left)")
    print(f"  critic mean {value[keep].mean():.1f} (std {value[keep].std():.1f}) | realised mean {real.mean():.1f} "
          f"(std {real.std():.1f}) | correlation {corr:.2f}")
    order = np.argsort(real)
    for name, part in (("lowest third", order[: len(order) // 3]), ("highest third", order[-(len(order) // 3):])):
        print(f"  {name} of realised returns: realised {real[part].mean():.1f}, critic {value[keep][part].mean():.1f}")


if __name__ == "__main__":
    main()
