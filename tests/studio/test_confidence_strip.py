"""The hallucination strip under the imagination panel: values for a real report, markers over the thresholds, boxes
on the filmstrip rows they speak for."""

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


def _first_report(task: str, obs: str):
    trainer = Trainer(debug_config(task, obs))
    try:
        made = None
        while made is None:
            trainer.step()
            made = trainer.report()
        return made
    finally:
        trainer.close()


@pytest.fixture(scope="module")
def report():
    return _first_report("dummy_disc", "vision")


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


def test_the_strip_shows_the_observed_kl_then_the_open_loops_signal_and_the_spread_of_the_dreams(qtbot, panel,
                                                                                                 report):
    _show(panel, report, t=report.context_len + 1)
    strip, ctx = panel.confidence, report.context_len
    assert set(strip.series) == {"observed", "openloop", "dreams"}  # no edit: no edited series
    horizon = report.imagination.frames.shape[1]
    np.testing.assert_allclose(strip.series["observed"][:ctx], report.kl[:ctx].sum(-1), rtol=1e-6)
    assert np.isnan(strip.series["observed"][ctx:]).all() and np.isnan(strip.series["dreams"][:ctx]).all()
    np.testing.assert_array_equal(strip.series["dreams"][ctx : ctx + horizon],
                                  confidence.spread(report.imagination.frames))
    np.testing.assert_array_equal(strip.series["openloop"][ctx : ctx + len(report.openloop)], report.openloop_signal)
    assert np.isnan(strip.series["openloop"][:ctx]).all()
    assert strip.curves["observed"].isVisible() and len(strip.curves["observed"].xData) == ctx
    assert strip.curves["dreams"].isVisible() and len(strip.curves["dreams"].xData) == horizon
    assert strip.curves["openloop"].isVisible() and len(strip.curves["openloop"].xData) == len(report.openloop)
    assert not strip.curves["edited"].isVisible()
    assert strip.cursor.value() == ctx + 1 and strip.line.value() == confidence.THRESHOLD
    assert strip.openloop_line.value() == confidence.OPENLOOP_THRESHOLD and strip.openloop_line.isVisible()
    tip = strip.toolTip()
    assert "spread of the K dreams" in tip and f"over {confidence.THRESHOLD:g}" in tip
    assert f"over {confidence.OPENLOOP_THRESHOLD:g} ({confidence.OPENLOOP_VECTOR_THRESHOLD:g} on vectors)" in tip
    assert "open loop vs 3 futures on its actions (right)" in strip.legend.entries[1]
    assert "spread of the 3 dreams (right)" in strip.legend.entries[2]
    _show(panel, report, t=2)  # the cursor moves the strip's cursor, nothing else
    assert strip.cursor.value() == 2


def _with_frames(report, frames, openloop_signal=None):
    """The report with these dreams, and an open-loop signal of `openloop_signal` (zeros by default: calm)."""
    signal = np.zeros(len(report.openloop), np.float32) if openloop_signal is None else openloop_signal
    return dataclasses.replace(report, imagination=dataclasses.replace(report.imagination, frames=frames),
                               openloop_signal=signal)


def test_a_step_over_the_threshold_gets_a_marker_and_a_box_around_its_dream_cells(qtbot, panel, report):
    ctx = report.context_len
    same = np.repeat(report.imagination.frames[:1], report.imagination.frames.shape[0], 0)  # (M, H, h, w, 3)
    calm = _with_frames(report, same)  # every dream the same: spread 0 everywhere; the open loop's signal 0
    _show(panel, calm)
    strip = panel.confidence
    assert strip.flags == [] and len(strip.markers.data) == 0 and strip._boxes == []
    assert (strip.series["dreams"][ctx:] == 0).all()
    loud = same.copy()
    loud[1, 3] = 255 - loud[1, 3]  # dream 2 draws another frame at imagined step 4: the dreams disagree there
    _show(panel, _with_frames(calm, loud), entry_id=2)
    assert strip.flags == [("dreams", ctx + 3)]
    assert strip.series["dreams"][ctx + 3] > confidence.THRESHOLD
    assert len(strip.markers.data) == 1 and strip.markers.data["x"][0] == ctx + 3
    assert len(strip.openloop_markers.data) == 0
    assert "1 imagined step(s)" in strip.legend.entries[-1] and "0 step(s)" in strip.legend.entries[-2]
    (box,) = strip._boxes
    w, h = panel.grid.filmstrip_cell()
    keys = [key for key, _ in panel.grid.rows()]
    first, k = keys.index("dream0"), loud.shape[0]
    assert box.rect().x() == pytest.approx((ctx + 3) * w - 0.5) and box.rect().y() == pytest.approx(first * h - 0.5)
    assert box.rect().height() == pytest.approx(k * h - 4)  # the K dreams at that step, not the open loop
    assert box.scene() is panel.strip.box.scene()
    # A context step with a large KL is an observed frame, never flagged as made up.
    kl = calm.kl.copy()
    kl[0] = confidence.THRESHOLD  # summed over latents: far over the threshold
    _show(panel, dataclasses.replace(calm, kl=kl), entry_id=3)
    assert strip.flags == [] and strip.series["observed"][0] > confidence.THRESHOLD


def test_open_loop_steps_over_their_threshold_are_marked_and_boxed_on_the_open_loop_row(qtbot, panel, report):
    ctx, line = report.context_len, confidence.OPENLOOP_THRESHOLD
    same = np.repeat(report.imagination.frames[:1], report.imagination.frames.shape[0], 0)  # calm dreams
    signal = np.zeros(len(report.openloop), np.float32)
    signal[[1, 5]] = [line + 0.01, 4 * line]  # over the threshold at open-loop steps 2 and 6
    signal[3] = line  # at the threshold: not over it
    signal[4] = confidence.THRESHOLD + 1  # over the dreams' threshold, not the open loop's
    _show(panel, _with_frames(report, same, signal))
    strip = panel.confidence
    assert strip.flags == [("openloop", ctx + 1), ("openloop", ctx + 5)]
    assert list(strip.openloop_markers.data["x"]) == [ctx + 1, ctx + 5] and len(strip.markers.data) == 0
    assert "open loop over" in strip.legend.entries[-2] and "2 step(s)" in strip.legend.entries[-2]
    w, h = panel.grid.filmstrip_cell()
    row = [key for key, _ in panel.grid.rows()].index("openloop")
    assert [(b.rect().x(), b.rect().y(), b.rect().height()) for b in strip._boxes] == [
        pytest.approx(((ctx + s) * w - 0.5, row * h - 0.5, h - 4)) for s in (1, 5)]  # the open-loop row only
    # A report from before the signal existed: no series values, no flags, and the legend says why.
    _show(panel, dataclasses.replace(report, openloop_signal=None), entry_id=2)
    assert np.isnan(strip.series["openloop"]).all() and not strip.curves["openloop"].isVisible()
    assert not any(key == "openloop" for key, _ in strip.flags) and not strip.openloop_line.isVisible()
    assert "no open-loop signal: the report predates it" in strip.legend.entries[1]


def test_the_strips_layout_does_not_move_when_its_content_changes(qtbot, panel, report):
    strip = panel.confidence
    _show(panel, _with_frames(report, report.imagination.frames))
    qtbot.wait(20)
    before = (strip.geometry(), strip.plot.plotItem.vb.sceneBoundingRect(), strip.legend.geometry())
    loud = np.full(len(report.openloop), 1e4, np.float32)  # five-digit values on the right axis, flags everywhere
    _show(panel, _with_frames(report, report.imagination.frames, loud), entry_id=2)
    qtbot.wait(20)
    assert len(strip.flags) >= len(loud)
    assert (strip.geometry(), strip.plot.plotItem.vb.sceneBoundingRect(), strip.legend.geometry()) == before


def test_a_vector_model_shows_the_open_loops_signal_on_the_replays_scale_and_says_it_shows_no_spread(qtbot, panel):
    vectors = _first_report("dummy_cont", "proprio")
    assert vectors.openloop is None and vectors.openloop_signal.shape == (len(vectors.openloop_vectors),)
    _show(panel, vectors)
    strip, ctx = panel.confidence, vectors.context_len
    np.testing.assert_array_equal(strip.series["openloop"][ctx : ctx + len(vectors.openloop_vectors)],
                                  vectors.openloop_signal)
    assert strip.openloop_threshold == confidence.OPENLOOP_VECTOR_THRESHOLD
    assert strip.openloop_line.value() == confidence.OPENLOOP_VECTOR_THRESHOLD and not strip.line.isVisible()
    over = vectors.openloop_signal > confidence.OPENLOOP_VECTOR_THRESHOLD
    assert strip.flags == [("openloop", ctx + int(s)) for s in np.flatnonzero(over)]
    assert "replay-scaled" in strip.legend.entries[1]
    assert "no dream spread for vectors" in strip.legend.entries[2] and np.isnan(strip.series["dreams"]).all()
    assert not any("spread over" in entry for entry in strip.legend.entries)  # no spread, so no spread flags
    assert strip.plot.plotItem.getAxis("right").labelText == "scaled²"


def test_one_dream_has_no_spread_and_the_legend_says_so(qtbot, panel, report):
    one = _with_frames(report, report.imagination.frames[:1])
    one = dataclasses.replace(one, imagination=dataclasses.replace(one.imagination,
                                                                   rewards=report.imagination.rewards[:1]))
    _show(panel, one)
    strip = panel.confidence
    assert np.isnan(strip.series["dreams"]).all() and strip.flags == []
    assert not strip.curves["dreams"].isVisible()
    assert "no spread: it needs 2+ imagined frames per step" in strip.legend.entries[2]


def test_edited_futures_get_their_own_spread_and_boxes_on_the_edited_rows(qtbot, panel, report):
    report = _with_frames(report, report.imagination.frames)  # the open loop's signal calm: no flags of its own
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
    strip = panel.confidence
    assert set(strip.series) == {"observed", "openloop", "dreams", "edited"} and strip.curves["edited"].isVisible()
    np.testing.assert_array_equal(strip.series["edited"][ctx:ctx + loud.shape[1]], confidence.spread(loud))
    assert strip.flags == [("edited", ctx + 5)]
    (box,) = strip._boxes
    w, h = panel.grid.filmstrip_cell()
    keys = [key for key, _ in panel.grid.rows()]
    assert box.rect().y() == pytest.approx(keys.index("edited0") * h - 0.5)
    assert box.rect().height() == pytest.approx(loud.shape[0] * h - 4)  # the K edited rows, not the dreams
