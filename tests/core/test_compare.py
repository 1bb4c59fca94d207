"""Comparing two models on one context (dreamer_core.compare): the other model's report on the same real steps."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dreamer_core.compare import compare_report, other_agent, report_window, step_errors
from dreamer_core.config import make_config
from dreamer_core.report import make_report

torch.set_num_threads(1)


def test_a_checkpoint_reports_on_the_live_reports_real_steps(tmp_path):
    from dreamer_core.trainer import Trainer

    trainer = Trainer(make_config("dummy_disc", "vision", "debug", {"run": {"device": "cpu"}}), tmp_path / "run")
    try:
        while trainer.updates < 2:
            trainer.step()
        saved = trainer.save(tmp_path / "then.ckpt")
        then = trainer.updates
        while trainer.updates < then + 3:  # the live model moves on
            trainer.step()
        report = trainer.report(samples=2, horizon=5)
        other = other_agent(saved, trainer.agent)
        assert other.updates == then and report.updates > then
        out = compare_report(other, report)
        np.testing.assert_array_equal(out.real, report.real)  # the same context
        np.testing.assert_array_equal(out.actions, report.actions)
        assert out.decoded.shape == report.decoded.shape and out.imagination.rewards.shape == (2, 5)
        assert out.updates == then and out.seed == report.seed
        # It is the checkpoint's model: a fresh agent loaded with that file's weights gives the very same report.
        from dreamer_core import checkpoint
        from dreamer_core.agent import Agent

        same = Agent(trainer.config, trainer.agent.obs_space, trainer.agent.act_space, "cpu")
        same.load_state_dict(checkpoint.load(saved)["agent"]["model"])
        direct = make_report(same.eval(), report_window(report, same), seed=report.seed, samples=2, horizon=5)
        np.testing.assert_array_equal(direct.decoded, out.decoded)
        live = make_report(trainer.agent, report_window(report, trainer.agent), seed=report.seed, samples=2,
                           horizon=5)
        assert not np.array_equal(live.decoded, out.decoded)  # the live weights dream otherwise
        errors = step_errors(out)  # (L,)
        ctx = out.context_len
        assert errors.shape == (len(out.rewards),)
        assert errors[0] == pytest.approx(np.mean((out.decoded[0] / 255 - out.real[0] / 255) ** 2), rel=1e-5)
        assert errors[ctx] == pytest.approx(np.mean((out.openloop[0] / 255 - out.real[ctx] / 255) ** 2), rel=1e-5)
        # A model of another shape is refused in one line.
        bigger = Trainer(make_config("dummy_disc", "vision", "debug", {"run": {"device": "cpu"},
                                                                        "model": {"deter": 128}}), None)
        try:
            with pytest.raises(ValueError, match="another shape"):
                other_agent(saved, bigger.agent)
        finally:
            bigger.close()
    finally:
        trainer.close()


def test_a_vector_models_comparison_has_an_open_loop_signal_on_the_live_reports_scale(tmp_path):
    from dreamer_core.trainer import Trainer

    trainer = Trainer(make_config("dummy_cont", "proprio", "debug", {"run": {"device": "cpu"}}), tmp_path / "run")
    try:
        while trainer.updates < 2:
            trainer.step()
        other = other_agent(trainer.save(tmp_path / "then.ckpt"), trainer.agent)
        report = trainer.report(samples=2, horizon=5)
        assert report.vector_scale is not None and report.openloop_signal is not None
        out = compare_report(other, report)
        np.testing.assert_array_equal(out.vector_scale, report.vector_scale)  # one yardstick for both models
        assert out.openloop_signal.shape == report.openloop_signal.shape
        assert np.isfinite(out.openloop_signal).all()
    finally:
        trainer.close()
