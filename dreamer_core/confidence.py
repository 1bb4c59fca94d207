"""Where is the model making things up? A per-step hallucination signal for imagined trajectories (Qt-free).

Steps with a real frame the model observed (the report's context) use the KL between the posterior of that frame
and the prior, KL[q(z | h, enc(x)) || p(z | h)], summed over latents: the report's `kl`. A dreamed step has no real
frame. Two signals, one per kind of imagined row:
- the **open loop** (the prior under the true actions, the row that can be checked against the truth): its mean
  squared distance to K more futures imagined from the same start under the same actions, independently of it
  (`openloop_distance`; every report carries it as `openloop_signal`). Where the model's own rollouts under the
  same actions land far from the open loop, the open loop is one draw of many different futures, and more often
  far from the truth. A vector model has the same on its decoded vectors, each dimension scaled by the real
  vector's spread over the replay (`openloop_vector_distance`, `replay_vector_scale`: one fixed scale);
- the **dreams** (the policy's K futures): their **spread**, the variance of their decoded frames across the K at
  each step, averaged over pixels (`spread`). It costs no network pass: the dreams are decoded for the panel
  anyway. On vectors (`vector_spread`, scaled by the report's own real vectors) it is measured but not shown.

`OPENLOOP_THRESHOLD`, `OPENLOOP_VECTOR_THRESHOLD` and `THRESHOLD` flag a step. The rule that chose them, and the
measurements that show the signals track the open-loop error beyond "later steps are worse", are in
docs/results/confidence.md (summed up in docs/studio_dream.md, *Where is the model making things up?*); the
functions at the end compute those measurements (scripts/confidence_eval.py).

Also here is the re-encoding check the strip showed first, recheck(h, z) = KL[q(z | h, enc(dec(h, z))) || p(z | h)]
(nats, summed over the S latents): decode the imagined state, encode the uint8 frame as if it were real, compare
the posterior with the prior. On the most trained pixel models measured it was no better than chance, so reports
compute it only when asked (`make_report(recheck=True)`, the evaluation's `imagined_recheck`).

Shapes as in docs/tensor_shapes.md (N states, M futures, H imagined steps, T report steps, Tc its context, V vector
dims). "K dreams" in prose is the app's name for M (the Imagination panel's K box).
"""

from __future__ import annotations

import numpy as np
import torch

from dreamer_core import losses
from dreamer_core.dists import symexp
from dreamer_core.rssm import Latent

# The spread (0-255 pixel scale) over which an imagined step is flagged: the rule's cut (best F1 for "open-loop error
# above its 75th percentile", flagging at most 25% of steps) for K = 3 dreams on a size1m cartpole pixel model at
# 4,728 updates (docs/results/confidence_history.md, second measurement).
THRESHOLD = 8.9
# The open loop's signal over which an open-loop step is flagged, by the same rule on that model (docs/results/
# confidence.md, fourth measurement):
# `openloop_distance` (0-255 pixel scale) on frames, `openloop_vector_distance` on the replay's scale on vectors
# (the shipped CartPole-v1 proprio model).
OPENLOOP_THRESHOLD = 13.7
OPENLOOP_VECTOR_THRESHOLD = 0.47


@torch.no_grad()
def reencoded(agent, flat: Latent) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Decode states (N, D), (N, S, C), encode the decoded observation as if it were real: (the decoder's output
    {key: (N, h, w, c) or (N, V)}, the posterior log-probabilities q(z | h, enc(dec(h, z))) (N, S, C))."""
    out = agent.decoder(flat.deter, flat.stoch.flatten(-2))  # {key: (N, h, w, c) or (N, dims)}
    obs = {}
    for key in agent.image_keys:
        obs[key] = (out[key].float().clamp(0, 1) * 255 + 0.5).to(torch.uint8)  # (N, h, w, c) as a real frame
    for key in agent.vector_dims:
        obs[key] = symexp(out[key].float())  # (N, V) raw space
    token = agent.encoder(obs)  # (N, E)
    return out, agent.rssm.posterior(flat.deter, token)  # (N, S, C) log-probabilities


@torch.no_grad()
def reencode_kl(agent, states: Latent, prior: torch.Tensor | None = None) -> torch.Tensor:
    """KL[q(z | h, enc(dec(h, z))) || p(z | h)] summed over latents for states (..., D), (..., S, C) -> (...).

    `prior` (..., S, C) log-probabilities of p(z | h); computed from h when None (a test passes a corrupted one)."""
    lead = states.deter.shape[:-1]
    flat = states.reshape(int(np.prod(lead)) if lead else 1)  # (N, ...)
    _, post = reencoded(agent, flat)  # (N, S, C)
    if prior is None:
        prior = agent.rssm.prior(flat.deter)  # (N, S, C)
    else:
        prior = prior.reshape(flat.stoch.shape)
    kl = losses.kl_per_latent(post.float(), prior.float()).sum(-1)  # (N,)
    return kl.reshape(lead)


def spread(frames: np.ndarray | None) -> np.ndarray | None:
    """(M, H, h, w, 3) uint8 futures imagined from one start -> (H,) float32: the variance of their decoded frames
    across the M at each step, mean over pixels and channels (0-255 scale). The unbiased variance (ddof 1), so its
    expected value, and with it the threshold, does not depend on M. None without frames or without two futures to
    disagree."""
    if frames is None or frames.shape[0] < 2:
        return None
    return frames.astype(np.float32).var(0, ddof=1).mean((1, 2, 3))  # (H,)


def vector_scale(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(..., V) vectors -> per dimension (mean (V,), spread (V,)) over every leading index: the spread is the
    standard deviation, floored at 1e-6 so that a constant dimension does not blow up what it divides. The one
    per-dimension normalisation of vectors: the imagination panel's plot and `vector_spread` both use it."""
    flat = np.asarray(values, np.float64).reshape(-1, np.shape(values)[-1])  # (N, V)
    return flat.mean(0), np.maximum(flat.std(0), 1e-6)


def vector_spread(vectors: np.ndarray | None, real: np.ndarray | None) -> np.ndarray | None:
    """`spread` for a vector model: (M, H, V) decoded vectors of futures imagined from one start, the report's real
    vectors (T, V) -> (H,) float32: the unbiased variance (ddof 1) across the M at each step of each dimension
    scaled by the real vector's spread over the report (`vector_scale`), mean over dimensions. Unitless: 1 means
    the dreams disagree as much as the real vector varies. None without vectors or two futures."""
    if vectors is None or real is None or vectors.shape[0] < 2:
        return None
    _, scale = vector_scale(real)  # (V,)
    return (np.asarray(vectors, np.float64).var(0, ddof=1) / scale**2).mean(-1).astype(np.float32)  # (H,)


def scaled_squared_error(predicted: np.ndarray, truth: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """(..., H, V) vectors against (H, V) -> (..., H) float32: the squared difference of each dimension divided by
    its `scale` (V,) squared, mean over dimensions."""
    diff = (np.asarray(predicted, np.float64) - np.asarray(truth, np.float64)) / scale  # (..., H, V)
    return (diff**2).mean(-1).astype(np.float32)


def vector_error(predicted: np.ndarray, truth: np.ndarray, real: np.ndarray) -> np.ndarray:
    """(H, V) predicted vectors (the open loop) against the true ones (H, V) -> (H,) float32: the squared error of
    each dimension scaled by the real vector's spread over `real` (T or N, V: the report's, or a whole stream's),
    as in `vector_spread`, mean over dimensions."""
    return scaled_squared_error(predicted, truth, vector_scale(real)[1])


def openloop_distance(futures: np.ndarray | None, openloop: np.ndarray) -> np.ndarray | None:
    """The open loop's hallucination signal on frames: (M, H, h, w, 3) uint8 futures imagined from the open loop's
    start under the same true actions, independently of it, and the open loop's frames (H, h, w, 3) -> (H,)
    float32: the mean over the M of each future's mean squared distance to the open-loop frame (0-255 scale).
    Where the model's own rollouts under the same actions land far from the open loop, the open loop is one draw
    of many different futures, and more often far from the truth. None without futures."""
    if futures is None:
        return None
    diff = futures.astype(np.float32) - openloop.astype(np.float32)[None]  # (M, H, h, w, 3)
    return (diff**2).mean((2, 3, 4)).mean(0)  # (H,)


def openloop_vector_distance(futures: np.ndarray, openloop: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """`openloop_distance` for a vector model: (M, H, V) futures, the open loop's vectors (H, V), a per-dimension
    `scale` (V,) (one fixed scale: `replay_vector_scale`) -> (H,) float32, the mean over the M of the scaled
    squared distance (`scaled_squared_error`)."""
    return scaled_squared_error(futures, openloop[None], scale).mean(0)


def replay_vector_scale(replay, keys: list[str], most: int = 100_000) -> np.ndarray | None:
    """(V,) the spread (`vector_scale`) of the real vectors `keys` (concatenated in that order) over every step a
    Replay holds, every worker (at most `most` steps, evenly strided): one scale for every report of a run,
    unlike the report's own (whose window shares its divisor with the error; docs/results/confidence_history.md). None
    without keys or steps."""
    stored = np.minimum(replay.counts, replay.cap)  # (W,)
    data = {k: replay.data[k].reshape(replay.workers, replay.cap, -1) for k in keys}  # each (W, cap, dims), views
    return stored_vector_scale(data, stored, keys, most)


def stored_vector_scale(data: dict[str, np.ndarray], stored: np.ndarray, keys: list[str], most: int = 100_000
                        ) -> np.ndarray | None:
    """`replay_vector_scale` of replay arrays `data[k]` (W, N, ...) whose first `stored` (W,) steps per worker are
    filled: a live Replay's ring, or the `replay` of a training checkpoint (whose scale a shipped model keeps)."""
    if not keys or int(np.sum(stored)) == 0:
        return None
    stored = np.asarray(stored, np.int64)  # (W,)
    w = np.repeat(np.arange(len(stored)), stored)  # (N,) worker of each stored step
    t = np.concatenate([np.arange(n) for n in stored])  # (N,) its slot
    every = max(1, len(w) // most)
    w, t = w[::every], t[::every]
    values = np.concatenate([np.asarray(data[k])[w, t].reshape(len(w), -1) for k in keys], -1)  # (N, V)
    return vector_scale(values)[1]


def observed_kl(kl_per_latent: np.ndarray) -> np.ndarray:
    """(T, S) KL per latent of the report's posterior steps -> (T,) nats: the signal where a real frame exists."""
    return np.asarray(kl_per_latent, np.float32).sum(-1)


def stack_rows(openloop: np.ndarray | None, dreams: np.ndarray | None) -> np.ndarray | None:
    """Row 0 the open loop (1, T-Tc), rows 1..M the dreams (M, H): (M + 1, the longer) float32, NaN-padded."""
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


def timeline(report, imagined: np.ndarray | None, length: int) -> np.ndarray:
    """A signal over the strip's timeline: (length,), NaN where nothing is known.

    t < Tc: the report's KL of the observed frame (nats); t >= Tc: `imagined` (H,), a per-imagined-step signal (the
    strip's spread, or a row of `Report.imagined_recheck`)."""
    out = np.full(length, np.nan, np.float32)
    ctx = report.context_len
    out[: min(ctx, length)] = observed_kl(report.kl)[: min(ctx, length)]
    if imagined is not None:
        n = min(len(imagined), length - ctx)
        out[ctx : ctx + n] = imagined[:n]
    return out


def flagged(signal: np.ndarray, threshold: float = THRESHOLD) -> np.ndarray:
    """Boolean mask of the steps over the threshold (NaN never flags)."""
    return np.nan_to_num(np.asarray(signal, np.float32), nan=-np.inf) > threshold


# ---------------------------------------------------------------------- validation (scripts/confidence_eval.py)
# Does the signal flag the steps where the open loop is wrong, and more than "later steps are worse" does?


def _finite_pairs(*arrays: np.ndarray) -> list[np.ndarray]:
    flat = [np.asarray(a, np.float64).ravel() for a in arrays]
    ok = np.logical_and.reduce([np.isfinite(a) for a in flat])
    return [a[ok] for a in flat]


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation over the finite pairs (NaN if fewer than 3)."""
    a, b = _finite_pairs(a, b)
    if len(a) < 3 or a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def ranks(x: np.ndarray) -> np.ndarray:
    """Ranks 0..n-1 of x (n,), ties sharing their average rank (the step index ties across windows)."""
    _, inverse, counts = np.unique(np.asarray(x).ravel(), return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    return ((ends - counts + ends - 1) / 2.0)[inverse]


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation over the finite pairs: the Pearson correlation of their tie-averaged ranks."""
    a, b = _finite_pairs(a, b)
    return pearson(ranks(a), ranks(b)) if len(a) else float("nan")


def partial_spearman(x: np.ndarray, y: np.ndarray, control: np.ndarray) -> float:
    """Rank correlation of x and y with `control` held fixed (first-order partial correlation of the ranks): what
    x says about y beyond what `control` (the imagined step's index) already says about both."""
    x, y, control = _finite_pairs(x, y, control)
    if len(x) < 4:
        return float("nan")
    rx, ry, rc = ranks(x), ranks(y), ranks(control)
    xy, xc, yc = pearson(rx, ry), pearson(rx, rc), pearson(ry, rc)
    if not np.isfinite([xy, xc, yc]).all() or max(abs(xc), abs(yc)) >= 1:
        return float("nan")
    return float((xy - xc * yc) / np.sqrt((1 - xc**2) * (1 - yc**2)))


def within_step_spearman(signal: np.ndarray, error: np.ndarray) -> float:
    """signal, error (windows, H): the rank correlation across windows at each imagined step, averaged over the
    steps: does the signal rank same-horizon steps by their error (where the step index cannot help)?"""
    per_step = [spearman(signal[:, i], error[:, i]) for i in range(signal.shape[1])]
    per_step = [r for r in per_step if np.isfinite(r)]
    return float(np.mean(per_step)) if per_step else float("nan")


def window_interval(statistic, signal: np.ndarray, error: np.ndarray, draws: int = 1000, seed: int = 0,
                    level: float = 0.95) -> list[float]:
    """A bootstrap interval of `statistic(signal, error)` over windows: rows of (windows, H) drawn with
    replacement, so the steps of one window (which share a start and err together) are resampled together."""
    gen = np.random.default_rng(seed)
    rows = gen.integers(0, signal.shape[0], size=(draws, signal.shape[0]))  # (draws, windows)
    values = np.array([statistic(signal[r], error[r]) for r in rows])
    tail = 100 * (1 - level) / 2
    return np.nanpercentile(values, [tail, 100 - tail]).tolist()


def flag_scores(signal: np.ndarray, high: np.ndarray, threshold: float) -> dict[str, float]:
    """Flags `signal > threshold` scored against the boolean `high` (high open-loop error), both (steps,): the share
    of steps flagged, precision (flagged steps that are high), recall (high steps flagged) and their F1."""
    flag, high = flagged(signal, threshold).ravel(), np.asarray(high, bool).ravel()
    hits = float((flag & high).sum())
    precision = hits / flag.sum() if flag.any() else float("nan")
    recall = hits / high.sum() if high.any() else float("nan")
    f1 = 2 * hits / (flag.sum() + high.sum()) if flag.any() or high.any() else float("nan")
    return dict(threshold=float(threshold), flagged=float(flag.mean()), precision=float(precision),
                recall=float(recall), f1=float(f1))


def best_f1_threshold(signal: np.ndarray, high: np.ndarray, max_flagged: float = 1.0) -> dict[str, float]:
    """The rule that chooses THRESHOLD: of the cuts between neighbouring observed values (every distinct way to
    flag "the steps over t") that flag at most `max_flagged` of the steps, the one with the highest F1 for `high`;
    its scores. The cap keeps a signal no better than chance from "winning" by flagging everything."""
    values = np.unique(np.asarray(signal, np.float64)[np.isfinite(signal)])
    candidates = np.concatenate([[values[0] - 1.0], (values[:-1] + values[1:]) / 2, [values[-1]]]) if len(values) \
        else [np.inf]
    scored = [s for s in (flag_scores(signal, high, t) for t in candidates) if s["flagged"] <= max_flagged]
    return max(scored, key=lambda s: s["f1"])
