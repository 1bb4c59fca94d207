"""The model state under the Studio's time cursor, rebuilt from a report (Qt-free, numpy in, CPU torch out).

The shared timeline (dreamer_studio.session.timeline_length) indexes a report's steps t = 0 … T-1, of which the
first Tc are the context, and past the context the imagined steps: t = Tc + j is imagined step j (index 0 is the
first step after the start latent, which is the posterior at step Tc-1). Play starts from a real moment, a Sweep
branches from any of them; both read the state here, so the two agree on what "the step under the cursor" is.

A report keeps its posterior states as `Report.features` (T, F) (deter ++ flattened one-hot stoch, float32) and an
imagination its imagined states as `Imagination.features` (M, H, F); splitting a feature back into deter and stoch
is exact. Reports made before `features` existed have only `Report.start`: the last context step.

Legend (docs/tensor_shapes.md): T report steps, Tc context steps, M futures, H imagined steps, D deter, S latents,
C classes, F features.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from dreamer_core.rssm import Latent


@dataclass
class CursorState:
    """The state at one timeline step, and what it is."""

    latent: Latent  # (1, D), (1, S, C) on the CPU
    t: int  # the timeline step it stands for
    imagined: int | None  # the imagined step j (t = Tc + j), None for a report (posterior) step
    sample: int | None  # which imagined future, None for a report step

    def describe(self) -> str:
        if self.imagined is None:
            return f"report step {self.t + 1}"
        return f"imagined step {self.imagined + 1} of dream {self.sample + 1}"


def _latent_of(feature: np.ndarray, like: Latent) -> Latent:
    """Splits one feature (F,) into a Latent (1, D), (1, S, C) shaped like `like`."""
    deter_dim = like.deter.shape[-1]
    _, latents, classes = like.stoch.shape
    feat = torch.as_tensor(np.asarray(feature, np.float32), dtype=like.deter.dtype)  # (F,)
    return Latent(feat[:deter_dim][None].clone(), feat[deter_dim:].reshape(1, latents, classes).clone())


def _cpu(latent: Latent) -> Latent:
    return Latent(latent.deter.detach().to("cpu", copy=True), latent.stoch.detach().to("cpu", copy=True))


def posterior_at(report, t: int) -> Latent:
    """The posterior state at report step t (clamped to 0 … T-1), (1, D), (1, S, C) on the CPU."""
    steps = len(report.rewards)
    t = max(0, min(int(t), steps - 1))
    if report.features is None:
        if t != report.context_len - 1:
            raise ValueError(f"this report was made before reports kept their posterior states: only its last "
                             f"context step ({report.context_len}) can be played or swept from, not step {t + 1}")
        return _cpu(report.start)
    return _latent_of(report.features[t], _cpu(report.start))


def state_at(report, imagination, t: int, sample: int = 0) -> CursorState:
    """The state under timeline step `t`: the posterior at a context step (t < Tc), else imagined step t - Tc of
    future `sample` of `imagination`; past the imagined horizon (where only the report's later real steps are
    left) the posterior at that report step."""
    ctx, steps = report.context_len, len(report.rewards)
    t, j = max(0, int(t)), max(0, int(t)) - ctx
    if j >= 0 and imagination is not None and imagination.features is None:
        raise ValueError("this imagination was made before imaginations kept their states: only a report step "
                         "can be swept from")
    feats = None if imagination is None else imagination.features  # (M, H, F)
    if j < 0 or feats is None or j >= feats.shape[1]:
        t = min(t, steps - 1)
        return CursorState(posterior_at(report, t), t, None, None)
    k = max(0, min(int(sample), feats.shape[0] - 1))
    return CursorState(_latent_of(feats[k, j], _cpu(report.start)), t, j, k)
