"""The latent map tab on a real (tiny) run: one point per report step, branches per future, the cursor ringed."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg

from .helpers import debug_config, wait_report


def test_the_map_draws_one_point_per_step_and_rings_the_cursor(qtbot, make_window):
    window = make_window(debug_config())
    entry, result = wait_report(qtbot, window)
    panel = window.latent_map
    assert panel.renders == 0  # a hidden tab is not drawn
    qtbot.waitUntil(lambda: panel.pca.n >= len(entry.report.rewards), timeout=5_000)  # but reports are fitted
    assert panel.renders == 0 and panel.points is None
    window.tabs.setCurrentWidget(panel)
    qtbot.waitUntil(lambda: panel.points is not None, timeout=15_000)
    entry, result = window.model.current()
    report = entry.report
    length, ctx = len(report.rewards), report.context_len
    k, horizon = result.base.rewards.shape
    assert len(panel.real_scatter.data) == length  # one point per real step
    assert len(panel.dream_scatter.data) == k * horizon  # and one per imagined step
    assert len(panel.branches) == k
    np.testing.assert_allclose(panel.points.real, panel.pca.transform(report.features), atol=1e-5)
    assert panel.pca.n >= length
    # Each branch starts at the real step where imagination starts, then follows its dream.
    branch = np.stack(panel.branches[0].getData(), 1)  # (H+1, 2)
    np.testing.assert_allclose(branch[0], panel.points.real[ctx - 1])
    np.testing.assert_allclose(branch[1:], panel.points.imagined[0])

    window.model.set_t(2)
    qtbot.waitUntil(lambda: panel.drawn_key is not None and panel.drawn_key[2] == 2, timeout=5_000)
    assert panel.cursor_points["real"] == tuple(panel.points.real[2]) and "imagined" not in panel.cursor_points
    ring = panel.cursor_real.data
    assert len(ring) == 1 and (ring["x"][0], ring["y"][0]) == panel.cursor_points["real"]
    window.model.set_t(ctx + 1)  # the second imagined step (of the dream the critic follows: sample 0)
    qtbot.waitUntil(lambda: panel.drawn_key[2] == ctx + 1, timeout=5_000)
    assert panel.cursor_points["imagined"] == tuple(panel.points.imagined[0, 1])
    assert len(panel.cursor_dream.data) == 1

    # Colour by time: along the report; by predicted return: each real step's λ-return, each dream step's.
    np.testing.assert_array_equal(panel.colour_values[0], np.arange(length))
    before = panel.renders
    panel.colour.setCurrentText("predicted return")
    assert panel.renders == before + 1
    np.testing.assert_allclose(panel.colour_values[0], report.returns)
    np.testing.assert_allclose(panel.colour_values[1].reshape(k, horizon)[:, :-1], result.base.returns)
    lo, hi = panel.colour_range
    cmap = pg.colormap.get("viridis")
    for i in (int(report.returns.argmin()), int(report.returns.argmax())):
        expected = cmap.map(np.clip([(report.returns[i] - lo) / max(hi - lo, 1e-9)], 0, 1), mode="qcolor")[0]
        assert panel.real_scatter.data["brush"][i].color().name() == expected.name()
