"""Counterfactual action sweep: futures from one context that differ only in their first action.

The context is any state on the Studio's timeline (`sweep_from_cursor`, by way of dreamer_core.cursor): a report
step's posterior, or an imagined step of one of its futures; `sweep` takes the start latent itself.

For a discrete action space the sweep tries each action (or the given choices); for a continuous one it sets one
dimension of the first action to each of a few values, the other dimensions as the policy sampled them. After that
first action the policy acts. Every future is rolled out with its own generator seeded with the same seed, so all
futures draw the same random numbers (the policy's first sample, every prior sample and every later policy sample
come from the same stream): the choice is the only thing that differs. Each future's predicted return is the sum
of its predicted rewards plus the critic's value at the horizon (undiscounted, as the Sweep view states it).

Shapes as in docs/tensor_shapes.md (H imagined steps).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from dreamer_core import cursor
from dreamer_core.agent import Agent
from dreamer_core.dists import symexp
from dreamer_core.rssm import Latent
from dreamer_core.video import to_rgb

DEFAULT_VALUES = (-1.0, -0.5, 0.0, 0.5, 1.0)


@dataclass
class Future:
    """One branch of a sweep: H imagined steps after the start state."""

    choice: float  # the discrete action index, or the value of the swept dimension
    actions: np.ndarray  # (H, A): action t leads into imagined step t; action 0 carries the choice
    rewards: np.ndarray  # (H,) predicted reward mean
    conts: np.ndarray  # (H,) predicted continue probability
    values: np.ndarray  # (H,) critic mean
    predicted_return: float  # rewards.sum() + values[-1]
    frames: np.ndarray | None  # (H, h, w, 3) uint8 decoded prior frames; None without an image decoder
    vectors: np.ndarray | None  # (H, V) decoded vectors, raw space
    stoch: np.ndarray  # (H, S, C) one-hot prior samples
    deter: np.ndarray  # (H, D)


@dataclass
class Sweep:
    futures: list[Future]  # one per choice, in the order of the choices
    dim: int | None  # the swept dimension (continuous), None for discrete
    seed: int
    horizon: int
    origin: cursor.CursorState | None = None  # the timeline step it branched from (sweep_from_cursor)

    def best(self) -> Future:
        return max(self.futures, key=lambda f: f.predicted_return)


def choices_for(agent: Agent, dim: int | None, choices=None) -> list[float]:
    """The choices a sweep tries: every discrete action, or `DEFAULT_VALUES` for a continuous dimension."""
    n = int(agent.act_space.shape[0])
    if agent.act_space.discrete:
        picked = list(range(n)) if choices is None else [int(c) for c in choices]
        bad = [c for c in picked if not 0 <= c < n]
        if bad:
            raise ValueError(f"discrete choices must lie in 0..{n - 1}, got {bad}")
        return [float(c) for c in picked]
    if dim is None or not 0 <= dim < n:
        raise ValueError(f"a continuous sweep needs the dimension to sweep, 0..{n - 1}; got {dim}")
    picked = list(DEFAULT_VALUES if choices is None else choices)
    if any(not -1.0 <= float(v) <= 1.0 for v in picked):
        raise ValueError(f"continuous values must lie in [-1, 1] (the agent's action range), got {picked}")
    return [float(v) for v in picked]


@torch.no_grad()
def sweep(agent: Agent, start: Latent, horizon: int = 15, seed: int = 0, dim: int | None = None, choices=None,
          temperature: float = 1.0, decode: bool = True) -> Sweep:
    """Futures of `horizon` steps from `start` (1, ...), one per choice of the first action (see the module)."""
    if horizon < 1:
        raise ValueError(f"a sweep needs a horizon of at least 1 step, got {horizon}")
    picked = choices_for(agent, dim, choices)
    futures = [_future(agent, start, horizon, seed, dim, c, temperature, decode) for c in picked]
    return Sweep(futures, None if agent.act_space.discrete else dim, int(seed), int(horizon))


def sweep_from_cursor(agent: Agent, report, imagination, t: int, sample: int = 0, **kwargs) -> Sweep:
    """`sweep` from the state under timeline step `t` (`cursor.state_at`: a report step, or imagined step t - Tc of
    future `sample` of `imagination`); the keywords are `sweep`'s. The result's `origin` says which state."""
    origin = cursor.state_at(report, imagination, t, sample)
    out = sweep(agent, origin.latent, **kwargs)
    out.origin = origin
    return out


def _future(agent: Agent, start: Latent, horizon: int, seed: int, dim: int | None, choice: float,
            temperature: float, decode: bool) -> Future:
    gen = torch.Generator(agent.device).manual_seed(int(seed))  # the same stream for every future
    state = Latent(start.deter.to(agent.device), start.stoch.to(agent.device))  # (1, D), (1, S, C)
    first = agent.actor(state.feat()).sample(gen)  # (1, A): drawn in every future, so the streams stay aligned
    if agent.act_space.discrete:
        first = torch.zeros_like(first)
        first[0, int(choice)] = 1.0
    else:
        first = first.clone()
        first[0, dim] = choice
    deters, stochs, actions = [], [], []
    action = first
    for t in range(horizon):
        if t:
            action = agent.actor(state.feat()).sample(gen)  # (1, A)
        state, _ = agent.rssm.img_step(state, action, gen, temperature)
        deters.append(state.deter)
        stochs.append(state.stoch)
        actions.append(action)
    traj = Latent(torch.cat(deters), torch.cat(stochs))  # (H, D), (H, S, C)
    feat = traj.feat()  # (H, F)
    rewards = agent.head_dist(agent.reward, feat).mean()  # (H,)
    values = agent.head_dist(agent.critic, feat).mean()  # (H,)
    conts = torch.sigmoid(agent.cont(feat)[..., 0])  # (H,)
    frames = vectors = None
    if decode:
        out = agent.decoder(traj.deter, traj.stoch.flatten(-2))  # {key: (H, h, w, c) or (H, dims)}
        if agent.image_keys:
            image = out[agent.image_keys[0]].clamp(0, 1)  # (H, h, w, c)
            frames = to_rgb((image * 255 + 0.5).to(torch.uint8).cpu().numpy())  # (H, h, w, 3)
        if agent.vector_dims:
            vectors = torch.cat([symexp(out[k]) for k in sorted(agent.vector_dims)], -1).cpu().numpy()  # (H, V)
    return Future(choice=float(choice), actions=torch.cat(actions).cpu().numpy(), rewards=rewards.cpu().numpy(),
                  conts=conts.cpu().numpy(), values=values.cpu().numpy(),
                  predicted_return=float(rewards.sum() + values[-1]), frames=frames, vectors=vectors,
                  stoch=traj.stoch.cpu().numpy(), deter=traj.deter.cpu().numpy())
