"""Counterfactual action sweep (dreamer_core.sweep): one future per choice, all on the same random stream."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dreamer_core import play, sweep
from dreamer_core.config import make_config
from dreamer_core.envs import make_env

torch.set_num_threads(1)


def _agent_and_start(task):
    config = make_config(task, "vision", "debug", {"run": {"device": "cpu"}})
    env = make_env(config.env, 0)
    torch.manual_seed(0)  # the same untrained weights every run
    agent = play.player_agent(config, env.obs_space, env.act_space)
    with torch.no_grad():  # the reward and critic heads start at zero (outscale 0): give them something to say
        for head in (agent.reward, agent.critic):
            for p in head.parameters():
                p.normal_(0, 0.5)
    start = play.context_from_env(agent, env, 3).latent
    env.close()
    return agent, start


def test_discrete_sweep_has_one_future_per_action_on_the_same_stream():
    agent, start = _agent_and_start("dummy_disc")
    out = sweep.sweep(agent, start, horizon=6, seed=7)
    assert [f.choice for f in out.futures] == [0.0, 1.0, 2.0] and out.dim is None
    for k, f in enumerate(out.futures):
        np.testing.assert_array_equal(f.actions[0], np.eye(3, dtype=np.float32)[k])  # the choice, first
        assert f.actions.shape == (6, 3) and f.frames.shape == (6, 64, 64, 3) and f.stoch.shape == (6, 8, 4)
        assert f.predicted_return == pytest.approx(float(f.rewards.sum() + f.values[-1]), rel=1e-5)
    assert len({round(f.predicted_return, 6) for f in out.futures}) > 1  # the choice changes the return
    # Same seed elsewhere: a repeated choice gives the very same future; another choice does not.
    rep = sweep.sweep(agent, start, horizon=6, seed=7, choices=(0, 2, 0))
    for a, b in ((rep.futures[0], rep.futures[2]), (rep.futures[0], out.futures[0])):  # (the full sweep's too)
        np.testing.assert_array_equal(a.deter, b.deter)
        np.testing.assert_array_equal(a.stoch, b.stoch)
        np.testing.assert_array_equal(a.frames, b.frames)
    assert not np.array_equal(rep.futures[0].deter, rep.futures[1].deter)  # another choice, another future
    other = sweep.sweep(agent, start, horizon=6, seed=8, choices=(0,))
    assert not np.array_equal(other.futures[0].stoch, out.futures[0].stoch)  # another seed, other samples
    assert out.best().predicted_return == max(f.predicted_return for f in out.futures)


def test_continuous_sweep_sets_one_dimension_and_keeps_the_policy_elsewhere():
    agent, start = _agent_and_start("dummy_cont")
    values = (-1.0, 0.0, 1.0, -1.0)
    out = sweep.sweep(agent, start, horizon=5, seed=3, dim=1, choices=values)
    assert [f.choice for f in out.futures] == list(values) and out.dim == 1
    firsts = np.stack([f.actions[0] for f in out.futures])  # (4, A)
    np.testing.assert_array_equal(firsts[:, 1], np.array(values, np.float32))
    assert np.all(firsts[:, 0] == firsts[0, 0])  # dimension 0 is the policy's sample, the same in every future
    np.testing.assert_array_equal(out.futures[0].deter, out.futures[3].deter)  # same value, same future
    assert not np.array_equal(out.futures[0].deter, out.futures[2].deter)
    assert not np.array_equal(out.futures[0].actions[1:], out.futures[2].actions[1:])  # the policy reacts
    default = sweep.sweep(agent, start, horizon=3, seed=3, dim=0)
    assert [f.choice for f in default.futures] == list(sweep.DEFAULT_VALUES)


def test_sweep_refuses_what_it_cannot_do():
    agent, start = _agent_and_start("dummy_cont")
    with pytest.raises(ValueError, match="dimension to sweep"):
        sweep.sweep(agent, start, dim=None)
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        sweep.sweep(agent, start, dim=0, choices=(2.0,))
    disc, dstart = _agent_and_start("dummy_disc")
    with pytest.raises(ValueError, match="0..2"):
        sweep.sweep(disc, dstart, choices=(3,))
