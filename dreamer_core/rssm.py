"""Recurrent state-space model with a block-diagonal GRU (DreamerV3, HEAD).

Shape comments use the legend in docs/tensor_shapes.md.

The API passes state explicitly (`Latent`), so callers can copy, edit and re-imagine without touching training.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, NamedTuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from dreamer_core.dists import sample_onehot, unimix_logits
from dreamer_core.nets import BlockLinear, Linear, MLP, NormLinear, RMSNorm


@dataclass
class Latent:
    """Model state: deterministic `deter` (..., D) and one-hot stochastic `stoch` (..., S, C)."""

    deter: torch.Tensor
    stoch: torch.Tensor

    def feat(self) -> torch.Tensor:
        return torch.cat([self.deter, self.stoch.flatten(-2)], -1)  # (..., F)

    def detach(self) -> Latent:
        return Latent(self.deter.detach(), self.stoch.detach())

    def index(self, idx) -> Latent:
        return Latent(self.deter[idx], self.stoch[idx])  # the leading dims `idx` selects

    def reshape(self, *lead: int) -> Latent:
        """The same state with leading dims `lead`: (..., D), (..., S, C) -> (*lead, D), (*lead, S, C)."""
        return Latent(self.deter.reshape(*lead, self.deter.shape[-1]), self.stoch.reshape(*lead, *self.stoch.shape[-2:]))

    def clone(self) -> Latent:
        return Latent(self.deter.clone(), self.stoch.clone())


class StepWeights(NamedTuple):
    """The weight layouts an RSSM step multiplies by, made once per sequence (`RSSM.step_weights`) rather than
    once per step: dynhid's dense rows are a re-laid-out copy, and autograd then sums the steps' gradients of each
    before one backward through the slicing. Shapes: (G, D/G, D/G), (2U, D), (U, D), (U, D)."""

    recurrent: torch.Tensor  # dynhid's rows that read each group's own h
    state_inputs: torch.Tensor  # dynhid's dense rows that read the projected h and z
    action_inputs: torch.Tensor  # dynhid's dense rows that read the projected action
    post_deter: torch.Tensor  # the posterior's first-layer columns that read h


def scale_action(action: torch.Tensor) -> torch.Tensor:
    """a / stopgrad(max(1, |a|)): bounds the magnitude while letting gradients through."""
    return action / action.abs().clamp_min(1.0).detach()


class RSSM(nn.Module):
    def __init__(self, deter: int, hidden: int, stoch: int, classes: int, blocks: int, act_dim: int,
                 token_dim: int, img_layers: int = 2, obs_layers: int = 1, unimix: float = 0.01):
        super().__init__()
        self.deter, self.hidden, self.stoch, self.classes, self.blocks = deter, hidden, stoch, classes, blocks
        self.unimix = unimix
        self.act_dim = act_dim
        # Block GRU: separate projections of h, z and a; block-linear hidden layer; block-linear gates.
        self.dynin_h = NormLinear(deter, hidden)
        self.dynin_z = NormLinear(stoch * classes, hidden)
        self.dynin_a = NormLinear(act_dim, hidden)
        self.dynhid = BlockLinear(deter + blocks * 3 * hidden, deter, blocks)
        self.dynhid_norm = RMSNorm(deter)
        self.dyngru = BlockLinear(deter, 3 * deter, blocks)
        # Prior p(z | h) and posterior q(z | h, e).
        self.prior_mlp = MLP(deter, img_layers, hidden)
        self.prior_out = Linear(hidden, stoch * classes)
        self.post_in = NormLinear(deter + token_dim, hidden)
        self.post_mlp = MLP(hidden, obs_layers - 1, hidden)
        self.post_out = Linear(hidden, stoch * classes)
        self.compile_steps(False)  # the per-step functions training uses; `compile_steps(True)` compiles them

    @property
    def feat_dim(self) -> int:
        return self.deter + self.stoch * self.classes

    def initial(self, batch: int, device: torch.device | str = "cpu") -> Latent:
        """All-zero state, as at every episode start (HEAD has no learned initial state)."""
        return Latent(torch.zeros(batch, self.deter, device=device),
                      torch.zeros(batch, self.stoch, self.classes, device=device))  # (B, D), (B, S, C)

    # -- pieces ------------------------------------------------------------------------------------------------
    def step_weights(self) -> StepWeights:
        """dynhid sees [h_group, x] per group with x = [projected h, z, a] shared by all groups, so x's part is one
        dense (3U, D) matmul (the same sums); split by what each part reads."""
        w = self.dynhid.weight  # (G, D/G + 3U, D/G)
        gd, u = self.deter // self.blocks, self.hidden
        dense = w[:, gd:].permute(1, 0, 2).reshape(3 * u, self.deter)  # (3U, D)
        return StepWeights(w[:, :gd], dense[: 2 * u], dense[2 * u :], self.post_in.linear.weight[:, : self.deter])

    def action_input(self, action: torch.Tensor) -> torch.Tensor:
        return self.dynin_a(scale_action(action))  # (N, U)

    def action_part(self, action: torch.Tensor, weights: StepWeights) -> torch.Tensor:
        """The part of dynhid's pre-activation that reads the action, bias included: (..., A) -> (..., D). It does
        not read the recurrent state, so `observe` computes it for all T steps at once. The float32 bias is added
        after the matmul (not by addmm), so under bf16 autocast the pre-activation is float32, as it always was."""
        return self.action_input(action) @ weights.action_inputs + self.dynhid.bias  # (..., D)

    def recur(self, deter: torch.Tensor, stoch: torch.Tensor, action_part: torch.Tensor,
              weights: StepWeights) -> torch.Tensor:
        """One block-GRU step from (h, z, `action_part`) to the next h (N, D). Shapes (N, D), (N, S, C), (N, D)."""
        n, g, d = deter.shape[0], self.blocks, self.deter
        x = torch.cat([self.dynin_h(deter), self.dynin_z(stoch.flatten(-2))], -1)  # (N, 2U)
        h_part = torch.bmm(deter.reshape(n, g, d // g).transpose(0, 1), weights.recurrent)  # (G, N, D/G)
        hid = x @ weights.state_inputs + action_part + h_part.transpose(0, 1).reshape(n, d)  # (N, D)
        hid = F.silu(self.dynhid_norm(hid))  # (N, D)
        gates = self.dyngru(hid).reshape(n, g, 3, d // g)  # (N, G, 3, D/G): each group's [reset, cand, update]
        # Gate math stays in the grouped layout (strided views), so no copies are made.
        reset = torch.sigmoid(gates[:, :, 0])  # (N, G, D/G)
        cand = torch.tanh(reset * gates[:, :, 1])  # (N, G, D/G)
        update = torch.sigmoid(gates[:, :, 2] - 1.0)  # (N, G, D/G), biased towards keeping h
        prev = deter.reshape(n, g, d // g)  # (N, G, D/G)
        return (prev + update * (cand - prev)).reshape(n, d)  # (N, D) = u*c + (1-u)*h

    def prior(self, deter: torch.Tensor) -> torch.Tensor:
        """Unimix log-probabilities of p(z | h): (..., D) -> (..., S, C)."""
        logits = self.prior_out(self.prior_mlp(deter))  # (..., S*C)
        return unimix_logits(logits.reshape(*deter.shape[:-1], self.stoch, self.classes), self.unimix)

    def _post_token_part(self, tokens: torch.Tensor) -> torch.Tensor:
        """The token half of the posterior's first layer and its bias (added after the matmul: float32 under bf16
        autocast, as before), precomputed for all steps."""
        return F.linear(tokens, self.post_in.linear.weight[:, self.deter :]) + self.post_in.linear.bias  # (..., U)

    def _post_from(self, deter: torch.Tensor, token_part: torch.Tensor, post_deter: torch.Tensor) -> torch.Tensor:
        x = F.linear(deter, post_deter) + token_part  # (..., U)
        x = self.post_mlp(F.silu(self.post_in.norm(x)))  # (..., U)
        logits = self.post_out(x).reshape(*deter.shape[:-1], self.stoch, self.classes)  # (..., S, C)
        return unimix_logits(logits, self.unimix)  # (..., S, C)

    def posterior(self, deter: torch.Tensor, token: torch.Tensor) -> torch.Tensor:
        """Unimix log-probabilities of q(z | h, e): (..., D), (..., E) -> (..., S, C)."""
        return self._post_from(deter, self._post_token_part(token), self.post_in.linear.weight[:, : self.deter])

    # -- pure steps (noise passed in, no Python-side state: these are what `compile_steps` compiles) -------------
    def pure_obs_step(self, deter: torch.Tensor, stoch: torch.Tensor, action_part: torch.Tensor,
                      token_part: torch.Tensor, uniform: torch.Tensor, weights: StepWeights
                      ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One posterior step on plain tensors (`observe` loops it, `obs_step` wraps it for acting):
        (h, z, action part (N, D), token part (N, U), uniforms (N, S, C)) -> (h', z' sample, post logp)."""
        deter = self.recur(deter, stoch, action_part, weights)  # (N, D)
        post = self._post_from(deter, token_part, weights.post_deter)  # (N, S, C)
        return deter, sample_onehot(post, uniform=uniform), post

    def pure_img_step(self, deter: torch.Tensor, stoch: torch.Tensor, action: torch.Tensor, uniform: torch.Tensor,
                      weights: StepWeights) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One prior step on plain tensors (`img_step` wraps it with a Latent and a temperature):
        (h, z, action (N, A), uniforms (N, S, C)) -> (h', z' sample, prior logp)."""
        deter = self.recur(deter, stoch, self.action_part(action, weights), weights)  # (N, D)
        prior = self.prior(deter)  # (N, S, C)
        return deter, sample_onehot(prior, uniform=uniform), prior

    def compile_steps(self, enabled: bool = True) -> None:
        """Swaps the per-step functions for `torch.compile`d ones (fused kernels; the first calls compile)."""
        self._obs_fn = torch.compile(self.pure_obs_step, dynamic=False) if enabled else self.pure_obs_step
        self._img_fn = torch.compile(self.pure_img_step, dynamic=False) if enabled else self.pure_img_step

    def _uniform(self, lead: tuple[int, ...], like: torch.Tensor, gen: torch.Generator | None) -> torch.Tensor:
        # float32 whatever `like` is: under bf16 autocast the tokens are bf16, and bf16 uniforms (8-bit mantissa)
        # would cut the Gumbel tail at ~5.5 and skew the samples of the float32 log-probabilities they perturb.
        return torch.rand(*lead, self.stoch, self.classes, generator=gen, device=like.device,
                          dtype=torch.float32)  # (*lead, S, C)

    # -- sequences ---------------------------------------------------------------------------------------------
    def observe(self, carry: Latent, tokens: torch.Tensor, prev_actions: torch.Tensor, is_first: torch.Tensor,
                gen: torch.Generator | None = None, compiled: bool = False
                ) -> tuple[Latent, Latent, torch.Tensor, torch.Tensor]:
        """Posterior rollout. tokens (B, T, E), prev_actions (B, T, A) = the action before each step,
        is_first (B, T). Returns (last state, states (B, T, ...), post logp (B, T, S, C), prior logp (B, T, S, C)).
        `compiled`: use the compiled step (training's fixed shapes), if `compile_steps` made one."""
        B, T = tokens.shape[:2]
        keep = (~is_first.bool()).float()  # (B, T)
        weights = self.step_weights()
        # The inputs that do not read the recurrent state, for all steps at once, time-major; `unbind` hands out
        # the steps (its backward stacks their gradients once, where indexing would zero-fill a full copy per step).
        action_parts = self.action_part((prev_actions * keep[..., None]).transpose(0, 1),
                                        weights).unbind(0)  # T of (B, D)
        token_parts = self._post_token_part(tokens.transpose(0, 1)).unbind(0)  # T of (B, U)
        uniform = self._uniform((T, B), tokens, gen)  # (T, B, S, C), drawn up front
        obs_fn = self._obs_fn if compiled else self.pure_obs_step
        deter, stoch = carry.deter, carry.stoch
        deters, stochs, posts = [], [], []  # T entries each
        for t in range(T):
            k = keep[:, t, None]  # (B, 1)
            deter, stoch, post = obs_fn(deter * k, stoch * k[..., None], action_parts[t], token_parts[t], uniform[t],
                                        weights)
            deters.append(deter)  # (B, D)
            stochs.append(stoch)  # (B, S, C)
            posts.append(post)  # (B, S, C)
        states = Latent(torch.stack(deters, 1), torch.stack(stochs, 1))  # (B, T, ...)
        prior = self.prior(states.deter)  # (B, T, S, C), batched over time
        return Latent(deter, stoch), states, torch.stack(posts, 1), prior  # post (B, T, S, C)

    def obs_step(self, carry: Latent, token: torch.Tensor, prev_action: torch.Tensor, is_first: torch.Tensor,
                 gen: torch.Generator | None = None) -> tuple[Latent, torch.Tensor]:
        """One posterior step for acting: carry (N, ...), token (N, E), prev_action (N, A), is_first (N,) in,
        (state (N, ...), post logp (N, S, C)) out."""
        keep = (~is_first.bool()).float()[:, None]  # (N, 1)
        weights = self.step_weights()
        deter, stoch, post = self.pure_obs_step(carry.deter * keep, carry.stoch * keep[..., None],
                                                self.action_part(prev_action * keep, weights),
                                                self._post_token_part(token),
                                                self._uniform(token.shape[:1], token, gen),
                                                weights)  # (N, D), (N, S, C) x2
        return Latent(deter, stoch), post

    def img_step(self, state: Latent, action: torch.Tensor, gen: torch.Generator | None = None,
                 temperature: float = 1.0, compiled: bool = False, weights: StepWeights | None = None
                 ) -> tuple[Latent, torch.Tensor]:
        """One prior step: (state, action (N, A)) -> (next state, prior logp (N, S, C)). `weights`: this module's
        `step_weights()`, made once by a caller that loops."""
        uniform = self._uniform(action.shape[:1], state.deter, gen)  # (N, S, C)
        weights = self.step_weights() if weights is None else weights
        if temperature == 1.0:
            step = self._img_fn if compiled else self.pure_img_step
            deter, stoch, prior = step(state.deter, state.stoch, action, uniform, weights)  # (N, D), (N, S, C) x2
            return Latent(deter, stoch), prior
        deter = self.recur(state.deter, state.stoch, self.action_part(action, weights), weights)  # (N, D)
        prior = self.prior(deter)  # (N, S, C)
        logits = torch.log_softmax(prior / max(temperature, 1e-6), -1)  # (N, S, C), sharper or flatter
        return Latent(deter, sample_onehot(logits, uniform=uniform)), prior

    def imagine(self, start: Latent, policy: Callable[[Latent], torch.Tensor] | torch.Tensor, horizon: int,
                gen: torch.Generator | None = None, temperature: float = 1.0, time_major: bool = False,
                compiled: bool = False) -> tuple[Latent, torch.Tensor, torch.Tensor]:
        """Rolls the prior forward H = `horizon` steps from `start` (N, ...).

        `policy` is a callable state -> action (N, A), or a tensor of actions (N, H, A) (open loop).
        Returns states (N, H+1, ...) including the start, actions (N, H+1, A) where action t was taken in state t
        (the last comes from the policy, or is zero for open loop), and prior logp (N, H, S, C) of states 1..H.
        `time_major` stacks time first instead: (H+1, N, ...).
        `compiled`: use the compiled step (training's fixed shapes), if `compile_steps` made one."""
        states, actions, priors = [start], [], []  # H+1, H, H entries
        state = start
        weights = self.step_weights()
        for t in range(horizon):
            action = policy(state) if callable(policy) else policy[:, t]  # (N, A)
            state, prior = self.img_step(state, action, gen, temperature, compiled, weights)  # (N, ...), (N, S, C)
            states.append(state)
            actions.append(action)
            priors.append(prior)
        actions.append(policy(state) if callable(policy) else torch.zeros_like(actions[-1]))
        dim = 0 if time_major else 1
        stacked = Latent(torch.stack([s.deter for s in states], dim),
                         torch.stack([s.stoch for s in states], dim))  # (N, H+1, ...) or time-major (H+1, N, ...)
        return stacked, torch.stack(actions, dim), torch.stack(priors, dim)
