"""The trainer thread: lifecycle, pause / step / resume in place, imagination with latent edits."""

from __future__ import annotations

import time

import numpy as np

from dreamer_studio import commands as cmd
from dreamer_studio.session import ImagineSettings


def _fill_and_report(qtbot, worker):
    """Single-steps until replay holds a report window, then asks for a report (the run stays paused)."""
    steps = worker.config.run.report_length + worker.config.train.replay_context + 2
    for _ in range(steps):
        worker.send(cmd.Step())
    with qtbot.waitSignal(worker.report_ready, timeout=20_000) as blocker:
        worker.send(cmd.ReportNow())
    return blocker.args[0]


def test_lifecycle_signals_in_order(qtbot, make_worker):
    worker = make_worker()
    with qtbot.waitSignals([worker.ready, worker.report_ready, worker.training_started], order="strict",
                           timeout=60_000):
        worker.start()
    assert worker.info.device == "cpu" and worker.info.discrete
    qtbot.waitUntil(lambda: worker.status.get()[1].phase == "training", timeout=5_000)
    assert worker.status.get()[1].agent_steps >= worker.trainer.train_fill
    with qtbot.waitSignals([worker.stopped, worker.finished], order="strict", timeout=30_000):
        worker.request_stop()
    worker.wait()
    assert worker.status.get()[1].phase == "stopped"


def test_pause_single_step_resume(qtbot, make_worker):
    worker = make_worker(paused=True)
    with qtbot.waitSignals([worker.ready, worker.paused], order="strict", timeout=30_000):
        worker.start()
    time.sleep(0.3)
    assert worker.trainer.counters.agent_steps == 0  # paused from the start: nothing ran
    with qtbot.waitSignal(worker.stepped, timeout=10_000) as blocker:
        worker.send(cmd.Step())
    assert blocker.args == [1]
    time.sleep(0.2)
    assert worker.status.get()[1].agent_steps == 1 and worker.status.get()[1].paused
    with qtbot.waitSignal(worker.resumed, timeout=10_000):
        worker.send(cmd.Resume())
    qtbot.waitUntil(lambda: worker.status.get()[1].agent_steps > 5, timeout=20_000)
    with qtbot.waitSignal(worker.paused, timeout=10_000):
        worker.send(cmd.Pause())
    time.sleep(0.1)
    frozen = worker.status.get()[1].agent_steps
    time.sleep(0.3)
    assert worker.status.get()[1].agent_steps == frozen  # pause held, in place


def test_latent_edit_changes_future_and_seed_reproduces(qtbot, make_worker):
    worker = make_worker(paused=True)
    with qtbot.waitSignal(worker.ready, timeout=30_000):
        worker.start()
    report_id = _fill_and_report(qtbot, worker)
    entry, _ = worker.reports.get(report_id)
    s = 0
    current = int(entry.start_stoch[s].argmax())
    edit = ((s, (current + 1) % entry.start_stoch.shape[1]),)
    settings = ImagineSettings(horizon=6, samples=2, seed=7)

    def ask(edits, request_id):
        with qtbot.waitSignal(worker.imagined, timeout=10_000):
            worker.send(cmd.Imagine(report_id, settings, edits, request_id))
        _, result = worker.reports.get(report_id)
        assert result.request_id == request_id
        return result

    first = ask(edit, 1)
    assert first.edited is not None and first.base.frames.shape == (2, 6, 64, 64, 3)
    assert not np.array_equal(first.base.frames, first.edited.frames)  # the edit changes the imagined frames
    again = ask(edit, 2)
    np.testing.assert_array_equal(again.edited.frames, first.edited.frames)  # same seed, same future
    np.testing.assert_array_equal(again.base.frames, first.base.frames)
    worker.send(cmd.Imagine(report_id, ImagineSettings(horizon=6, samples=1, seed=7, source="replayed"), (), 4))
    qtbot.waitUntil(lambda: worker.reports.get(report_id)[1].request_id == 4, timeout=10_000)
    assert worker.reports.get(report_id)[1].actions.shape == (6, 3)


def test_exception_in_worker_pauses_and_run_survives(qtbot, make_worker):
    worker = make_worker()
    with qtbot.waitSignal(worker.ready, timeout=30_000):
        worker.start()
    with qtbot.waitSignal(worker.errored, timeout=10_000) as blocker:
        worker.send(cmd.Fail("boom"))
    title, message, details = blocker.args
    qtbot.waitUntil(lambda: worker.status.get()[1].paused, timeout=5_000)
    assert "boom" in message and "RuntimeError" in details
    assert worker.status.get()[1].paused
    with qtbot.waitSignal(worker.resumed, timeout=10_000):
        worker.send(cmd.Resume())
    steps = worker.status.get()[1].agent_steps
    qtbot.waitUntil(lambda: worker.status.get()[1].agent_steps > steps + 3, timeout=20_000)
