"""Probe a trained checkpoint: does the world model respond to actions like the real env, does it see what the
policy needs, and does the critic know which states are good? Prints figures; changes nothing. CPU is enough (one
thread, seconds; a minute from pixels).

    python scripts/probe_checkpoint.py runs/<run>/latest.ckpt [--starts 256] [--horizon 15]
    python scripts/probe_checkpoint.py runs/<run>/watch.ckpt --picture posterior.png   # a model-only file: 3-5 only

1. Action response: from the replayed posterior states of episode starts, imagine `horizon` steps under a constant
   action (-1, 0, +1 on every dimension; continuous actions only) and decode the vector observations. Prints the
   mean change of each decoded vector dimension next to the same change in the real env from a reset
   (`imagined|real`), and the reward sums.
2. Critic: the critic's value of replayed states against the realised discounted return-to-go of the replay
   (gamma = 1 - 1/horizon), for states of finished episodes with at least `--min-left` steps left (the realised
   return is cut at the episode's time limit, which the critic cannot see).
3. Pixels, what the posterior draws (image models): over `--episodes` real episodes of `--probe-steps` policy steps
   from a seeded reset, the posterior's reconstruction of each frame against the frame itself. The moving objects
   are the foreground: the pixels more than FOREGROUND (0-255) away from the episode's per-pixel median frame, the
   background, in some channel. Prints the whole frame's and the foreground's MSE, and the foreground recall: the
   share of foreground pixels the reconstruction gets within FOREGROUND in every channel (a missed object scores 0).
   `--picture` writes rows of real | reconstruction | difference, 4x.
4. Pixels, action response from matched states: from a real state reached under random actions, the physics state
   is saved and the env and the dream (the posterior of the same frame) each take a constant action of -1, then of
   +1, for `horizon` steps; prints per step the frame MSE between the two real branches, the same between the two
   dreamed branches, and the dream's MSE to the real frame (a model that ignores an action's effect shows a small
   dreamed difference).
5. Policy (continuous actions): the actor's mean and standard deviation over the probe episodes, and the return of
   one episode acting with the mean against one sampling, from the same seeded reset (the std starts at
   (max - min) * sigmoid(2) + min = 0.89 for HEAD's 0.1..1.0; a policy that never grows confident keeps it).
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from dreamer_core import checkpoint
from dreamer_core.agent import ActCarry, Agent
from dreamer_core.config import Config
from dreamer_core.dists import symexp
from dreamer_core.envs import is_log_key, make_env
from dreamer_core.models import is_model_state
from dreamer_core.rssm import Latent

FOREGROUND = 30  # 0-255: a pixel this far from the episode's median frame belongs to a moving object
PROBE_SEED = 12345  # the env seed of the pixel and policy probes (the model cards' evaluation seed)


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
    parser.add_argument("checkpoint", help="a training checkpoint (latest.ckpt) or a model-only one (watch.ckpt)")
    parser.add_argument("--starts", type=int, default=256, help="replayed start states")
    parser.add_argument("--horizon", type=int, default=15)
    parser.add_argument("--min-left", type=int, default=250, help="steps left in the episode for the critic check")
    parser.add_argument("--episodes", type=int, default=2, help="real episodes of the pixel probe (3)")
    parser.add_argument("--probe-steps", type=int, default=250, help="policy steps per probe episode (3, 5)")
    parser.add_argument("--trials", type=int, default=6, help="matched states of the action-response probe (4)")
    parser.add_argument("--picture", default=None, help="write real | reconstruction | difference rows here (3)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    state = checkpoint.load(args.checkpoint)
    config = Config.from_dict(json.loads(state["config"]))  # checkpoints hold the config as JSON
    env = make_env(config.env, 0)
    agent = Agent(config, env.obs_space, env.act_space)
    if is_model_state(state):  # weights, no optimizer and no replay
        agent.load_state_dict(state["agent"]["model"])
        agent.updates = int(state["agent"]["updates"])
    else:
        agent.load_state_dict_full(state["agent"])
    agent.eval()
    print(f"{args.checkpoint}: {agent.updates:,} updates")
    if "replay" in state:
        replay_probes(args, agent, env, config, state["replay"])
    else:
        print("(a model-only checkpoint: no replay, so no action response from replayed starts (1) and no critic "
              "check (2))")
    if agent.image_keys:
        pixel_probes(args, agent, config.env)
    if not env.act_space.discrete:
        policy_probe(args, agent, config.env)


def replay_probes(args, agent: Agent, env, config: Config, replay: dict) -> None:
    """Sections 1 and 2, on the replay of env worker 0."""
    data = {k: np.asarray(v)[0] for k, v in replay["data"].items()}  # worker 0: (T, ...)
    steps = len(data["reward"])
    rng = np.random.default_rng(0)
    idx = np.sort(rng.choice(steps - 1, min(args.starts, steps - 1), replace=False))
    start = Latent(torch.as_tensor(data["deter"][idx]).float(), torch.as_tensor(data["stoch"][idx]).float())
    print(f"{steps:,} replay steps, {len(idx)} start states")

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
    varied = keep.sum() > 2 and value[keep].std() > 0 and real.std() > 0  # a constant has no correlation
    corr = float(np.corrcoef(value[keep], real)[0, 1]) if varied else float("nan")
    print(f"\n2. Critic vs realised discounted return-to-go ({keep.sum()} states of finished episodes with "
          f">= {args.min_left} steps left)")
    print(f"  critic mean {value[keep].mean():.1f} (std {value[keep].std():.1f}) | realised mean {real.mean():.1f} "
          f"(std {real.std():.1f}) | correlation {corr:.2f}")
    order = np.argsort(real)
    for name, part in (("lowest third", order[: len(order) // 3]), ("highest third", order[-(len(order) // 3):])):
        print(f"  {name} of realised returns: realised {real[part].mean():.1f}, critic {value[keep][part].mean():.1f}")


def posterior(agent: Agent, carry: ActCarry, obs: dict, gen: torch.Generator | None = None):
    """The posterior latent (1, ...) after one env observation `obs` (unbatched numpy, log keys dropped)."""
    batch = agent.to_tensors({k: np.asarray(v)[None] for k, v in obs.items() if not is_log_key(k)})
    latent, _ = agent.rssm.obs_step(carry.latent, agent.encoder(batch), carry.action, batch["is_first"], gen)
    return latent


def run_episode(agent: Agent, env_config, steps: int, seed: int, mean_action: bool = False
                ) -> dict[str, np.ndarray]:
    """`steps` policy steps from a reset of an env built with `seed` (the episode is cut there): the frames of the first
    image key (T, h, w, 3) uint8, the posterior's reconstructions (T, h, w, 3) uint8, the actor's means and stds
    (T, A), and the rewards (T,). `mean_action` acts with the actor's mean instead of sampling it."""
    key = agent.image_keys[0] if agent.image_keys else None
    gen = torch.Generator().manual_seed(seed)
    env = make_env(env_config, seed)
    obs = env.step(np.zeros(env.act_space.shape, np.float32), reset=True)
    carry = agent.initial_carry(1)
    out: dict[str, list] = {"frame": [], "recon": [], "mean": [], "std": [], "reward": []}
    with torch.no_grad():
        for _ in range(steps):
            latent = posterior(agent, carry, obs, gen)  # (1, ...)
            dist = agent.actor(latent.feat())  # over (1, A)
            action = dist.mean if mean_action else dist.sample(gen)  # (1, A)
            carry = ActCarry(latent, action)
            if key is not None:
                recon = agent.decoder(latent.deter, latent.stoch.flatten(-2))[key][0]  # (h, w, 3) in [0, 1]
                out["frame"].append(obs[key])
                out["recon"].append((recon.clamp(0, 1) * 255).round().to(torch.uint8).numpy())
            out["mean"].append(dist.mean[0].numpy())
            out["std"].append(dist.std[0].numpy())
            obs = env.step(action[0].numpy(), reset=False)
            out["reward"].append(float(obs["reward"]))
            if obs["is_last"]:
                break
    env.close()
    return {k: np.asarray(v) for k, v in out.items() if v}


def foreground_figures(frames: np.ndarray, recons: np.ndarray) -> tuple[float, float, float]:
    """(whole-frame MSE, foreground MSE, foreground recall) of reconstructions (T, h, w, 3) of frames (T, h, w, 3),
    uint8, 0-255 scale: the foreground is what moves (FOREGROUND away from the per-pixel median in some channel)."""
    real, rec = frames.astype(np.float32), recons.astype(np.float32)  # (T, h, w, 3)
    background = np.median(real, 0)  # (h, w, 3)
    fg = (np.abs(real - background) > FOREGROUND).any(-1)  # (T, h, w)
    err = (rec - real) ** 2  # (T, h, w, 3)
    close = (np.abs(rec - real) <= FOREGROUND).all(-1)  # (T, h, w)
    return float(err.mean()), float(err[fg].mean()), float(close[fg].mean())


def pixel_probes(args, agent: Agent, env_config) -> None:
    """Sections 3 and 4."""
    print(f"\n3. What the posterior draws ({args.episodes} episodes x {args.probe_steps} policy steps from seeded "
          f"resets; 0-255 scale; foreground: > {FOREGROUND} from the episode's median frame)")
    rows = []
    for episode in range(args.episodes):
        run = run_episode(agent, env_config, args.probe_steps, PROBE_SEED + episode)
        whole, fg, recall = foreground_figures(run["frame"], run["recon"])
        print(f"  episode {episode}: MSE {whole:.1f}, foreground MSE {fg:.1f}, foreground recall {recall:.2f} "
              f"({len(run['frame'])} frames)")
        for t in range(11, len(run["frame"]), 24)[:5] if episode == 0 else ():
            diff = np.abs(run["frame"][t].astype(np.int16) - run["recon"][t]).astype(np.uint8)
            rows.append(np.concatenate([run["frame"][t], run["recon"][t], diff], 1))  # (h, 3w, 3)
    if args.picture and rows:
        from PIL import Image

        grid = np.concatenate(rows, 0)  # (5h, 3w, 3)
        Image.fromarray(grid).resize((grid.shape[1] * 4, grid.shape[0] * 4), Image.NEAREST).save(args.picture)
        print(f"  wrote {args.picture}: real | posterior reconstruction | difference, every 24th step")
    env = make_env(env_config, PROBE_SEED)
    env.step(None, reset=True)
    matchable = not env.act_space.discrete and env.get_state() is not None
    env.close()
    if not matchable:  # a gymnasium env cannot restore its state
        return
    print(f"\n4. Action response from matched states ({args.trials} states, constant -1 vs +1; frame MSE, 0-255)")
    key, rng = agent.image_keys[0], np.random.default_rng(0)
    shape = env.act_space.shape
    sums = np.zeros((args.horizon, 3))
    for trial in range(args.trials):
        env = make_env(env_config, PROBE_SEED + 100 + trial)
        obs = env.step(np.zeros(env.act_space.shape, np.float32), reset=True)
        carry = agent.initial_carry(1)
        with torch.no_grad():
            for step in range(20 + 10 * trial):  # random actions: varied states
                if step:
                    obs = env.step(carry.action[0].numpy(), reset=False)
                latent = posterior(agent, carry, obs)  # (1, ...)
                carry = ActCarry(latent, torch.as_tensor(rng.uniform(-1, 1, (1, *env.act_space.shape)),
                                                         dtype=torch.float32))
            saved, real, dream = env.get_state(), {}, {}
            for value in (-1.0, 1.0):
                env.set_state(saved)
                real[value] = np.stack([env.step(np.full(env.act_space.shape, value, np.float32), reset=False)[key]
                                        for _ in range(args.horizon)]).astype(np.float32)  # (H, h, w, 3)
                acts = torch.full((1, args.horizon, env.act_space.shape[0]), value)
                traj, _, _ = agent.rssm.imagine(carry.latent, acts, args.horizon, torch.Generator().manual_seed(trial))
                frames = agent.decoder(traj.deter, traj.stoch.flatten(-2))[key][0, 1:]  # (H, h, w, 3)
                dream[value] = frames.clamp(0, 1).numpy() * 255
        env.close()
        sums += np.stack([((real[1.0] - real[-1.0]) ** 2).mean((1, 2, 3)), ((dream[1.0] - dream[-1.0]) ** 2).mean(
            (1, 2, 3)), ((dream[1.0] - real[1.0]) ** 2).mean((1, 2, 3))], 1)  # (H, 3)
    for step in sorted({1, 2, 4, 8, args.horizon} & set(range(1, args.horizon + 1))):
        real_diff, dream_diff, dream_err = sums[step - 1] / args.trials
        print(f"  step {step:2d}: real +1 vs -1 {real_diff:6.1f} | dreamed +1 vs -1 {dream_diff:6.1f} | "
              f"dream vs real (+1) {dream_err:6.1f}")


def policy_probe(args, agent: Agent, env_config) -> None:
    """Section 5."""
    sampled = run_episode(agent, env_config, args.probe_steps, PROBE_SEED)
    greedy = run_episode(agent, env_config, args.probe_steps, PROBE_SEED, mean_action=True)
    mean, std = sampled["mean"], sampled["std"]  # (T, A)
    print(f"\n5. Policy over {len(mean)} steps from a seeded reset: mean action {mean.mean():+.2f} (spread "
          f"{mean.std():.2f}, |mean| > 0.9 in {(np.abs(mean) > 0.9).mean():.0%}), std {std.mean():.3f} "
          f"[{std.min():.3f}, {std.max():.3f}]")
    print(f"  return: sampling {sampled['reward'].sum():.1f} | acting with the mean {greedy['reward'].sum():.1f} "
          f"({len(greedy['reward'])} steps)")

if __name__ == "__main__":
    main()
