"""Imagination requests served in the trainer thread: action sources, latent edits, the report's kept weights
(Qt-free; the core does the tensor work).

Only the trainer thread may call these: the agent is not thread-safe.
"""

from __future__ import annotations

import time
import weakref
from collections import OrderedDict

import numpy as np

from dreamer_core.play import weights_snapshot
from dreamer_core.report import Report, edit_start, imagine_from, weights_bytes, weights_loaded
from dreamer_studio.session import ImagineResult, ImagineSettings, is_reports_own, reports_own_result


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


# Re-imagining an old report (an edit, other settings) uses the weights the report was made with, not today's:
# otherwise edit + reset no longer gives back the future on screen. Each report's weights are kept as a CPU copy of
# the agent's state dict, taken when the report is first imagined (in the same trainer step that made it). That is
# ~2.6 MB at size1m (640k parameters), so the 24 reports of the history hold ~60 MB; a model over KEEP_BYTES
# (size12m is 39 MB) keeps none, and its re-imaginations say that they use the weights of now.
KEEP_BYTES = 16 << 20
KEEP_REPORTS = 32  # at least the report history's length (ReportStore.MAXLEN)
_kept: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # agent -> OrderedDict[report id, state dict]
_newest: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # agent -> the newest report id seen


def _report_weights(agent, report_id: int) -> tuple[dict | None, bool]:
    """(the report's kept weights or None, whether this is the report's first imagination: today's weights are
    then the report's own)."""
    kept = _kept.setdefault(agent, OrderedDict())
    if report_id > _newest.get(agent, 0):
        _newest[agent] = report_id
        if weights_bytes(agent) <= KEEP_BYTES:
            kept[report_id] = weights_snapshot(agent)
            while len(kept) > KEEP_REPORTS:
                kept.popitem(last=False)
        return None, True
    return kept.get(report_id), False


def kept_weights(agent, report_id: int) -> dict | None:
    """The CPU copy of the weights that made report `report_id`, kept when it was first imagined (None when the
    model is too large to keep one, see KEEP_BYTES, or the report is older than the KEEP_REPORTS newest)."""
    return _kept.get(agent, {}).get(report_id)


def report_weights(worker, report_id: int) -> tuple[object | None, dict | None]:
    """(the worker's agent, the CPU copy of the weights that made report `report_id`); the agent is None when the
    worker has no trainer (a watched run), the weights None when none were kept (see kept_weights). The GUI's
    panels call it: it only reads what the trainer thread keeps."""
    agent = getattr(getattr(worker, "trainer", None), "agent", None)
    if agent is None:
        return None, None
    return agent, kept_weights(agent, report_id)


def imagine(agent, report: Report, settings: ImagineSettings, edits: tuple[tuple[int, int], ...],
            report_id: int, request_id: int = 0) -> ImagineResult:
    """The unedited future and, with edits, the edited one, both with the same seed and actions, imagined with the
    weights that made the report when they were kept (see KEEP_BYTES). A request for what the report already
    imagined (no edits, the policy's actions, its seed, M, horizon and temperature) is answered with the report's
    own futures: the model runs only when the settings, the edits or the actions differ."""
    began = time.perf_counter()
    weights, first = _report_weights(agent, report_id)  # also keeps a new report's weights
    if not edits and is_reports_own(report, settings):
        return reports_own_result(report_id, report, settings, request_id)
    act_dim = report.actions.shape[-1]
    actions = actions_for(report, settings, act_dim)
    kwargs = dict(horizon=settings.horizon, seed=settings.seed, samples=settings.samples, actions=actions,
                  temperature=settings.temperature)
    with weights_loaded(agent, weights):
        base = imagine_from(agent, report.start, **kwargs)
        edited = imagine_from(agent, edit_start(report.start, edits), **kwargs) if edits else None
    return ImagineResult(report_id=report_id, request_id=request_id, settings=settings, edits=tuple(edits),
                         base=base, edited=edited, actions=actions,
                         elapsed_ms=(time.perf_counter() - began) * 1000,
                         weights_updates=report.updates if first or weights is not None else None)
