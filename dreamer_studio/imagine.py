"""Imagination requests served in the trainer thread: action sources and latent edits (Qt-free, uses torch).

Only the trainer thread may call these: the agent is not thread-safe.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from dreamer_core.report import Report, imagine_from
from dreamer_core.rssm import Latent
from dreamer_studio.session import ImagineResult, ImagineSettings


def replayed_actions(report: Report, horizon: int) -> np.ndarray:
    """(horizon, A): the actions actually taken after the last context step, zeros once they run out."""
    ctx = report.context_len
    taken = report.actions[ctx - 1 : len(report.actions) - 1]
    out = np.zeros((horizon, report.actions.shape[-1]), np.float32)
    n = min(horizon, len(taken))
    out[:n] = taken[:n]
    return out


def held_actions(held: tuple[float, ...] | None, act_dim: int, horizon: int) -> np.ndarray:
    """(horizon, A): the action the user holds, repeated (zeros when nothing is held)."""
    action = np.zeros(act_dim, np.float32)
    if held is not None:
        action[: len(held)] = np.asarray(held, np.float32)[:act_dim]
    return np.repeat(action[None], horizon, 0)


def actions_for(report: Report, settings: ImagineSettings, act_dim: int) -> np.ndarray | None:
    if settings.source == "replayed":
        return replayed_actions(report, settings.horizon)
    if settings.source == "keys":
        return held_actions(settings.held, act_dim, settings.horizon)
    return None


def edit_latent(start: Latent, edits: tuple[tuple[int, int], ...]) -> Latent:
    """A copy of `start` (1, ...) with latent s set to the one-hot class c for each (s, c) edit."""
    edited = start.clone()
    for s, c in edits:
        edited.stoch[0, s] = 0
        edited.stoch[0, s, c] = 1
    return edited


def imagine(agent, report: Report, settings: ImagineSettings, edits: tuple[tuple[int, int], ...],
            report_id: int, request_id: int = 0) -> ImagineResult:
    """The unedited future and, with edits, the edited one, both with the same seed and actions."""
    began = time.perf_counter()
    act_dim = report.actions.shape[-1]
    actions = actions_for(report, settings, act_dim)
    tensor = torch.as_tensor(actions) if actions is not None else None
    kwargs = dict(horizon=settings.horizon, seed=settings.seed, samples=settings.samples, actions=tensor,
                  temperature=settings.temperature)
    was_training = agent.training
    agent.eval()
    try:
        base = imagine_from(agent, report.start, **kwargs)
        edited = imagine_from(agent, edit_latent(report.start, edits), **kwargs) if edits else None
    finally:
        agent.train(was_training)
    return ImagineResult(report_id=report_id, request_id=request_id, settings=settings, edits=tuple(edits),
                         base=base, edited=edited, actions=actions,
                         elapsed_ms=(time.perf_counter() - began) * 1000)
