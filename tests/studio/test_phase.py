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
