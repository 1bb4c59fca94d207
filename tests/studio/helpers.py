"""Shared helpers for the studio tests."""

from __future__ import annotations


def debug_config(task: str = "dummy_disc", obs: str = "vision", **run):
    from dreamer_core.config import make_config

    return make_config(task, obs, "debug", {"run": {"device": "cpu", **run}})


def wait_report(qtbot, window, timeout=30_000):
    """The report on screen and its imagination, once both exist."""
    qtbot.waitUntil(lambda: None not in window.model.current(), timeout=timeout)
    return window.model.current()


def report_now(qtbot, worker, timeout=20_000):
    """Asks for a report and returns its id. (Waiting for `report_ready` could catch an earlier report's signal
    that was still queued.)"""
    from dreamer_studio import commands as cmd

    last = max(worker.reports.ids(), default=0)
    worker.send(cmd.ReportNow())
    qtbot.waitUntil(lambda: max(worker.reports.ids(), default=0) > last, timeout=timeout)
    return max(worker.reports.ids())


def fill_and_report(qtbot, worker):
    """Single-steps a paused worker until replay holds a report window, then asks for a report; its id."""
    from dreamer_studio import commands as cmd

    steps = worker.config.run.report_length + worker.config.train.replay_context + 2
    start = worker.status.get()[1].agent_steps
    for _ in range(steps):
        worker.send(cmd.Step())
    # The steps may make an automatic report of their own: wait until they are done.
    qtbot.waitUntil(lambda: worker.status.get()[1].agent_steps >= start + steps, timeout=20_000)
    return report_now(qtbot, worker)
