"""Imagining an older report with the weights that made it: `report.weights_loaded` lends the agent those weights
and gives its own back, also when the imagination fails."""

import numpy as np
import pytest
import torch

from dreamer_core.agent import Agent
from dreamer_core.config import make_config
from dreamer_core.envs import Space
from dreamer_core.play import weights_snapshot
from dreamer_core.report import weights_bytes, weights_loaded

torch.set_num_threads(1)
OBS = {"position": Space((3,), np.float32), "reward": Space((), np.float32), "is_first": Space((), bool),
       "is_last": Space((), bool), "is_terminal": Space((), bool)}


def small_agent() -> Agent:
    return Agent(make_config("dummy_cont", "proprio", "debug"), OBS, Space((2,), np.float32, -1.0, 1.0))


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_the_lent_weights_are_used_and_the_agents_own_come_back():
    agent, other = small_agent(), small_agent()
    with torch.no_grad():
        for p in other.parameters():
            p.add_(1.0)
    own, lent = weights_snapshot(agent), weights_snapshot(other)
    agent.train()
    with weights_loaded(agent, lent) as inside:
        assert not inside.training and _same(weights_snapshot(inside), lent)
    assert agent.training and _same(weights_snapshot(agent), own)


def test_an_error_inside_still_restores_the_weights_and_the_mode():
    agent, other = small_agent(), small_agent()
    with torch.no_grad():
        for p in other.parameters():
            p.mul_(-1.0)
    own = weights_snapshot(agent)
    agent.train()
    with pytest.raises(RuntimeError, match="imagination failed"):
        with weights_loaded(agent, weights_snapshot(other)):
            raise RuntimeError("imagination failed")
    assert agent.training and _same(weights_snapshot(agent), own)


def test_without_weights_the_agent_keeps_its_own_in_eval_mode():
    agent = small_agent()
    own = weights_snapshot(agent)
    agent.train()
    with weights_loaded(agent, None):
        assert not agent.training and _same(weights_snapshot(agent), own)
    assert agent.training


def test_weights_bytes_holds_at_least_every_float32_parameter():
    agent = small_agent()
    assert weights_bytes(agent) >= 4 * sum(p.numel() for p in agent.parameters()) > 0
