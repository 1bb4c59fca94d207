"""The replay browser tab on a real (tiny) run: it lists replay's episodes, and one becomes the report's context."""

from __future__ import annotations

import numpy as np

from dreamer_core.envs.dummy import EPISODE_LENGTH
from dreamer_core.replay import replay_episodes
from dreamer_studio import commands as cmd

from .helpers import debug_config, report_now


def test_the_browser_lists_replays_episodes_and_one_becomes_the_report(qtbot, make_window):
    window = make_window(debug_config(), paused=True)
    qtbot.waitUntil(lambda: window.worker.info is not None, timeout=30_000)
    worker = window.worker
    steps = 2 * EPISODE_LENGTH + 10  # two ended episodes and one in flight
    for _ in range(steps):
        worker.send(cmd.Step())
    qtbot.waitUntil(lambda: worker.status.get()[1].agent_steps >= steps, timeout=60_000)
    report_now(qtbot, worker)  # the list comes with a report
    panel = window.replay_browser
    window.tabs.setCurrentWidget(panel)
    qtbot.waitUntil(lambda: panel.table.rowCount() > 0, timeout=10_000)
    tr = worker.trainer  # paused: the trainer thread is not writing replay now
    expected = replay_episodes(tr.replay, tr.counters.env_frames, len(tr.envs) * tr.config.env.action_repeat)
    assert panel.table.rowCount() == len(expected) >= 3
    assert panel.episodes == list(reversed(expected))  # newest first
    cells = [[panel.table.item(r, c).text() for c in (2, 3, 5)] for r in range(panel.table.rowCount())]
    assert [c[0] for c in cells] == [str(e.length) for e in panel.episodes]
    assert [c[1] for c in cells] == [f"{e.ret:.2f}" for e in panel.episodes]
    assert cells[0][2] == "in flight" and cells[-1][2] == "ended"
    assert [e.ret for e in expected if e.ended] == [s for _, s in tr.scores]

    row = next(r for r, e in enumerate(panel.episodes) if e.ended and e.start > 0)  # not the newest window
    chosen = panel.episodes[row]
    assert panel.choose(row)
    qtbot.waitUntil(lambda: panel.pending is None, timeout=20_000)
    qtbot.waitUntil(lambda: window.model.current()[0] is not None
                    and window.model.current()[0].report.episode == (chosen.worker, chosen.start), timeout=5_000)
    entry, _ = window.model.current()
    assert not window.model.follow  # pinned on screen
    report = entry.report
    rows = chosen.worker * tr.replay.cap + np.arange(chosen.start, chosen.start + len(report.rewards))  # (L,)
    np.testing.assert_array_equal(report.real, tr.replay.data["image"][rows])  # that episode's frames
    assert report.is_first[0] and not report.is_first[1:].any()
    np.testing.assert_array_equal(report.rewards, tr.replay.data["reward"][rows])
