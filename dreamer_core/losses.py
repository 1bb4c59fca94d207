"""Losses and returns as pure functions (DreamerV3 HEAD semantics, reference §2.6-§2.7).

Shape comments use the legend in docs/tensor_shapes.md.
Every function returns per-element losses; the caller averages and scales them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from dreamer_core import distributed
from dreamer_core.dists import TwoHot, categorical_kl


def kl_losses(post: torch.Tensor, prior: torch.Tensor, free_nats: float) -> dict[str, torch.Tensor]:
    """Dyn and rep losses with free bits per (b, t) on the KL summed over latents. post, prior (B, T, S, C)
    are unimix log-probabilities. Also returns the raw KLs per step and per latent for diagnostics."""
    dyn_raw = categorical_kl(post.detach(), prior)  # (B, T)
    rep_raw = categorical_kl(post, prior.detach())  # (B, T)
    return {
        "dyn": torch.clamp(dyn_raw, min=free_nats),  # (B, T)
        "rep": torch.clamp(rep_raw, min=free_nats),  # (B, T)
        "kl_dyn": dyn_raw.detach(),  # (B, T)
        "kl_rep": rep_raw.detach(),  # (B, T)
    }


def kl_per_latent(post: torch.Tensor, prior: torch.Tensor) -> torch.Tensor:
    """KL[q || p] per latent group, (..., S, C) -> (..., S)."""
    return (post.exp() * (post - prior)).sum(-1)  # (..., S)


def lambda_return(last: torch.Tensor, term: torch.Tensor, rew: torch.Tensor, boot: torch.Tensor,
                  disc: float, lam: float) -> torch.Tensor:
    """λ-returns over the H+1 steps of (N, H+1) inputs (imagined; real ones are (B, T) -> (B, T-1)),
    bootstrapping from `boot`:
    R_H = boot_H;  R_t = r_{t+1} + live_{t+1} * [(1 - cont_{t+1}) * boot_{t+1} + cont_{t+1} * R_{t+1}],
    with live = (1 - term) * disc and cont = (1 - last) * lam. Returns R_0..R_{H-1}, shape (N, H)."""
    live = (1.0 - term[:, 1:]) * disc  # (N, H)
    cont = (1.0 - last[:, 1:]) * lam  # (N, H)
    interm = rew[:, 1:] + (1.0 - cont) * live * boot[:, 1:]  # (N, H)
    ret = boot[:, -1]  # (N,)
    rets = []  # H entries, last step first
    for t in reversed(range(live.shape[1])):
        ret = interm[:, t] + live[:, t] * cont[:, t] * ret  # (N,)
        rets.append(ret)
    return torch.stack(rets[::-1], 1)  # (N, H)


@dataclass
class ReturnNorm:
    """EMA of the 5th and 95th return percentiles; scale = max(limit, hi - lo). No bias correction.

    `lo` and `hi` are floats when built or loaded and 0-d device tensors once updated, so a train step never reads
    them back to the host; `state_dict` does (at save time)."""

    decay: float = 0.99
    lo_perc: float = 5.0
    hi_perc: float = 95.0
    limit: float = 1.0
    lo: float | torch.Tensor = 0.0
    hi: float | torch.Tensor = 0.0

    def updated(self, ret: torch.Tensor) -> ReturnNorm:
        """The normaliser after one more batch of returns; `self` is left as it was, so a caller can drop the
        update (a skipped, non-finite train step: `where`)."""
        flat = distributed.all_gather_cat(ret.detach().float().flatten())  # (R·N·H,) DDP: every rank's returns
        # linspace builds the two levels on the device: torch.tensor([...], device=...) would be a blocking upload
        levels = torch.linspace(self.lo_perc / 100, self.hi_perc / 100, 2, device=flat.device)  # (2,)
        lo, hi = torch.quantile(flat, levels).unbind()  # () each
        return replace(self, lo=self.decay * self.lo + (1 - self.decay) * lo,
                       hi=self.decay * self.hi + (1 - self.decay) * hi)

    def where(self, condition: torch.Tensor, other: ReturnNorm) -> ReturnNorm:
        """This normaliser where the 0-d bool `condition` holds, else `other`: a branch-free choice on the device."""
        return replace(self, lo=torch.where(condition, self.lo, other.lo), hi=torch.where(condition, self.hi, other.hi))

    def scale(self) -> torch.Tensor:
        """max(limit, hi - lo), a 0-d tensor (on the CPU until the first update puts lo and hi on the device)."""
        spread = self.hi - self.lo
        return torch.clamp(spread if torch.is_tensor(spread) else torch.tensor(spread), min=self.limit)  # ()

    def state_dict(self) -> dict[str, float]:
        return {"lo": float(self.lo), "hi": float(self.hi)}

    def load_state_dict(self, state: dict[str, float]) -> None:
        self.lo, self.hi = float(state["lo"]), float(state["hi"])


def imagination_weight(con: torch.Tensor) -> torch.Tensor:
    """w_t = prod_{k<=t} c_k over (N, H+1); the discount already lives in c (soft continue target)."""
    return torch.cumprod(con, 1)  # (N, H+1)


def actor_loss(logp: torch.Tensor, entropy: torch.Tensor, adv: torch.Tensor, weight: torch.Tensor,
               actent: float) -> torch.Tensor:
    """REINFORCE with entropy bonus, per (N, H): w * -(logπ(a) * sg(A) + η H)."""
    return weight.detach() * -(logp * adv.detach() + actent * entropy)  # (N, H)


def critic_loss(nll_return: torch.Tensor, nll_slow: torch.Tensor, weight: torch.Tensor,
                slowreg: float) -> torch.Tensor:
    """Two-hot NLL of the λ-return plus the slow-critic regulariser, weighted: (N, H)."""
    return weight.detach() * (nll_return + slowreg * nll_slow)  # (N, H)


def replay_lambda_return(is_last: torch.Tensor, is_terminal: torch.Tensor, reward: torch.Tensor,
                         boot: torch.Tensor, disc: float, lam: float) -> torch.Tensor:
    """Real-data λ-returns (B, T-1) that bootstrap from the imagined returns `boot` (B, T)."""
    return lambda_return(is_last.float(), is_terminal.float(), reward, boot, disc, lam)  # (B, T-1)


def imag_loss(rew: torch.Tensor, con: torch.Tensor, critic_logits: torch.Tensor, slow_val: torch.Tensor,
              logp: torch.Tensor, ent: torch.Tensor, bins: torch.Tensor, retnorm: ReturnNorm, lam: float,
              actent: float, slowreg: float, entropy_range: tuple[float, float]
              ) -> tuple[ReturnNorm, dict[str, torch.Tensor], torch.Tensor, dict[str, torch.Tensor]]:
    """Actor and critic losses on an imagined rollout (the official `imag_loss`). Inputs are time-major over the
    H+1 imagined states of N starts: rewards `rew` (H+1, N) (the start's is a pad never read), continue
    probabilities `con` (H+1, N), critic logits (H+1, N, Bins), slow-critic means `slow_val` (H, N) of states
    0..H-1, and the actor's log-probability `logp` (H, N) of the imagined actions and entropy `ent` (H, N).
    `entropy_range` (lo, hi) maps the entropy to the [0, 1] `rand/action` signal.

    Returns (the updated return normaliser, {"policy", "value"} losses (N, H), λ-returns (N, H), metrics)."""
    critic = TwoHot(critic_logits, bins)  # (H+1, N, Bins)
    val = critic.mean().detach()  # (H+1, N)
    weight = imagination_weight(con.T)  # (N, H+1)
    ret = lambda_return(torch.zeros_like(con.T), 1.0 - con.T, rew.T, val.T, 1.0, lam)  # (N, H)
    retnorm = retnorm.updated(ret)
    scale = retnorm.scale()  # (), on the device
    adv = (ret - val.T[:, :-1]) / scale  # (N, H)
    logp, ent = logp.T, ent.T  # (N, H)
    policy = actor_loss(logp, ent, adv, weight[:, :-1], actent)  # (N, H)
    first_h = TwoHot(critic.logits[:-1], bins)  # critic over states 0..H-1, (H, N, Bins)
    value = critic_loss(first_h.loss(ret.T).T, first_h.loss(slow_val).T, weight[:, :-1], slowreg)  # (N, H)
    lo, hi = entropy_range
    metrics = {"ent/action": ent.mean(), "rand/action": ((ent - lo) / (hi - lo)).mean(), "adv": adv.mean(),
               "adv_std": adv.std(), "adv_mag": adv.abs().mean(), "imag_rew": rew[1:].mean(), "imag_con": con.mean(),
               "ret": (ret / scale).mean(), "ret_raw": ret.mean(), "ret_min": ret.min(), "ret_max": ret.max(),
               "val": val.mean(), "slowval": slow_val.mean(), "weight": weight.mean()}
    return retnorm, {"policy": policy, "value": value}, ret, metrics


def repl_loss(is_last: torch.Tensor, is_terminal: torch.Tensor, reward: torch.Tensor, boot: torch.Tensor,
              critic_logits: torch.Tensor, slow_val: torch.Tensor, bins: torch.Tensor, disc: float, lam: float,
              slowreg: float) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Replay value loss on the real sequence (the official `repl_loss`): the critic's logits (B, T-1, Bins) at
    the posteriors of steps 0..T-2 learn the real-data λ-returns that bootstrap from the imagined returns `boot`
    (B, T), plus the slow-critic regulariser towards `slow_val` (B, T-1). Its gradient reaches the world model
    through the posteriors. Returns the loss (B, T-1) and metrics."""
    ret = replay_lambda_return(is_last, is_terminal, reward, boot, disc, lam)  # (B, T-1)
    critic = TwoHot(critic_logits, bins)  # (B, T-1, Bins)
    live = 1.0 - is_last.float()[:, :-1]  # (B, T-1)
    loss = live * (critic.loss(ret) + slowreg * critic.loss(slow_val))  # (B, T-1)
    return loss, {"rep_ret": ret.mean()}
