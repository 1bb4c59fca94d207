"""Compare two models on the same context: another model's report on the real steps of a report on screen.

`other_agent` builds a CPU agent of the live run's shape from a checkpoint file (a training checkpoint's weights or
a model-only one), checked to fit before use. `report_window` rebuilds a report window (1, K + T, ...) from the
report's own numpy data (its real frames or vectors, actions, rewards, is_first), so nothing of the live trainer
is touched; the other model starts from its initial state (is_first at the first real step, since the stored
latents belong to the live model). `compare_report` is that model's report on it, with the same seed, and
`step_errors` the per-step reconstruction / open-loop error of a report against its real steps.

Shapes as in docs/tensor_shapes.md (T report steps, Tc its context, K replay context steps before the window).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from dreamer_core import checkpoint
from dreamer_core.agent import Agent
from dreamer_core.report import Report, make_report


@dataclass
class OtherModel:
    agent: Agent
    updates: int
    path: str


def other_agent(path: str | Path, like: Agent) -> OtherModel:
    """A CPU eval agent with the config and spaces of `like`, holding the weights in checkpoint `path`."""
    state = checkpoint.load(path, map_location="cpu")
    weights = state.get("agent", {}).get("model") if isinstance(state, dict) else None
    if not isinstance(weights, dict):
        raise ValueError(f"{path} holds no model weights: pick a Dreamer Studio checkpoint (latest.ckpt, model.ckpt)")
    agent = Agent(like.config, like.obs_space, like.act_space, "cpu")
    own = agent.state_dict()
    bad = sorted(k for k in own if k not in weights or tuple(weights[k].shape) != tuple(own[k].shape))
    if bad:
        raise ValueError(f"{path} is a model of another shape than this run's ({len(bad)} weights differ, e.g. "
                         f"{bad[0]}): compare checkpoints of runs with the same config")
    agent.load_state_dict({k: weights[k] for k in own})  # fp16 weights are copied into the fp32 parameters
    agent.retnorm.load_state_dict(state["agent"]["retnorm"])
    return OtherModel(agent.eval().requires_grad_(False), int(state["agent"].get("updates", 0)), str(path))


def report_window(report: Report, agent: Agent) -> dict[str, np.ndarray]:
    """The report's real window as a batch (1, K + T, ...) for `agent`; the K leading steps repeat step 0."""
    k = agent.config.train.replay_context
    length = len(report.rewards)
    pad = lambda x: np.concatenate([np.repeat(x[:1], k, 0), x], 0)[None]  # noqa: E731  (T, ...) -> (1, K + T, ...)
    batch = {"action": pad(report.actions.astype(np.float32)), "reward": pad(report.rewards.astype(np.float32))}
    first = report.is_first.astype(bool).copy()  # (T,)
    first[0] = True  # the stored latents are the live model's: the other model starts afresh
    batch["is_first"] = pad(first)
    batch["is_last"] = np.zeros((1, k + length), bool)
    batch["is_terminal"] = np.zeros((1, k + length), bool)
    for key in agent.image_keys:
        channels = agent.obs_space[key].shape[-1]
        batch[key] = pad(np.ascontiguousarray(report.real[..., :channels]))  # (1, K + T, h, w, c)
    if agent.vector_dims:
        dims = [agent.vector_dims[key] for key in sorted(agent.vector_dims)]
        parts = np.split(report.real_vectors.astype(np.float32), np.cumsum(dims)[:-1], -1)  # each (T, dims)
        for key, part in zip(sorted(agent.vector_dims), parts):
            batch[key] = pad(part)
    m = agent.config.model
    batch["deter"] = np.zeros((1, k + length, m.deter), np.float32)
    batch["stoch"] = np.zeros((1, k + length, m.stoch, m.classes), np.float32)
    return batch


def compare_report(other: OtherModel, report: Report) -> Report:
    """`other`'s report on `report`'s real steps, imagined with the same seed, horizon and number of futures."""
    with torch.no_grad():
        batch = report_window(report, other.agent)
        k, horizon = report.imagination.rewards.shape
        return make_report(other.agent, batch, seed=report.seed, samples=k, horizon=horizon,
                           temperature=report.imagination.temperature, updates=other.updates,
                           env_frames=report.env_frames, vector_scale=report.vector_scale)  # one yardstick


def step_errors(report: Report) -> np.ndarray:
    """(T,) mean squared error per real step of what the model shows there against the real step: the posterior
    reconstruction over the context, the open loop (prior under the true actions) after it; frames in [0, 1]."""
    ctx = report.context_len
    if report.decoded is not None and report.real is not None:
        real = report.real.astype(np.float32) / 255  # (T, h, w, 3)
        shown = np.concatenate([report.decoded[:ctx], report.openloop]).astype(np.float32) / 255  # (T, h, w, 3)
    else:
        real = report.real_vectors.astype(np.float32)  # (T, V)
        shown = np.concatenate([report.decoded_vectors[:ctx], report.openloop_vectors]).astype(np.float32)
    return ((shown - real) ** 2).reshape(len(real), -1).mean(1)  # (T,)
