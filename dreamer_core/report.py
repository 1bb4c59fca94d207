"""Reports and interactive imagination: everything the app needs from the model, as numpy data (and the
torch latent that imagination starts from, to imagine again from it).

`make_report` runs the posterior over a replay window (reconstruction), an open-loop prior rollout under the true
actions from the middle of it, K more futures under the same true actions (`openloop_ensemble`: the open loop's
hallucination signal, dreamer_core.confidence) and K policy-sampled futures from the same context. `imagine_from`
is the same imagination from any (possibly user-edited) latent, seeded so the same seed gives the same future.

Shape comments use the legend in docs/tensor_shapes.md: T report steps, Tc of them context, H imagined steps, M
samples, Bins two-hot bins, V vector dims.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator, Sequence

import numpy as np
import torch

from dreamer_core import confidence, losses
from dreamer_core.agent import Agent
from dreamer_core.dists import symexp
from dreamer_core.envs import is_log_key
from dreamer_core.rssm import Latent
from dreamer_core.video import to_rgb

ENSEMBLE_SEED = 1_000_003  # added to a report's seed: the open loop's extra futures are independent of it


@dataclass
class Imagination:
    """M imagined futures of H steps from one start state (index 0 of each is the first imagined step)."""

    frames: np.ndarray | None  # (M, H, h, w, 3) uint8, None when the model decodes no image
    vectors: np.ndarray | None  # (M, H, V) decoded vector observations, raw space
    actions: np.ndarray  # (M, H, A) action that led into each imagined step
    rewards: np.ndarray  # (M, H) predicted reward mean
    continues: np.ndarray  # (M, H) predicted continue probability
    values: np.ndarray  # (M, H) critic mean
    critic_probs: np.ndarray  # (M, H, Bins)
    reward_probs: np.ndarray  # (M, H, Bins)
    latent_probs: np.ndarray  # (M, H, S, C) prior probabilities
    returns: np.ndarray  # (M, H-1) λ-returns along the imagined trajectory
    seed: int
    temperature: float
    recheck: np.ndarray | None = None  # (M, H) re-encoding KL of each imagined step, nats (dreamer_core.confidence)
    features: np.ndarray | None = None  # (M, H, F) float32 features (deter ++ stoch) of each imagined step


@dataclass
class Report:
    """A snapshot of what the world model sees, reconstructs and imagines: numpy arrays and plain
    numbers, except `start`, the torch `Latent` (on the model's device) that imagination starts from."""

    real: np.ndarray | None  # (T, h, w, 3) uint8: the observed frames (log/image on proprio tasks; gray as RGB)
    decoded: np.ndarray | None  # (T, h, w, 3) uint8 posterior reconstructions; None if no image is modelled
    real_vectors: np.ndarray | None  # (T, V)
    decoded_vectors: np.ndarray | None  # (T, V)
    vector_keys: list[str]
    openloop: np.ndarray | None  # (T - Tc, h, w, 3) uint8 prior rollout under the true actions
    openloop_vectors: np.ndarray | None  # (T - Tc, V)
    context_len: int  # Tc
    imagination: Imagination  # M policy-sampled futures from the last context state
    kl: np.ndarray  # (T, S) KL[q || p] per latent (dyn and rep share this value; they differ in gradients)
    free_nats: float
    latent_post: np.ndarray  # (T, S, C) posterior probabilities
    latent_prior: np.ndarray  # (T, S, C) prior probabilities
    critic_probs: np.ndarray  # (T, Bins) critic two-hot distribution at each posterior state
    reward_probs: np.ndarray  # (T, Bins)
    bins: np.ndarray  # (Bins,)
    values: np.ndarray  # (T,) critic mean
    returns: np.ndarray  # (T,) imagined λ-return R_0 from each posterior state
    reward_pred: np.ndarray  # (T,)
    rewards: np.ndarray  # (T,) real rewards
    actions: np.ndarray  # (T, A) actions taken at each step
    is_first: np.ndarray  # (T,)
    entropy: np.ndarray  # (T,) policy entropy at each posterior state
    start: Latent = field(repr=False)  # (1, ...) torch, not numpy: the last context state, where imagination starts
    updates: int = 0
    env_frames: int = 0
    seed: int = 0
    wall_time: float = 0.0
    # (M + 1, H) float32 re-encoding KL per imagined step (dreamer_core.confidence), nats: row 0 the open loop,
    # rows 1..M the M futures; NaN-padded when their horizons differ. Only when asked for (`make_report(recheck=
    # True)`, the evaluation's): None in the app's reports and in reports made before it existed.
    imagined_recheck: np.ndarray | None = None
    features: np.ndarray | None = None  # (T, F) float32 posterior features (deter ++ stoch); None in old reports
    episode: tuple[int, int] | None = None  # (worker, stream step) of the replay episode chosen as the context
    # (T - Tc,) float32 the open loop's hallucination signal per open-loop step (confidence.openloop_distance on
    # frames, 0-255 scale; confidence.openloop_vector_distance on vectors, on the replay's fixed scale). None in
    # reports made before it existed, and for a vector model without a replay to take the scale from.
    openloop_signal: np.ndarray | None = None
    # (V,) the fixed scale a vector model's open-loop signal was measured on (a loaded model's training replay, or
    # the live replay); None for images and without one. Another model's report on the same steps (compare) reuses it.
    vector_scale: np.ndarray | None = None

    def start_stoch(self) -> np.ndarray:
        """(S, C) the one-hot stochastic state of `start`, as numpy: what a viewer shows and edits."""
        return self.start.stoch[0].detach().cpu().numpy()


def _to_uint8(images: torch.Tensor) -> np.ndarray:
    return (images.clamp(0, 1) * 255 + 0.5).to(torch.uint8).cpu().numpy()


def _decode(agent: Agent, states: Latent) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Decoded (frames uint8, raw-space vectors) for states (..., D), (..., S, C): (..., h, w, 3), (..., V)."""
    out = agent.decoder(states.deter, states.stoch.flatten(-2))  # {key: (..., h, w, c) or (..., dims)}
    frames = to_rgb(_to_uint8(out[agent.image_keys[0]])) if agent.image_keys else None  # grayscale shown as RGB
    vectors = None
    if agent.vector_dims:
        vectors = torch.cat([symexp(out[k]) for k in sorted(agent.vector_dims)], -1).cpu().numpy()  # (..., V)
    return frames, vectors


def edit_start(start: Latent, edits: Sequence[tuple[int, int]]) -> Latent:
    """A copy of `start` (1, ...) with latent s set to the one-hot class c for each (s, c) edit: the user's edit
    of the start latent, to imagine from with `imagine_from`."""
    _, latents, classes = start.stoch.shape
    edited = start.clone()
    for s, c in edits:
        if not (0 <= s < latents and 0 <= c < classes):
            raise ValueError(f"latent edit (latent {s}, class {c}) is outside the {latents} x {classes} start latent")
        edited.stoch[0, s] = 0
        edited.stoch[0, s, c] = 1
    return edited


@torch.no_grad()
def imagine_from(agent: Agent, start: Latent, horizon: int, seed: int = 0, samples: int = 1,
                 actions: torch.Tensor | np.ndarray | None = None, temperature: float = 1.0,
                 recheck: bool = False) -> Imagination:
    """Imagines `samples` futures of `horizon` steps from `start` (1, ...). With `actions` (horizon, A) the
    futures follow those actions (open loop); otherwise the policy samples them. Deterministic given `seed`.
    `recheck`: also the re-encoding KL of every step (a decode and an encode each; only the evaluation uses it)."""
    if horizon < 2:
        raise ValueError(f"an imagination needs a horizon of at least 2 steps (one to act, one to bootstrap "
                         f"its return from), got {horizon}")
    gen = torch.Generator(agent.device).manual_seed(int(seed))
    begin = Latent(start.deter.expand(samples, -1).contiguous(), start.stoch.expand(samples, -1, -1).contiguous())
    if actions is not None:
        policy = torch.as_tensor(actions, device=agent.device).float()[None].expand(samples, -1, -1)  # (M, H, A)
    else:
        policy = lambda s: agent.actor(s.feat()).sample(gen)  # noqa: E731
    traj, acts, priors = agent.rssm.imagine(begin, policy, horizon, gen, temperature)
    future = traj.index((slice(None), slice(1, None)))  # (M, H, ...)
    feat = future.feat()  # (M, H, F)
    critic = agent.head_dist(agent.critic, feat)  # over (M, H, Bins)
    reward = agent.head_dist(agent.reward, feat)
    con = torch.sigmoid(agent.cont(feat)[..., 0])  # (M, H)
    values = critic.mean()  # (M, H)
    returns = losses.lambda_return(torch.zeros_like(con), 1 - con, reward.mean(), values, 1.0,
                                   agent.config.train.lam)
    frames, vectors = _decode(agent, future)
    rechecked = confidence.reencode_kl(agent, future, priors).float().cpu().numpy() if recheck else None  # (M, H)
    return Imagination(
        frames=frames, vectors=vectors, actions=acts[:, :-1].cpu().numpy(),
        rewards=reward.mean().cpu().numpy(), continues=con.cpu().numpy(), values=values.cpu().numpy(),
        critic_probs=critic.probs.cpu().numpy(), reward_probs=reward.probs.cpu().numpy(),
        latent_probs=priors.exp().cpu().numpy(), returns=returns.cpu().numpy(), seed=int(seed),
        temperature=float(temperature), features=feat.float().cpu().numpy(), recheck=rechecked)


@torch.no_grad()
def openloop_ensemble(agent: Agent, start: Latent, actions: torch.Tensor, seed: int, samples: int,
                      temperature: float = 1.0) -> Imagination:
    """`samples` more futures from the open loop's `start` (1, ...) under its true `actions` (H, A), drawn
    independently of the open loop itself (seed + ENSEMBLE_SEED): how far the open loop is from them is its
    hallucination signal (confidence.openloop_distance). The one implementation, for reports and the evaluation."""
    return imagine_from(agent, start, len(actions), seed + ENSEMBLE_SEED, samples, actions, temperature)


def openloop_signal(openloop: Imagination, ensemble: Imagination,
                    vector_scale: np.ndarray | None = None) -> np.ndarray | None:
    """The open loop's hallucination signal (H,) from the open loop (one future) and its `openloop_ensemble`: on
    frames when the model decodes them, else on vectors scaled by `vector_scale` (V,) (None without one)."""
    if openloop.frames is not None:
        return confidence.openloop_distance(ensemble.frames, openloop.frames[0])
    if openloop.vectors is None or vector_scale is None:
        return None
    return confidence.openloop_vector_distance(ensemble.vectors, openloop.vectors[0], vector_scale)


def weights_bytes(agent: Agent) -> int:
    """The size of the agent's weights (what a kept copy of them costs)."""
    return sum(t.numel() * t.element_size() for t in agent.state_dict().values())


@contextmanager
def weights_loaded(agent: Agent, weights: dict[str, torch.Tensor] | None) -> Iterator[Agent]:
    """`agent` in eval mode with `weights` loaded (its own when None), to imagine again from an older report with
    the weights that made it; its own weights and train/eval mode come back afterwards, also on an error."""
    was_training = agent.training
    own = {k: v.detach().clone() for k, v in agent.state_dict().items()} if weights is not None else None
    agent.eval()
    try:
        if weights is not None:
            agent.load_state_dict(weights)
        yield agent
    finally:
        agent.train(was_training)
        if own is not None:
            agent.load_state_dict(own)


@torch.no_grad()
def make_report(agent: Agent, batch: dict[str, np.ndarray], seed: int = 0, samples: int = 3,
                horizon: int | None = None, temperature: float = 1.0, updates: int = 0,
                env_frames: int = 0, recheck: bool = False, vector_scale: np.ndarray | None = None) -> Report:
    """Builds a Report from one replay window `batch` of shape (1, K + T, ...). `vector_scale` (V,): the fixed scale
    of a vector model's open-loop signal (`Trainer.vector_scale_now`: a shipped model's training replay, else the
    live replay; confidence.replay_vector_scale); no signal without it. `recheck`: also the re-encoding KL of every
    imagined step (`imagined_recheck`)."""
    was_training = agent.training
    agent.eval()
    gen = torch.Generator(agent.device).manual_seed(int(seed))
    data = agent.to_tensors({k: v for k, v in batch.items() if not is_log_key(k)})
    start, prev_action, data = agent.split_context(data)
    length = data["is_first"].shape[1]  # T
    ctx = max(1, length // 2)  # Tc
    _, states, post, prior = agent.observe(start, prev_action, data, gen)  # (1, T, ...)
    decoded, decoded_vec = _decode(agent, states)
    # Open loop: posterior on the first Tc steps, then the prior under the true actions.
    last_ctx = states.index((slice(None), ctx - 1))  # (1, ...)
    true_actions = data["action"][0, ctx - 1 : length - 1].float()  # (T - Tc, A)
    openloop = imagine_from(agent, last_ctx, length - ctx, seed, 1, true_actions, temperature, recheck)
    ensemble = openloop_ensemble(agent, last_ctx, true_actions, seed, samples, temperature)
    sampled = imagine_from(agent, last_ctx, horizon or (length - ctx), seed, samples, None, temperature, recheck)
    # Critic, reward and imagined returns at every posterior state.
    feat = states.feat()[0]  # (T, F)
    critic = agent.head_dist(agent.critic, feat)  # over (T, Bins)
    reward = agent.head_dist(agent.reward, feat)
    flat = states.reshape(length)  # (T, ...): every posterior state starts an imagination
    traj, _, _ = agent.rssm.imagine(flat, lambda s: agent.actor(s.feat()).sample(gen),
                                    agent.config.train.imag_horizon, gen)
    tfeat = traj.feat()  # (T, H+1, F)
    tcon = torch.sigmoid(agent.cont(tfeat)[..., 0])  # (T, H+1)
    tret = losses.lambda_return(torch.zeros_like(tcon), 1 - tcon, agent.head_dist(agent.reward, tfeat).mean(),
                                agent.head_dist(agent.critic, tfeat).mean(), 1.0, agent.config.train.lam)  # (T, H)
    image_key = agent.image_keys[0] if agent.image_keys else ("log/image" if "log/image" in batch else None)
    k = agent.config.train.replay_context
    real = to_rgb(batch[image_key][0, k:]) if image_key else None  # (T, h, w, 3), grayscale repeated
    vkeys = sorted(agent.vector_dims)
    real_vec = np.concatenate([batch[v][0, k:] for v in vkeys], -1) if vkeys else None  # (T, V)
    report = Report(
        real=real, decoded=decoded[0] if decoded is not None else None,
        real_vectors=real_vec, decoded_vectors=decoded_vec[0] if decoded_vec is not None else None,
        vector_keys=vkeys,
        openloop=openloop.frames[0] if openloop.frames is not None else None,
        openloop_vectors=openloop.vectors[0] if openloop.vectors is not None else None,
        context_len=ctx, imagination=sampled,
        kl=losses.kl_per_latent(post, prior)[0].cpu().numpy(), free_nats=agent.config.train.free_nats,
        latent_post=post.exp()[0].cpu().numpy(), latent_prior=prior.exp()[0].cpu().numpy(),
        critic_probs=critic.probs.cpu().numpy(), reward_probs=reward.probs.cpu().numpy(),
        bins=agent.bins.cpu().numpy(), values=critic.mean().cpu().numpy(), returns=tret[:, 0].cpu().numpy(),
        reward_pred=reward.mean().cpu().numpy(), rewards=batch["reward"][0, k:].astype(np.float32),
        actions=batch["action"][0, k:].astype(np.float32), is_first=batch["is_first"][0, k:].astype(bool),
        entropy=agent.actor(feat).entropy().cpu().numpy(), start=last_ctx,
        updates=updates, env_frames=env_frames, seed=int(seed), wall_time=time.time(),
        features=feat.float().cpu().numpy(),
        imagined_recheck=confidence.stack_rows(openloop.recheck, sampled.recheck) if recheck else None,
        openloop_signal=openloop_signal(openloop, ensemble, vector_scale),
        vector_scale=None if vector_scale is None or not vkeys else np.asarray(vector_scale, np.float64))
    agent.train(was_training)
    return report
