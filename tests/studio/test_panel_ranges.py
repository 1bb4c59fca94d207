"""Plot ranges and headers that follow the run on screen: the score plot's x-axis, a watched run's rates, and the
proprio bars' robust y-range."""

import numpy as np

from dreamer_studio.panels.losses import SCORE_PLOT, LossesPanel, rates_text, score_span
from dreamer_studio.panels.vector_bars import VectorBars, robust_limit
from dreamer_studio.phase import Phase
from dreamer_studio.session import Status, View


def test_score_axis_spans_the_runs_frames_not_the_official_curve(qtbot):
    assert score_span(32_150) == 50_000 and score_span(0) == 10_000
    rows = [{"step": 1000.0 * i, "episode/score": 300.0} for i in range(1, 33)]
    losses = LossesPanel()
    qtbot.addWidget(losses)
    losses.refresh(View(status=Status(), metrics_version=1, metrics=rows), force=True)
    low, high = losses.plots[SCORE_PLOT][0].getViewBox().viewRange()[0]
    assert low < 1_000 and 50_000 <= high < 60_000


def test_a_watched_run_shows_its_own_logged_rates_or_none():
    watching = Status(phase=Phase.WATCHING, update_fps=0.0, policy_fps=0.0)
    logged = [{"step": 1.0, "fps/updates": 0.513, "fps/policy": 2.05}, {"step": 2.0, "train/loss/dyn": 1.0}]
    assert rates_text(View(status=watching, metrics=logged)) == "0.51 updates/s · 2.0 env steps/s · "
    assert rates_text(View(status=watching, metrics=logged[1:])) == ""  # not the viewer's own 0.00
    training = Status(phase=Phase.TRAINING, update_fps=1.5, policy_fps=6.0)
    assert rates_text(View(status=training, metrics=logged)) == "1.50 updates/s · 6.0 env steps/s · "


def test_one_large_dimension_is_cut_and_marked_not_stretching_the_bars(qtbot):
    real = np.tile(np.array([0.1, -0.2, 0.3, 0.05, -6.0], np.float32), (4, 1))  # (T, D)
    decoded = real * 0.9
    assert robust_limit(real) < 1.0
    bars = VectorBars()
    qtbot.addWidget(bars)
    bars.show_step(real, decoded, 1, ["position", "velocity"])
    assert np.abs(bars.real_bars.opts["height"]).max() <= bars.limit
    assert len(bars.clip_marks.data) == 2  # dimension 4, real and decoded
    assert "dim 4 past" in bars.legend.entries[-1] and "real" in bars.legend.entries[0]
    x_low, x_high = bars.plot.getViewBox().viewRange()[0]
    assert x_low <= -0.5 and x_high >= 4.5  # the last dimension's bars inside the plot
    assert bars.plot.plotItem.titleLabel.text == "step 2"


def test_kl_heat_map_repaints_whole_so_no_stale_label_piece_stays(qtbot):
    from PySide6.QtWidgets import QGraphicsView

    from dreamer_studio.panels.kl import KLPanel

    kl = KLPanel()
    qtbot.addWidget(kl)
    assert kl.heat.viewportUpdateMode() == QGraphicsView.ViewportUpdateMode.FullViewportUpdate


def test_the_latents_heat_maps_repaint_whole_as_the_kl_heat_map_does(qtbot):
    """Posterior, prior and start latent share the KL heat map's layout (an image under a rotated axis label)."""
    from PySide6.QtWidgets import QGraphicsView

    from dreamer_studio.panels.latents import LatentsPanel

    latents = LatentsPanel()
    qtbot.addWidget(latents)
    for plot in (latents.post, latents.prior, latents.start):
        assert plot.viewportUpdateMode() == QGraphicsView.ViewportUpdateMode.FullViewportUpdate
