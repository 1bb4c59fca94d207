"""The Sweep view (issue 16 §3): one future per choice of the first action, from the step under the time cursor."""

from __future__ import annotations

import numpy as np

from dreamer_core import cursor, play, sweep, video
from dreamer_studio import imagine, theme

from .helpers import debug_config, fill_and_report, wait_report


def _sweep_tab(qtbot, make_window, task):
    window = make_window(debug_config(task, "vision" if task == "dummy_disc" else "proprio"), paused=True)
    qtbot.waitUntil(lambda: window.worker.info is not None, timeout=30_000)
    fill_and_report(qtbot, window.worker)
    entry, _ = wait_report(qtbot, window)
    window.tabs.setCurrentWidget(window.sweep)
    panel = window.sweep
    # The sweep of the report on screen (a report made meanwhile replaces the one above: the view follows it).
    qtbot.waitUntil(lambda: panel.result_key is not None and panel.result_key[0] == window.model.current()[0].id,
                    timeout=20_000)
    entry = window.model.current()[0]
    return window, entry, panel


def _sweep_at(qtbot, window, panel, t):
    """Moves the time cursor to `t` and waits for the sweep from there."""
    window.model.set_t(t)
    qtbot.waitUntil(lambda: panel.result_key is not None and panel.result_key[4] == t, timeout=20_000)
    return panel.result


def _report_agent(window, entry):
    """A CPU agent with the weights that made the report on screen."""
    tr = window.worker.trainer
    weights = imagine.kept_weights(tr.agent, entry.id)
    assert weights is not None  # the debug model is small enough to keep them
    return play.player_agent(tr.config, tr.agent.obs_space, tr.agent.act_space, weights)


def test_the_sweep_shows_one_future_per_discrete_action_with_its_predicted_return(qtbot, make_window):
    window, entry, panel = _sweep_tab(qtbot, make_window, "dummy_disc")
    futures = _sweep_at(qtbot, window, panel, entry.report.context_len - 1).futures  # the report's start
    assert [f.choice for f in futures] == [0.0, 1.0, 2.0]  # dummy_disc has 3 actions
    assert len(panel.captions) == 3 and len(panel.views) == 3
    for i, (label, f) in enumerate(zip(panel.captions, futures)):
        assert f"action {i + 1}" in label.text() and f"predicted return {f.predicted_return:+.3f}" in label.text()
        np.testing.assert_array_equal(f.actions[0], np.eye(3, dtype=np.float32)[i])
        # Frames of this future, framed, drawn to fill the view's width or height (and no more).
        image, (width, height) = panel.views[i].image.image, panel.views[i].available()
        assert image.shape[1] <= width and image.shape[0] <= height
        assert max(image.shape[1] / width, image.shape[0] / height) > 0.9
        assert tuple(image[0, 0]) in (video.IMAGINED, theme.rgb(theme.CURSOR))
    best = max(futures, key=lambda f: f.predicted_return)
    assert sum(label.text().startswith("★") for label in panel.captions) == 1
    assert panel.captions[futures.index(best)].text().startswith("★")
    # The same sweep as the core's on the report's own weights and start latent: the view shows the real thing.
    copy = _report_agent(window, entry)
    start = entry.report.start
    start = type(start)(start.deter.cpu(), start.stoch.cpu())
    again = sweep.sweep(copy, start, horizon=panel.horizon.value(), seed=panel.seed.value())
    for a, b in zip(again.futures, futures):
        np.testing.assert_array_equal(a.frames, b.frames)
        assert a.predicted_return == b.predicted_return
    # Another seed sweeps again, off the GUI thread.
    panel.seed.setValue(5)
    qtbot.waitUntil(lambda: panel.result_key[:4] == (entry.id, panel.horizon.value(), 5, -1), timeout=20_000)
    assert panel.result.seed == 5 and len(panel.captions) == 3


def test_the_sweep_branches_from_the_step_under_the_time_cursor_with_the_same_seed(qtbot, make_window):
    window, entry, panel = _sweep_tab(qtbot, make_window, "dummy_disc")
    report, copy = entry.report, _report_agent(window, entry)
    seed, horizon = panel.seed.value(), panel.horizon.value()
    imagination = window.model.current()[1].base
    for t in (0, report.context_len + 2):  # a context step, then imagined step 3 of the dream the panels follow
        shown = _sweep_at(qtbot, window, panel, t)
        origin = cursor.state_at(report, imagination, t, window.model.sample)
        assert shown.origin.t == t and shown.origin.imagined == origin.imagined
        assert origin.describe() in panel.caption.text()
        again = sweep.sweep(copy, origin.latent, horizon=horizon, seed=seed)  # that step, the panel's seed
        for a, b in zip(again.futures, shown.futures):
            np.testing.assert_array_equal(a.frames, b.frames)
            np.testing.assert_array_equal(a.actions, b.actions)
        # Same seed elsewhere: the futures differ only in the first action's choice.
        assert [int(f.actions[0].argmax()) for f in shown.futures] == [0, 1, 2]
    at_start = sweep.sweep(copy, cursor.posterior_at(report, report.context_len - 1), horizon=horizon, seed=seed)
    assert not np.array_equal(at_start.futures[0].frames, shown.futures[0].frames)  # it branched elsewhere


def test_a_continuous_proprio_task_sweeps_one_dimension_and_plots_vectors(qtbot, make_window):
    _, _, panel = _sweep_tab(qtbot, make_window, "dummy_cont")
    assert [f.choice for f in panel.result.futures] == list(sweep.DEFAULT_VALUES)
    assert panel.result.dim == 0 and panel.dim.count() >= 1 and panel.dim.isEnabled()
    assert len(panel.views) == len(sweep.DEFAULT_VALUES) and all(f.frames is None for f in panel.result.futures)
    assert "a[0] = -1.0" in panel.captions[0].text()
    curves = panel.views[0].plotItem.listDataItems()
    assert len(curves) >= 1 and len(curves[0].xData) == panel.horizon.value()
