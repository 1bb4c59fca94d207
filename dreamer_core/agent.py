"""The DreamerV3 agent: world model (encoder, RSSM, decoder, reward, continue), actor, critic, slow critic, and
one optimizer over all of them.

The protocol its callers (the trainer, reports, play, the benchmarks) use; every return puts the state first:
- `initial_carry(N) -> carry`: the acting state of N envs at episode start (`ActCarry`: latent, previous action).
- `policy(carry, obs, gen) -> (carry, action)`: one acting step; carry-passing, the agent is not changed.
- `train_step(data, gen) -> (states, metrics)`: one update on replay windows, in place (weights, optimizer, slow
  critic and return normaliser live in the agent); `states` are the refreshed posterior latents to write back
  into replay, `metrics` 0-d device tensors (`read_metrics` reads them back): the step never waits for the device.

Shape comments use the legend in docs/tensor_shapes.md.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from dreamer_core import distributed, losses
from dreamer_core.config import Config
from dreamer_core.dists import BoundedNormal, OneHotPolicy, TwoHot, categorical_entropy, symexp_bins, symlog
from dreamer_core.envs import is_log_key
from dreamer_core.nets import MLP, Decoder, Encoder, Head, Linear, shared_first_layers
from dreamer_core.optim import LaProp, param_breakdown
from dreamer_core.rssm import RSSM, Latent

if TYPE_CHECKING:
    from dreamer_core.envs.base import Space

FLAG_KEYS = ("reward", "is_first", "is_last", "is_terminal")


def model_keys(obs_space: dict[str, Space]) -> tuple[dict[str, int], list[str]]:
    """Splits observation keys into modelled vectors {key: dims} and images; `log/` keys and flags are not modelled."""
    vectors, images = {}, []
    for key, space in obs_space.items():
        if key in FLAG_KEYS or is_log_key(key):
            continue
        if len(space.shape) == 3 and space.dtype == np.uint8:
            images.append(key)
        elif len(space.shape) == 1:
            vectors[key] = space.shape[0]
        else:
            raise ValueError(f"observation {key!r} of shape {space.shape} is neither a vector nor an HxWxC uint8 image")
    if not vectors and not images:
        raise ValueError("the environment has no observation the model can read (no vector and no image keys)")
    return vectors, images


def compute_dtype(precision: str, device: torch.device) -> torch.dtype:
    """`run.precision` on `device`: auto is bf16 on a CUDA device that has it (HEAD's compute dtype), else fp32."""
    if precision == "auto":
        cuda_bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()
        precision = "bf16" if cuda_bf16 else "fp32"
    return torch.bfloat16 if precision == "bf16" else torch.float32


def read_metrics(metrics: dict[str, torch.Tensor]) -> dict[str, float | int]:
    """A train step's metrics (0-d device tensors) on the host, in one device-to-host copy, the one wait for
    the device that a caller of the step makes: counts as ints, the rest as floats."""
    values = torch.stack([v.to(torch.float64) for v in metrics.values()]).cpu().tolist()  # (metrics,)
    return {k: x if metrics[k].is_floating_point() else int(x) for (k, x) in zip(metrics, values)}


class DeviceCount:
    """An int attribute kept as a 0-d int64 tensor on its owner's `device` (in `_<name>`), so a train step adds to it
    without reading it back. Reading the attribute waits for the device: read it outside the step."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.slot = f"_{name}"

    def __get__(self, obj: Any, objtype: type | None = None) -> Any:
        return self if obj is None else int(getattr(obj, self.slot))

    def __set__(self, obj: Any, value: int) -> None:
        setattr(obj, self.slot, torch.tensor(value, dtype=torch.int64, device=obj.device))  # ()


@dataclass
class ActCarry:
    """What the acting policy carries between env steps: the latent and the previous action."""

    latent: Latent
    action: torch.Tensor  # (B, A)


class Actor(nn.Module):
    def __init__(self, feat: int, layers: int, units: int, act_space: Space, config: Config):
        super().__init__()
        self.discrete = act_space.discrete
        self.mlp = MLP(feat, layers, units)
        width = self.mlp.out_width  # units, or feat itself with no layers
        self.mean = Linear(width, act_space.shape[0], outscale=0.01)
        if not self.discrete:
            self.std = Linear(width, act_space.shape[0], outscale=0.01)
        self.unimix = config.model.actor_unimix
        self.std_range = (config.model.act_std_min, config.model.act_std_max)

    def forward(self, feat: torch.Tensor) -> OneHotPolicy | BoundedNormal:
        return self.dist(self.mlp(feat))

    def from_first(self, first: torch.Tensor) -> OneHotPolicy | BoundedNormal:
        """The policy given the first layer's linear output (`MLP.from_first`)."""
        return self.dist(self.mlp.from_first(first))

    def dist(self, x: torch.Tensor) -> OneHotPolicy | BoundedNormal:
        """The policy from the MLP's output x (..., U)."""
        if self.discrete:
            return OneHotPolicy(self.mean(x), self.unimix)
        return BoundedNormal(self.mean(x), self.std(x), *self.std_range)


class Agent(nn.Module):
    updates = DeviceCount()  # updates applied (skipped ones excluded)
    skipped_updates = DeviceCount()  # non-finite updates skipped

    def __init__(self, config: Config, obs_space: dict[str, Space], act_space: Space,
                 device: torch.device | str = "cpu"):
        super().__init__()
        self.config, self.obs_space, self.act_space = config, obs_space, act_space
        m, t = config.model, config.train
        self.vector_dims, self.image_keys = model_keys(obs_space)
        images = {k: obs_space[k].shape for k in self.image_keys}  # (h, w, c): c = 1 for grayscale
        act_dim = act_space.shape[0]
        self.encoder = Encoder(self.vector_dims, images, m.depth, m.units, m.enc_layers, m.kernel)
        self.rssm = RSSM(m.deter, m.hidden, m.stoch, m.classes, m.blocks, act_dim, self.encoder.out_width,
                         m.img_layers, m.obs_layers, m.unimix)
        feat = self.rssm.feat_dim
        self.decoder = Decoder(self.vector_dims, images, m.deter, m.stoch * m.classes, m.depth, m.units,
                               m.dec_layers, m.kernel, m.blocks)
        self.reward = Head(feat, m.rew_layers, m.units, m.bins, outscale=0.0)
        self.cont = Head(feat, m.con_layers, m.units, 1, outscale=1.0)
        self.actor = Actor(feat, m.actor_layers, m.units, act_space, config)
        self.critic = Head(feat, m.critic_layers, m.units, m.bins, outscale=0.0)
        self.slow_critic = copy.deepcopy(self.critic).requires_grad_(False)
        self.register_buffer("bins", symexp_bins(m.bins))  # (Bins,)
        self.to(device)
        self.device = torch.device(device)
        self.compute_dtype = compute_dtype(config.run.precision, self.device)
        self.optimizer = LaProp(self.trained_parameters(), lr=t.lr, eps=t.eps, beta1=t.beta1, beta2=t.beta2,
                                agc=t.agc, agc_floor=t.agc_floor, warmup=t.warmup)
        self.retnorm = losses.ReturnNorm(t.retnorm_decay, t.retnorm_lo, t.retnorm_hi, t.retnorm_limit)
        self.updates = 0
        self.skipped_updates = 0
        self._last_check: tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor] | None = None  # `nonfinite`
        self._compiled: dict[str, Any] = {}  # hot methods swapped for torch.compile'd ones (compile_hot_loops)

    # -- bookkeeping -------------------------------------------------------------------------------------------
    def autocast(self) -> torch.autocast:
        """The forward passes' precision (`run.precision`). bf16 autocasts matmul and conv inputs to bfloat16, so
        activations are bf16 as in HEAD; parameters and optimizer state stay float32, RMSNorm computes in float32
        (nets), every distribution casts its logits to float32 (dists) and so every loss is float32."""
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.compute_dtype == torch.bfloat16)

    def trained_modules(self) -> dict[str, nn.Module]:
        return {"encoder": self.encoder, "rssm": self.rssm, "decoder": self.decoder, "reward": self.reward,
                "cont": self.cont, "actor": self.actor, "critic": self.critic}

    def trained_parameters(self) -> list[nn.Parameter]:
        return [p for mod in self.trained_modules().values() for p in mod.parameters()]

    def param_counts(self):
        return param_breakdown(self.trained_modules())

    def initial_carry(self, batch: int) -> ActCarry:
        """The carry of `batch` envs at their episodes' start: zero latent (B, D), (B, S, C) and action (B, A)."""
        return ActCarry(self.rssm.initial(batch, self.device), torch.zeros(batch, self.act_space.shape[0],
                                                                            device=self.device))

    def to_tensors(self, data: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
        """Moves a numpy batch to the device; images stay uint8 until they are on the device."""
        return {k: torch.as_tensor(v, device=self.device) for k, v in data.items()}

    # -- acting ------------------------------------------------------------------------------------------------
    @torch.no_grad()
    def policy(self, carry: ActCarry, obs: dict[str, torch.Tensor], gen: torch.Generator | None = None
               ) -> tuple[ActCarry, torch.Tensor]:
        """One acting step for B envs: obs (B, ...) -> (new carry, action (B, A)). The posterior is sampled."""
        with self.autocast():
            token = self.encoder(obs)  # (B, E)
            latent, _ = self.rssm.obs_step(carry.latent, token, carry.action, obs["is_first"], gen)  # (B, ...)
            dist = self.actor(latent.feat())  # over (B, A)
        action = dist.sample(gen)  # (B, A)
        return ActCarry(latent, action), action

    # -- world-model pieces shared by train and report ------------------------------------------------------------
    def split_context(self, data: dict[str, torch.Tensor]) -> tuple[Latent, torch.Tensor, dict[str, torch.Tensor]]:
        """Replay context: the stored latent and action of the last of the K context steps start the window
        (B, L, ...); returns them and the window's other T steps (B, T, ...)."""
        k = self.config.train.replay_context
        start = Latent(data["deter"][:, k - 1].float(), data["stoch"][:, k - 1].float())  # (B, D), (B, S, C)
        prev_action = data["action"][:, k - 1].float()  # (B, A)
        return start, prev_action, {key: v[:, k:] for key, v in data.items()}

    def observe(self, start: Latent, prev_action: torch.Tensor, data: dict[str, torch.Tensor],
                gen: torch.Generator | None = None, compiled: bool = False):
        """The posterior over the window's T steps (`RSSM.observe`): last state, states (B, T, ...), posterior and
        prior log-probabilities (B, T, S, C)."""
        tokens = self.encoder({k: data[k] for k in (*self.vector_dims, *self.image_keys)})  # (B, T, E)
        prev_actions = torch.cat([prev_action[:, None], data["action"][:, :-1].float()], 1)  # (B, T, A)
        return self.rssm.observe(start, tokens, prev_actions, data["is_first"], gen, compiled)

    def reconstruction_losses(self, states: Latent, data: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Decoder losses per (B, T): symlog MSE summed over each vector, MSE summed over each image's pixels."""
        recon = self.decoder(states.deter, states.stoch.flatten(-2))  # {key: (B, T, dims) or (B, T, h, w, c)}
        out = {}
        for key in self.vector_dims:
            out[key] = (recon[key] - symlog(data[key].float())).square().sum(-1)  # (B, T)
        for key in self.image_keys:
            out[key] = (recon[key] - data[key].float() / 255.0).square().sum((-3, -2, -1))  # (B, T)
        return out

    def continue_target(self, is_terminal: torch.Tensor) -> torch.Tensor:
        return (1.0 - is_terminal.float()) * (1.0 - 1.0 / self.config.train.discount_horizon)  # (B, T)

    def head_dist(self, head: nn.Module, feat: torch.Tensor) -> TwoHot:
        """The two-hot distribution a reward or critic head (`reward`, `critic`, `slow_critic`) predicts at `feat`."""
        return TwoHot(head(feat), self.bins)  # over (..., Bins)

    # -- training ----------------------------------------------------------------------------------------------
    def train_step(self, data: dict[str, torch.Tensor], gen: torch.Generator | None = None
                   ) -> tuple[Latent, dict[str, torch.Tensor]]:
        """One update on a batch of (B, L) windows. Returns the refreshed posterior latents (B, T, ...) to write
        back into replay, and metrics as 0-d device tensors (`read_metrics` brings them to the host in one copy).

        Nothing here reads a value back to the host, so on a GPU the step never waits for the device: a
        non-finite loss or gradient voids the update on the device instead of branching (counted in
        `skipped_updates`, and `metrics["finite"]` is 0): weights, optimizer state, slow critic, return
        normaliser and `updates` keep their values. `nonfinite` then says what went non-finite."""
        t = self.config.train
        with self.autocast():  # forward only: backward runs each op in the dtype its forward used
            start, prev_action, data = self.split_context(data)
            _, states, post, prior = self.observe(start, prev_action, data, gen, compiled=True)  # (B, T, ...)
            kl = losses.kl_losses(post, prior, t.free_nats)  # {name: (B, T)}
            feat = states.feat()  # (B, T, F)
            rec = self.reconstruction_losses(states, data)  # {key: (B, T)}
            rew_loss = self.head_dist(self.reward, feat).loss(data["reward"])  # (B, T)
            con_logit = self.cont(feat)[..., 0].float()  # (B, T)
            con_loss = F.binary_cross_entropy_with_logits(con_logit, self.continue_target(data["is_terminal"]),
                                                          reduction="none")  # (B, T)
            retnorm, imag, imag_metrics = self.actor_critic_losses(states, data, gen, self.retnorm)

            scaled = {f"rec/{k}": v.mean() * t.scale_rec for k, v in rec.items()}  # {name: ()}
            scaled.update(rew=rew_loss.mean() * t.scale_rew, con=con_loss.mean() * t.scale_con,
                          dyn=kl["dyn"].mean() * t.scale_dyn, rep=kl["rep"].mean() * t.scale_rep,
                          policy=imag["policy"].mean() * t.scale_policy, value=imag["value"].mean() * t.scale_value,
                          repval=imag["repval"].mean() * t.scale_repval)
            total = sum(scaled.values())  # ()

        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        # DDP: the ranks' average gradient, before the norm, the finite check and AGC read it (a no-op alone);
        # a non-finite loss on any rank makes every rank's gradients NaN, so all ranks void the update together.
        distributed.all_reduce_grads([list(m.parameters()) for m in self.trained_modules().values()], total)
        grad_norms = torch.stack([torch.linalg.vector_norm(p.grad) for p in self.trained_parameters()
                                  if p.grad is not None])  # (P,)
        grad_norm = torch.linalg.vector_norm(grad_norms)  # ()
        finite = torch.isfinite(total) & torch.isfinite(grad_norm)  # (), bool
        self.optimizer.step(finite=finite)
        self.update_slow_critic(finite)
        self.retnorm = retnorm.where(finite, self.retnorm)
        self._updates += finite  # the DeviceCount tensors behind `updates` and `skipped_updates`
        self._skipped_updates += ~finite
        self._last_check = ({k: v.detach() for k, v in scaled.items()}, grad_norms, finite)

        metrics = {f"loss/{k}": v for k, v in scaled.items()}
        metrics.update(kl_dyn=kl["kl_dyn"].mean(), kl_rep=kl["kl_rep"].mean(),
                       dyn_ent=categorical_entropy(prior).mean(), rep_ent=categorical_entropy(post).mean(),
                       grad_norm=grad_norm, **imag_metrics)
        metrics.update(loss_total=total, updates=self._updates.clone(), skipped_updates=self._skipped_updates.clone(),
                       finite=finite.float(), lr=self.optimizer.current_lr(), ret_scale=self.retnorm.scale(),
                       ret_lo=self.retnorm.lo, ret_hi=self.retnorm.hi)
        return states.detach(), {k: v.detach().reshape(()) for k, v in metrics.items()}  # {name: ()}

    @property
    def nonfinite(self) -> str:
        """What went non-finite in the last update ('' if it was finite): its non-finite losses, or else the first
        parameter whose gradient is non-finite. Reads the device: ask after a skipped update, not inside a step."""
        if self._last_check is None or bool(self._last_check[2]):
            return ""
        scaled, grad_norms, _ = self._last_check
        bad = [f"loss/{k}" for k, v in scaled.items() if not torch.isfinite(v)]
        if bad:
            return "the loss " + ", ".join(bad)
        names = [f"{m}.{n}" for m, module in self.trained_modules().items() for n, p in module.named_parameters()
                 if p.grad is not None]  # the order of `grad_norms`
        grads = [n for n, norm in zip(names, grad_norms.tolist()) if not np.isfinite(norm)]
        more = f" (and {len(grads) - 1} more)" if len(grads) > 1 else ""
        return f"the gradient of {grads[0]}{more}" if grads else "the gradient norm"

    def actor_critic_losses(self, states: Latent, data: dict[str, torch.Tensor], gen: torch.Generator | None,
                            retnorm: losses.ReturnNorm
                            ) -> tuple[losses.ReturnNorm, dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """Imagines `imag_horizon` steps from all B*T posteriors `states` and scores them (`losses.imag_loss`),
        plus the replay value loss on the real sequence (`losses.repl_loss`). Returns the return normaliser
        updated by these returns (`retnorm` itself is unchanged), the "policy", "value" (N, H) and "repval"
        (B, T-1) losses, and metrics."""
        t = self.config.train
        B, T = states.deter.shape[:2]
        starts = states.detach().reshape(B * T)  # (N, ...)
        # Time-major (H+1, N, ...) layout: the heads read contiguous step ranges ([1:], [:-1]) without copies.
        with torch.no_grad():  # imagined states are stop-gradient: no graph needed for the rollout
            traj, actions, _ = self.rssm.imagine(starts, lambda s: self.imagine_action(s, gen), t.imag_horizon, gen,
                                                 time_major=True, compiled=True)  # (H+1, N, ...), (H+1, N, A)
            imag_feat = traj.feat()  # (H+1, N, F)
        heads = self._compiled_or_eager("imagination_heads")  # gradients reach the critic and the actor only
        (rew, con, slow_imag, slow_post), (critic_logits, logp, ent) = heads(imag_feat, states.feat().detach(),
                                                                             actions)
        # rew, con (H+1, N), slow_imag (H, N), slow_post (B, T); critic_logits (H+1, N, Bins), logp, ent (H, N)
        retnorm, out, ret, metrics = losses.imag_loss(rew, con, critic_logits, slow_imag, logp, ent, self.bins,
                                                      retnorm, t.lam, t.actent, t.slowreg,
                                                      self.action_entropy_range())  # ret (N, H)
        rep_logits = self.critic(states.feat())[:, :-1]  # (B, T-1, Bins), grads reach the world model
        out["repval"], rep_metrics = losses.repl_loss(data["is_last"], data["is_terminal"], data["reward"].float(),
                                                      ret[:, 0].reshape(B, T), rep_logits, slow_post[:, :-1],
                                                      self.bins, 1.0 - 1.0 / t.discount_horizon, t.lam,
                                                      t.slowreg)  # (B, T-1)
        return retnorm, out, {**metrics, **rep_metrics}

    def imagination_heads(self, imag_feat: torch.Tensor, post_feat: torch.Tensor, actions: torch.Tensor
                          ) -> tuple[tuple[torch.Tensor, ...], tuple[torch.Tensor, ...]]:
        """The five heads on the stop-gradient imagined features (H+1, N, F), their first layers as one matmul
        (`nets.shared_first_layers`: one pass over the features; each head's own norm and later layers follow).
        Returns the gradient-free targets: rewards (H+1, N), continue probabilities (H+1, N), slow values of
        states 0..H-1 (H, N) and of the posteriors `post_feat` (B, T, F) -> (B, T); and, with gradients to the
        critic and the actor only: critic logits (H+1, N, Bins), and for states 0..H-1 the actor's log-probability
        of the imagined `actions` (H+1, N, A) and its entropy (H, N). The returns read rewards of states 1..H
        only, so the start state's reward is a zero pad never read; the reward, slow critic and actor first layers
        also run on the one state they do not read (1/16 more of their FLOPs at H = 15, less than one pass saves)."""
        heads = (self.reward, self.cont, self.slow_critic, self.critic, self.actor)
        first = shared_first_layers(imag_feat, [h.mlp for h in heads], [False, False, False, True, True])
        rew_first, con_first, slow_first, critic_first, actor_first = first  # (H+1, N, U) each
        with torch.no_grad():
            rew = F.pad(TwoHot(self.reward.from_first(rew_first[1:]), self.bins).mean(), (0, 0, 1, 0))  # (H+1, N)
            con = torch.sigmoid(self.cont.from_first(con_first)[..., 0].float())  # (H+1, N), fp32 as HEAD's Binary
            slow_imag = TwoHot(self.slow_critic.from_first(slow_first[:-1]), self.bins).mean()  # (H, N)
            slow_post = self.head_dist(self.slow_critic, post_feat).mean()  # (B, T)
        dist = self.actor.from_first(actor_first[:-1])  # over (H, N, A)
        return ((rew, con, slow_imag, slow_post),
                (self.critic.from_first(critic_first), dist.log_prob(actions[:-1]), dist.entropy()))

    def _compiled_or_eager(self, name: str):
        """The compiled version of a hot method when `compile_hot_loops` is on, else the method itself."""
        return self._compiled.get(name) or getattr(self, name)

    def actor_sample(self, deter: torch.Tensor, stoch: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """Pure policy draw for imagination: state and noise (N, A) in, action (N, A) out (see `compile_hot_loops`)."""
        return self.actor(torch.cat([deter, stoch.flatten(-2)], -1)).sample(noise=noise)  # (N, A)

    def imagine_action(self, state: Latent, gen: torch.Generator | None) -> torch.Tensor:
        shape = (state.deter.shape[0], self.act_space.shape[0])
        noise = (torch.rand if self.act_space.discrete else torch.randn)(*shape, generator=gen,
                                                                         device=self.device)  # (N, A)
        return self._compiled_or_eager("actor_sample")(state.deter, state.stoch, noise)

    def compile_hot_loops(self, enabled: bool = True) -> None:
        """Compiles the sequential hot loops (RSSM steps, imagined policy draws) with `torch.compile`.
        The first update after this pays the compile time; results match eager up to float rounding."""
        self.rssm.compile_steps(enabled)
        # The conv encoder and decoder are left eager: compiling them measured no faster (bench/micro.py, vision).
        names = ("actor_sample", "imagination_heads")
        self._compiled = {n: torch.compile(getattr(self, n), dynamic=False) for n in names} if enabled else {}

    def action_entropy_range(self) -> tuple[float, float]:
        """(lowest, highest) entropy of the policy, which maps it to [0, 1] (the official `rand/` health signal)."""
        n = self.act_space.shape[0]
        if self.act_space.discrete:
            return 0.0, float(np.log(n))
        m = self.config.model
        lo = n * (0.5 + 0.5 * np.log(2 * np.pi) + np.log(m.act_std_min))
        hi = n * (0.5 + 0.5 * np.log(2 * np.pi) + np.log(m.act_std_max))
        return float(lo), float(hi)

    @torch.no_grad()
    def update_slow_critic(self, finite: torch.Tensor | None = None) -> None:
        """The slow critic's EMA step towards the critic; none where the 0-d bool `finite` is False."""
        rate = self.config.train.slow_rate
        slow = list(self.slow_critic.parameters())
        fast = list(self.critic.parameters())
        if finite is None:
            torch._foreach_lerp_(slow, fast, rate)
        else:  # a list of 0-d weights: the one-tensor overload reads its value on the host
            torch._foreach_lerp_(slow, fast, [torch.where(finite, rate, 0.0)] * len(slow))

    # -- persistence -------------------------------------------------------------------------------------------
    def state_dict_full(self) -> dict[str, Any]:
        return {"model": self.state_dict(), "optimizer": self.optimizer.state_dict(),
                "retnorm": self.retnorm.state_dict(), "updates": self.updates, "skipped": self.skipped_updates}

    def load_state_dict_full(self, state: dict[str, Any]) -> None:
        self.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.retnorm.load_state_dict(state["retnorm"])
        self.updates, self.skipped_updates = int(state["updates"]), int(state["skipped"])

    def apply_optimizer_config(self) -> None:
        """Sets the optimizer's hyperparameters from this agent's config. A loaded optimizer state carries the
        values it was saved with; a resumed run with a changed `train.lr` must train at the new one."""
        t = self.config.train
        for group in self.optimizer.param_groups:
            group.update(lr=t.lr, eps=t.eps, beta1=t.beta1, beta2=t.beta2, agc=t.agc, agc_floor=t.agc_floor,
                         warmup=t.warmup)
