"""The hallucination strip under the imagination panel: values for a real report, markers over the threshold."""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pytest

from dreamer_core import confidence
from dreamer_core.trainer import Trainer
from dreamer_studio.panels.imagination import ImaginationPanel
from dreamer_studio.session import ImagineSettings, ReportEntry, View

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


def test_the_strip_shows_the_observed_kl_then_the_recheck_of_every_imagined_row(qtbot, panel, report):
    _show(panel, report, t=report.context_len + 1)
    strip, ctx = panel.recheck, report.context_len
    k = report.imagination.rewards.shape[0]
    assert set(strip.series) == {"openloop", *(f"dream{i}" for i in range(k))}
    horizon = report.imagined_recheck.shape[1]
    np.testing.assert_allclose(strip.series["openloop"][:ctx], report.kl[:ctx].sum(-1), rtol=1e-6)
    np.testing.assert_array_equal(strip.series["openloop"][ctx : ctx + horizon], report.imagined_recheck[0])
    np.testing.assert_array_equal(strip.series["dream1"][ctx : ctx + horizon], report.imagination.recheck[1])
    assert sorted(strip.curves) == sorted(strip.series)
    assert all(c.isVisible() and len(c.xData) > ctx for c in strip.curves.values())
    assert strip.cursor.value() == ctx + 1 and strip.line.value() == confidence.THRESHOLD
    assert "re-encoding" in strip.toolTip() and f"{confidence.THRESHOLD:g} nats" in strip.toolTip()
    _show(panel, report, t=2)  # the cursor moves the strip's cursor, nothing else
    assert strip.cursor.value() == 2


def test_a_step_over_the_threshold_gets_a_marker_and_a_box_on_its_filmstrip_tile(qtbot, panel, report):
    ctx = report.context_len
    calm = dataclasses.replace(
        report, imagined_recheck=np.zeros_like(report.imagined_recheck),
        imagination=dataclasses.replace(report.imagination, recheck=np.zeros_like(report.imagination.recheck)))
    _show(panel, calm)
    strip = panel.recheck
    assert strip.flags == [] and len(strip.markers.data) == 0 and strip._boxes == []
    hot = calm.imagination.recheck.copy()
    hot[1, 3] = confidence.THRESHOLD + 1.0  # dream 2, imagined step 4
    loud = dataclasses.replace(calm, imagination=dataclasses.replace(calm.imagination, recheck=hot))
    _show(panel, loud, entry_id=2)
    assert strip.flags == [("dream1", ctx + 3)]
    assert len(strip.markers.data) == 1 and strip.markers.data["x"][0] == ctx + 3
    assert "1 imagined step(s)" in strip.legend.entries[-1]
    (box,) = strip._boxes
    w, h = panel.grid.filmstrip_cell()
    row = [key for key, _ in panel.grid.rows()].index("dream1")
    assert box.rect().x() == pytest.approx((ctx + 3) * w - 0.5) and box.rect().y() == pytest.approx(row * h - 0.5)
    assert box.scene() is panel.strip.box.scene()
    # A context step over the threshold is an observed frame, never flagged as made up.
    kl = calm.kl.copy()
    kl[0] = confidence.THRESHOLD  # summed over latents: far over the threshold
    _show(panel, dataclasses.replace(calm, kl=kl), entry_id=3)
    assert strip.flags == [] and strip.series["dream0"][0] > confidence.THRESHOLD
