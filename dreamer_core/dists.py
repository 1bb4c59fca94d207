"""Distributions and transforms: symlog, symexp two-hot, unimix categoricals, bounded normal.

Shape comments use the legend in docs/tensor_shapes.md: `...` are any leading dims.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def symlog(x: torch.Tensor) -> torch.Tensor:
    return torch.sign(x) * torch.log1p(torch.abs(x))  # shape of x


def symexp(x: torch.Tensor) -> torch.Tensor:
    return torch.sign(x) * torch.expm1(torch.abs(x))  # shape of x


def symexp_bins(num: int = 255, limit: float = 20.0) -> torch.Tensor:
    """Bins at symexp(linspace(-limit, limit)), built from the negative half and mirrored so bin (num-1)/2 is 0."""
    if num % 2 == 0:
        raise ValueError("two-hot needs an odd number of bins so that zero is a bin")
    half = symexp(torch.linspace(-limit, 0.0, num // 2 + 1, dtype=torch.float64))  # (Bins//2 + 1,)
    bins = torch.cat([half, -half[:-1].flip(0)])  # (Bins,)
    return bins.float()  # (Bins,)


class TwoHot:
    """Symexp two-hot head output: categorical over raw-space bins, interpolated in raw space (HEAD)."""

    def __init__(self, logits: torch.Tensor, bins: torch.Tensor):
        self.logits = logits.float()  # (..., Bins)
        self.bins = bins  # (Bins,)
        self._logp: torch.Tensor | None = None

    @property
    def logp(self) -> torch.Tensor:
        """log-softmax of the logits, computed once however many targets are scored against it."""
        if self._logp is None:
            self._logp = torch.log_softmax(self.logits, -1)  # (..., Bins)
        return self._logp

    @property
    def probs(self) -> torch.Tensor:
        return torch.softmax(self.logits, -1)  # (..., Bins)

    def mean(self) -> torch.Tensor:
        """Expectation in raw space. Mirrored bins are paired (p_right - p_left) so that symmetric probabilities,
        uniform ones included, give exactly 0."""
        probs = self.probs  # (..., Bins)
        mid = (self.bins.shape[0] - 1) // 2
        paired = probs[..., mid + 1 :] - probs[..., :mid].flip(-1)  # (..., Bins//2)
        return paired @ self.bins[mid + 1 :]  # (...)

    def loss(self, target: torch.Tensor) -> torch.Tensor:
        """Cross-entropy against the two-hot encoding of `target` (...) -> (...), by gathering the two neighbouring
        log-probabilities (the dense encoding, `twohot`, is the reference it equals)."""
        below, above, weight_below, weight_above = twohot_indices(target.float(), self.bins)  # (...) each
        picked = self.logp.gather(-1, torch.stack([below, above], -1))  # (..., 2)
        return -(picked[..., 0] * weight_below + picked[..., 1] * weight_above)  # (...)


def twohot_indices(x: torch.Tensor, bins: torch.Tensor
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The two bins around x (...) and their weights, proportional to raw-space distance. Outside the bin range
    both indices are the end bin, with weights 1/2 each; a non-finite x gives NaN weights."""
    k = bins.shape[0]
    x = x.contiguous()  # (...)
    above = torch.searchsorted(bins, x, right=True)  # (...), first bin > x
    below = (above - 1).clamp(0, k - 1)  # (...), last bin <= x
    above = above.clamp(0, k - 1)  # (...)
    equal = below == above  # (...)
    dist_below = torch.where(equal, 1.0, torch.abs(bins[below] - x))  # (...)
    dist_above = torch.where(equal, 1.0, torch.abs(bins[above] - x))  # (...)
    total = dist_below + dist_above + (x - x)  # (x - x) keeps a NaN/inf target non-finite, so the update is skipped
    return below, above, dist_above / total, dist_below / total


def twohot(x: torch.Tensor, bins: torch.Tensor) -> torch.Tensor:
    """Encodes x (...) as dense weights (..., Bins) on its two neighbouring bins (for display, and as the test
    reference of `TwoHot.loss`)."""
    k = bins.shape[0]
    below, above, weight_below, weight_above = twohot_indices(x, bins)
    dense = F.one_hot(below, k) * weight_below[..., None] + F.one_hot(above, k) * weight_above[..., None]  # (..., Bins)
    return dense


def unimix_logits(logits: torch.Tensor, unimix: float) -> torch.Tensor:
    """Log-probabilities (..., C) of (1 - u) softmax(logits) + u / C, computed in log space: log(softmax) would
    underflow to log(0) = -inf once a logit gap exceeds ~103 in float32 (NaN entropy and log-probs)."""
    if not 0.0 <= unimix < 1.0:
        raise ValueError(f"unimix must be in [0, 1), got {unimix}")
    logp = torch.log_softmax(logits.float(), -1)  # (..., C), finite for any finite logits
    if unimix > 0:
        # log((1-u) p + u/C) = logaddexp(log(1-u) + log p, log(u/C)): no probability is formed, so none is 0.
        logp = torch.logaddexp(logp + math.log1p(-unimix), torch.full_like(logp, math.log(unimix / logp.shape[-1])))
    return logp


def sample_onehot(logprobs: torch.Tensor, gen: torch.Generator | None = None,
                  uniform: torch.Tensor | None = None) -> torch.Tensor:
    """One-hot sample with straight-through gradients through the (mixed) probabilities (..., C). The Gumbel noise
    comes from `uniform` (same shape, in [0, 1)) when given, so compiled callers can draw it outside the graph."""
    if uniform is None:
        uniform = torch.rand(logprobs.shape, generator=gen, device=logprobs.device,
                             dtype=logprobs.dtype)  # (..., C)
    gumbel = -torch.log(-torch.log(uniform.clamp_min(1e-20)))  # (..., C)
    index = (logprobs.detach() + gumbel).argmax(-1, keepdim=True)  # (..., 1)
    # scatter, not F.one_hot: one_hot reads the indices' min and max back to the host on CPU (a sync per draw)
    onehot = torch.zeros_like(logprobs).scatter_(-1, index, 1.0)  # (..., C)
    if not logprobs.requires_grad:
        return onehot  # (..., C)
    probs = logprobs.exp()  # (..., C)
    return onehot + probs - probs.detach()  # (..., C)


def categorical_kl(logp: torch.Tensor, logq: torch.Tensor) -> torch.Tensor:
    """KL[p || q] for log-probabilities (..., S, C), summed over the S latents -> (...)."""
    return (logp.exp() * (logp - logq)).sum((-2, -1))  # (...)


def categorical_entropy(logp: torch.Tensor) -> torch.Tensor:
    """Entropy summed over latents for log-probabilities (..., S, C) -> (...) (the `dyn_ent` / `rep_ent` metrics)."""
    return -(logp.exp() * logp).sum((-2, -1))  # (...)


class OneHotPolicy:
    """Discrete actor: categorical over actions, sampled as one-hot (REINFORCE, no straight-through needed)."""

    def __init__(self, logits: torch.Tensor, unimix: float = 0.0):
        self.logp = unimix_logits(logits, unimix)  # (..., A)

    def sample(self, gen: torch.Generator | None = None, noise: torch.Tensor | None = None) -> torch.Tensor:
        """`noise`: optional uniforms (..., A) for the Gumbel-max draw."""
        return sample_onehot(self.logp.detach(), gen, noise)  # (..., A)

    def log_prob(self, action: torch.Tensor) -> torch.Tensor:
        return (action * self.logp).sum(-1)  # (...)

    def entropy(self) -> torch.Tensor:
        return -(self.logp.exp() * self.logp).sum(-1)  # (...), finite: logp never holds -inf


class BoundedNormal:
    """Continuous actor: Normal(tanh(mean), std in [min, max]); not squashed, log-prob summed over dims."""

    def __init__(self, mean: torch.Tensor, std_logit: torch.Tensor, std_min: float = 0.1, std_max: float = 1.0):
        self.mean = torch.tanh(mean.float())  # (..., A)
        self.std = (std_max - std_min) * torch.sigmoid(std_logit.float() + 2.0) + std_min  # (..., A)

    def sample(self, gen: torch.Generator | None = None, noise: torch.Tensor | None = None) -> torch.Tensor:
        """`noise`: optional standard normals (..., A)."""
        if noise is None:
            noise = torch.randn(self.mean.shape, generator=gen, device=self.mean.device,
                                dtype=self.mean.dtype)  # (..., A)
        return (self.mean + self.std * noise).detach()  # (..., A)

    def log_prob(self, action: torch.Tensor) -> torch.Tensor:
        z = (action - self.mean) / self.std  # (..., A)
        return (-0.5 * z**2 - torch.log(self.std) - 0.5 * math.log(2 * math.pi)).sum(-1)  # (...)

    def entropy(self) -> torch.Tensor:
        return (0.5 + 0.5 * math.log(2 * math.pi) + torch.log(self.std)).sum(-1)  # (...)
