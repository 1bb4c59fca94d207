"""The run phase enum: a str the panels compare, format and serialise like the strings it replaced, with the
sticky phases (held by the worker) apart from the ones read off the run."""

from __future__ import annotations

import json

import pytest

from dreamer_studio.phase import STICKY, Phase
from dreamer_studio.session import Status


def test_a_phase_is_its_string_everywhere_the_panels_use_it():
    s = Status(phase=Phase.WATCHING, message="watching runs/x")
    assert s.phase == "watching" and s.phase in ("watching", "paused") and isinstance(s.phase, str)
    assert f"<b>{s.phase}</b>" == "<b>watching</b>"  # the run page formats it (a plain str Enum would not)
    assert json.dumps({"phase": s.phase}) == '{"phase": "watching"}'
    assert Phase("training") is Phase.TRAINING and Status().phase is Phase.BUILDING


def test_only_paused_collecting_and_training_are_read_off_the_run():
    assert {p for p in Phase if not p.sticky} == {Phase.PAUSED, Phase.COLLECTING, Phase.TRAINING}
    assert {p for p in Phase if p.running} == {Phase.COLLECTING, Phase.TRAINING}
    assert STICKY == {p for p in Phase if p.sticky}


def test_the_worker_refuses_to_hold_a_phase_it_reads_off_the_run(qtbot, make_worker):
    worker = make_worker()  # never started: _hold only checks its argument
    worker._hold(Phase.FINISHED)
    with pytest.raises(ValueError, match="read off the run"):
        worker._hold(Phase.TRAINING)


def test_the_status_reads_the_phase_rates_and_countdown_off_the_trainer():
    from dreamer_core.trainer import Trainer
    from dreamer_studio.run_status import live_phase, run_status

    from .helpers import debug_config

    trainer = Trainer(debug_config())
    try:
        trainer.step()
        trainer.rates = {"fps/policy": 4.0, "fps/updates": 0.5}
        phase = live_phase(trainer, paused=False)
        assert phase is Phase.COLLECTING
        status = run_status(phase, trainer, None, paused=False, message=None, next_report=0.0, last_score=None,
                            checkpoints=["a.ckpt"])
        fill = trainer.train_fill
        assert status.message == f"collecting the first {fill:,} steps… 1/{fill:,}"
        assert (status.policy_fps, status.update_fps, status.report_eta) == (4.0, 0.5, None)
        assert status.agent_steps == 1 and status.checkpoints == ("a.ckpt",)
        paused = run_status(live_phase(trainer, paused=True), trainer, None, paused=True, message=None,
                            next_report=1e12, last_score=None, checkpoints=[])
        assert paused.phase is Phase.PAUSED and paused.message == f"paused (collected 1/{fill:,} steps)"
        assert (paused.policy_fps, paused.update_fps, paused.report_eta) == (0.0, 0.0, None)  # not running
        closed = run_status(Phase.STOPPED, None, None, paused=False, message=None, next_report=0.0,
                            last_score=None, checkpoints=[])
        assert closed.message == "stopped" and closed.phase is Phase.STOPPED
    finally:
        trainer.close()
