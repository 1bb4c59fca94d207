"""Faults in the app (issue 18): an env that raises is rebuilt and the run trains on with a warning; a run whose
updates are all non-finite says so in the status line and pauses after run.nonfinite_limit of them."""

from __future__ import annotations

import numpy as np

from .helpers import debug_config


def test_an_env_crash_is_a_warning_and_the_run_trains_on(qtbot, make_worker, monkeypatch):
    monkeypatch.setenv("DREAMER_DUMMY_FAULT", "RuntimeError:25")  # each dummy env fails on its 25th step
    worker = make_worker(config=debug_config("dummy_cont", "proprio", train_fill=32))
    with qtbot.waitSignal(worker.warned, timeout=60_000) as blocker:
        worker.start()
    assert "RuntimeError: injected fault" in blocker.args[0] and "training goes on" in blocker.args[0]
    qtbot.waitUntil(lambda: worker.status.get()[1].agent_steps >= 40, timeout=30_000)  # not paused: trains on
    status = worker.status.get()[1]
    assert not status.paused and status.phase == "training"
    with qtbot.waitSignal(worker.paused, timeout=10_000):
        from dreamer_studio import commands as cmd

        worker.send(cmd.Pause())
    replay, steps = worker.trainer.replay, worker.trainer.counters.agent_steps
    assert replay.counts[0] == steps  # the crashed step is stored once, not twice
    ends = np.flatnonzero(replay.data["is_last"][:steps])
    assert len(ends) >= 1 and replay.data["is_first"][ends[0] + 1]  # the broken episode ends; a new one starts


def test_non_finite_updates_show_in_the_status_line_and_pause_the_run(qtbot, make_worker, monkeypatch):
    monkeypatch.setenv("DREAMER_DUMMY_FAULT", "nan:40")  # NaN observations from the 40th step on
    worker = make_worker(config=debug_config("dummy_cont", "proprio", train_fill=32, nonfinite_limit=60))
    errors = []
    worker.errored.connect(lambda *args: errors.append(args))  # connected first: the pause may come quickly
    worker.start()
    qtbot.waitUntil(lambda: "updates skipped (non-finite)" in worker.status.get()[1].message, timeout=120_000)
    qtbot.waitUntil(lambda: len(errors) > 0, timeout=60_000)
    title, message, _ = errors[0]
    assert title == "Training stopped" and "60 updates in a row were non-finite" in message and "loss/" in message
    qtbot.waitUntil(lambda: worker.status.get()[1].phase == "paused", timeout=10_000)
    assert worker.trainer.agent.skipped_updates >= 60
