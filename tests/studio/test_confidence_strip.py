"""The hallucination strip under the imagination panel: values for a real report, markers over the threshold."""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pytest

from dreamer_core import confidence
from dreamer_core.trainer import Trainer
from dreamer_studio.panels.imagination import ImaginationPanel
from dreamer_studio.session import ImagineSettings, ReportEntry, View, reports_own_result

from .helpers import debug_config


@pytest.fixture(scope="module")
def report():
    trainer = Trainer(debug_config("dummy_disc", "vision"))
    try:
        made = None
        while made is None:
            trainer.step()
            made = trainer.report()
        return made
    finally:
        trainer.close()


@pytest.fixture
def panel(qtbot):
    """A shown panel, held until the test's teardown closes it (pytest-qt holds its widgets weakly)."""
    panel = ImaginationPanel(ImagineSettings())
    qtbot.addWidget(panel)
    panel.resize(900, 700)
    panel.show()
    qtbot.waitExposed(panel)
    yield panel
    panel.close()
    panel.deleteLater()


def _show(panel, report, t=0, entry_id=1):
    entry = ReportEntry(entry_id, report, report.start.stoch[0].cpu().numpy(), time.time())
    panel.refresh(View(entry=entry, result=None, t=t), force=True)


def test_the_strip_shows_the_observed_kl_then_the_spread_of_the_dreams(qtbot, panel, report):
    _show(panel, report, t=report.context_len + 1)
    strip, ctx = panel.recheck, report.context_len
    assert set(strip.series) == {"observed", "dreams"}  # no edit: no edited series
    horizon = report.imagination.frames.shape[1]
    np.testing.assert_allclose(strip.series["observed"][:ctx], report.kl[:ctx].sum(-1), rtol=1e-6)
    assert np.isnan(strip.series["observed"][ctx:]).all() and np.isnan(strip.series["dreams"][:ctx]).all()
    np.testing.assert_array_equal(strip.series["dreams"][ctx : ctx + horizon],
                                  confidence.spread(report.imagination.frames))
    assert strip.curves["observed"].isVisible() and len(strip.curves["observed"].xData) == ctx
    assert strip.curves["dreams"].isVisible() and len(strip.curves["dreams"].xData) == horizon
    assert not strip.curves["edited"].isVisible()
    assert strip.cursor.value() == ctx + 1 and strip.line.value() == confidence.THRESHOLD
    assert "spread of the K dreams" in strip.toolTip() and f"over {confidence.THRESHOLD:g}" in strip.toolTip()
    assert "spread of the 3 dreams (right)" in strip.legend.entries[1]
    _show(panel, report, t=2)  # the cursor moves the strip's cursor, nothing else
    assert strip.cursor.value() == 2


def _with_frames(report, frames):
    return dataclasses.replace(report, imagination=dataclasses.replace(report.imagination, frames=frames))


def test_a_step_over_the_threshold_gets_a_marker_and_a_box_around_its_filmstrip_column(qtbot, panel, report):
    ctx = report.context_len
    same = np.repeat(report.imagination.frames[:1], report.imagination.frames.shape[0], 0)  # (M, H, h, w, 3)
    calm = _with_frames(report, same)  # every dream the same: spread 0 everywhere
    _show(panel, calm)
    strip = panel.recheck
    assert strip.flags == [] and len(strip.markers.data) == 0 and strip._boxes == []
    assert (strip.series["dreams"][ctx:] == 0).all()
    loud = same.copy()
    loud[1, 3] = 255 - loud[1, 3]  # dream 2 draws another frame at imagined step 4: the dreams disagree there
    _show(panel, _with_frames(calm, loud), entry_id=2)
    assert strip.flags == [("dreams", ctx + 3)]
    assert strip.series["dreams"][ctx + 3] > confidence.THRESHOLD
    assert len(strip.markers.data) == 1 and strip.markers.data["x"][0] == ctx + 3
    assert "1 imagined step(s)" in strip.legend.entries[-1]
    (box,) = strip._boxes
    w, h = panel.grid.filmstrip_cell()
    keys = [key for key, _ in panel.grid.rows()]
    first, k = keys.index("openloop"), loud.shape[0]
    assert box.rect().x() == pytest.approx((ctx + 3) * w - 0.5) and box.rect().y() == pytest.approx(first * h - 0.5)
    assert box.rect().height() == pytest.approx((1 + k) * h - 4)  # the open loop and the K dreams at that step
    assert box.scene() is panel.strip.box.scene()
    # A context step with a large KL is an observed frame, never flagged as made up.
    kl = calm.kl.copy()
    kl[0] = confidence.THRESHOLD  # summed over latents: far over the threshold
    _show(panel, dataclasses.replace(calm, kl=kl), entry_id=3)
    assert strip.flags == [] and strip.series["observed"][0] > confidence.THRESHOLD


def test_one_dream_has_no_spread_and_the_legend_says_so(qtbot, panel, report):
    one = _with_frames(report, report.imagination.frames[:1])
    one = dataclasses.replace(one, imagination=dataclasses.replace(one.imagination,
                                                                   rewards=report.imagination.rewards[:1]))
    _show(panel, one)
    strip = panel.recheck
    assert np.isnan(strip.series["dreams"]).all() and strip.flags == []
    assert not strip.curves["dreams"].isVisible()
    assert "no spread: it needs 2+ imagined frames per step" in strip.legend.entries[1]


def test_edited_futures_get_their_own_spread_and_boxes_on_the_edited_rows(qtbot, panel, report):
    ctx, base = report.context_len, report.imagination
    same = np.repeat(base.frames[:1], base.frames.shape[0], 0)  # (M, H, h, w, 3): the dreams agree
    loud = same.copy()
    loud[0, 5] = 255 - loud[0, 5]  # the edited futures disagree at imagined step 6 only
    calm_base = dataclasses.replace(base, frames=same)
    result = reports_own_result(1, report)
    result = dataclasses.replace(result, base=calm_base, edited=dataclasses.replace(base, frames=loud),
                                 edits=((0, 1),))
    entry = ReportEntry(1, report, report.start.stoch[0].cpu().numpy(), time.time())
    panel.refresh(View(entry=entry, result=result, t=0), force=True)
    strip = panel.recheck
    assert set(strip.series) == {"observed", "dreams", "edited"} and strip.curves["edited"].isVisible()
    np.testing.assert_array_equal(strip.series["edited"][ctx:ctx + loud.shape[1]], confidence.spread(loud))
    assert strip.flags == [("edited", ctx + 5)]
    (box,) = strip._boxes
    w, h = panel.grid.filmstrip_cell()
    keys = [key for key, _ in panel.grid.rows()]
    assert box.rect().y() == pytest.approx(keys.index("edited0") * h - 0.5)
    assert box.rect().height() == pytest.approx(loud.shape[0] * h - 4)  # the K edited rows, not the dreams
