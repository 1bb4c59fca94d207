"""Where is the model making things up? A per-step hallucination signal for imagined trajectories (Qt-free).

Steps with a real frame the model observed (the report's context) use the KL between the posterior of that frame
and the prior, KL[q(z | h, enc(x)) || p(z | h)], summed over latents: the report's `kl`. A dreamed step has no real
frame, so it is checked by re-encoding: decode the imagined state (h, z), encode the decoded frame as if it were an
observation, take the posterior from h and that token and compare it with the prior at h,

    recheck(h, z) = KL[q(z | h, enc(dec(h, z))) || p(z | h)]   (nats, summed over the S latents).

When the decoder draws something the encoder recognises as the state the prior predicts, the two agree and the KL
is small; when the dream decodes into a frame the encoder reads as a different state (a blurred, impossible or
mixed-up scene), the posterior moves away from the prior and the KL grows. Decoded images are quantised to uint8
first, exactly as a real frame reaches the encoder; decoded vectors go back to raw space (symexp).

`THRESHOLD` (nats) flags a dreamed step; how it was chosen is in docs/studio.md (*Where is the model making things
up?*).

Legend: N states, K samples, Hi imagined steps, L report steps, S latents, C classes, D deter.
"""

from __future__ import annotations

import numpy as np
import torch

from dreamer_core import losses
from dreamer_core.dists import symexp
from dreamer_core.rssm import Latent

THRESHOLD = 1.47  # nats: provisional, the 80th percentile on a cpu-preset run (docs/studio.md); not yet validated


@torch.no_grad()
def reencode_kl(agent, states: Latent, prior: torch.Tensor | None = None) -> torch.Tensor:
    """KL[q(z | h, enc(dec(h, z))) || p(z | h)] summed over latents for states (..., D), (..., S, C) -> (...).

    `prior` (..., S, C) log-probabilities of p(z | h); computed from h when None (a test passes a corrupted one)."""
    lead = states.deter.shape[:-1]
    flat = states.reshape(int(np.prod(lead)) if lead else 1)  # (N, ...)
    out = agent.decoder(flat.deter, flat.stoch.flatten(-2))
    obs = {}
    for key in agent.image_keys:
        obs[key] = (out[key].float().clamp(0, 1) * 255 + 0.5).to(torch.uint8)  # (N, H, W, C) as a real frame
    for key in agent.vector_dims:
        obs[key] = symexp(out[key].float())  # (N, V) raw space
    token = agent.encoder(obs)  # (N, E)
    post = agent.rssm.posterior(flat.deter, token)  # (N, S, C) log-probabilities
    if prior is None:
        prior = agent.rssm.prior(flat.deter)  # (N, S, C)
    else:
        prior = prior.reshape(flat.stoch.shape)
    kl = losses.kl_per_latent(post.float(), prior.float()).sum(-1)  # (N,)
    return kl.reshape(lead)


def observed_kl(kl_per_latent: np.ndarray) -> np.ndarray:
    """(L, S) KL per latent of the report's posterior steps -> (L,) nats: the signal where a real frame exists."""
    return np.asarray(kl_per_latent, np.float32).sum(-1)


def stack_rows(openloop: np.ndarray | None, dreams: np.ndarray | None) -> np.ndarray | None:
    """Row 0 the open loop (1, Hi_o), rows 1..K the dreams (K, Hi): (K + 1, max Hi) float32, NaN-padded."""
    rows = [r for r in (openloop, dreams) if r is not None]
    if not rows:
        return None
    width = max(r.shape[1] for r in rows)
    out = np.full((sum(r.shape[0] for r in rows), width), np.nan, np.float32)
    i = 0
    for r in rows:
        out[i : i + r.shape[0], : r.shape[1]] = r
        i += r.shape[0]
    return out


def timeline(report, dream: np.ndarray | None, length: int) -> np.ndarray:
    """The strip under the imagination: (length,) nats over the timeline, NaN where nothing is known.

    t < Lc: the report's KL of the observed frame; t >= Lc: `dream` (Hi,), the re-encoding KL of the imagined step."""
    out = np.full(length, np.nan, np.float32)
    ctx = report.context_len
    out[: min(ctx, length)] = observed_kl(report.kl)[: min(ctx, length)]
    if dream is not None:
        n = min(len(dream), length - ctx)
        out[ctx : ctx + n] = dream[:n]
    return out


def flagged(signal: np.ndarray, threshold: float = THRESHOLD) -> np.ndarray:
    """Boolean mask of the steps over the threshold (NaN never flags)."""
    return np.nan_to_num(np.asarray(signal, np.float32), nan=-np.inf) > threshold


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation over the finite pairs (NaN if fewer than 3)."""
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3 or a[ok].std() == 0 or b[ok].std() == 0:
        return float("nan")
    return float(np.corrcoef(a[ok], b[ok])[0, 1])
