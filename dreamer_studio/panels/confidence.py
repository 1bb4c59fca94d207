"""The hallucination strip under the imagination: where is the model making things up? (dreamer_core.confidence)

Over the shared timeline: up to the end of the context, the KL of each observed frame (posterior vs prior, the
report's KL, nats on the left axis); after it, the spread of the futures imagined from the same start (the variance
of their decoded frames across the K dreams, 0-255 pixel scale on the right axis; the edited futures' own spread in
orange). Imagined steps over the threshold get a red marker here and a red box around their column of the filmstrip
(the open loop and the dreams, or the edited rows).
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QPen
from PySide6.QtWidgets import QGraphicsRectItem, QVBoxLayout, QWidget

from dreamer_core import confidence
from dreamer_studio import theme
from dreamer_studio.panels.base import LegendLabel

SPREAD_CURVE = theme.PALETTE[0]  # the dreams' spread (the edited futures' is theme.EDITED)


def tooltip(threshold: float) -> str:
    return ("Where is the model making things up?\n"
            "Context steps (left of the dashed line, left axis): KL[posterior of the real frame ‖ prior], nats "
            "summed over latents: how much the frame surprised the model.\n"
            "Imagined steps (right axis): the spread of the K dreams imagined from the same start, the variance of "
            "their decoded frames across the K at each step, averaged over pixels (0-255 scale). Where the model's "
            "own futures disagree, it does not know what comes next, and its prediction is more often wrong.\n"
            f"Red markers (and red boxes around the filmstrip's column): a spread over {threshold:g}. The threshold "
            "is the cut with the best F1 for 'open-loop error in the top quarter' (flagging at most a quarter of "
            "steps) for K = 3 dreams on a trained size1m cartpole pixel model (4,728 updates). There the spread "
            "ranks steps by their error better than the step index does, also with the step held fixed; as a flag "
            "at K = 3 it is right about as often as 'the last steps of the horizon' (43-46% against 46%; chance "
            "25%); at K = 8, with the cut the rule picks for it, more often (51-53%): more dreams, a sharper "
            "spread. One task; the threshold fits that model's scale (a cpu-preset model's spread runs higher). Read "
            "a flag as 'unsure here', not as proof (docs/results/confidence.md).")


class ConfidenceStrip(QWidget):
    """A short plot of the observed KL and the futures' spread over timeline steps, with the threshold and
    flagged-step markers."""

    def __init__(self, parent=None, threshold: float = confidence.THRESHOLD) -> None:
        super().__init__(parent)
        self.threshold = threshold
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        self.legend = LegendLabel()
        self.plot = pg.PlotWidget()
        self.plot.setFixedHeight(110)  # fixed: the splitter above keeps its sizes when values change
        self.plot.setMenuEnabled(False)
        self.plot.setMouseEnabled(False, False)
        self.plot.setLabel("left", "KL (nats)")
        self.plot.getAxis("bottom").setHeight(18)
        layout.addWidget(self.legend)
        layout.addWidget(self.plot)
        # The spread has its own units: a second view box over the same x, drawn against the right axis.
        item = self.plot.plotItem
        self.spread_box = pg.ViewBox(enableMouse=False)
        self.spread_box.setMenuEnabled(False)
        item.showAxis("right")
        item.scene().addItem(self.spread_box)
        item.getAxis("right").linkToView(self.spread_box)
        item.getAxis("right").setLabel("spread")
        self.spread_box.setXLink(item)
        item.vb.sigResized.connect(self._follow_geometry)
        self.cursor = pg.InfiniteLine(angle=90, pen=pg.mkPen(theme.CURSOR))
        self.ctx = pg.InfiniteLine(angle=90, pen=pg.mkPen(theme.CONTEXT_LINE, style=Qt.PenStyle.DashLine))
        self.line = pg.InfiniteLine(angle=0, pen=pg.mkPen(theme.FLAGGED, style=Qt.PenStyle.DashLine))
        self.markers = pg.ScatterPlotItem(symbol="t", size=10, brush=pg.mkBrush(theme.FLAGGED), pen=None)
        for box_item in (self.ctx, self.cursor):  # added once, kept: only their data changes
            self.plot.addItem(box_item)
        for spread_item in (self.markers, self.line):
            self.spread_box.addItem(spread_item)
        self.line.setValue(threshold)
        # One curve per series key, reused (no items made and dropped per draw): the observed KL on the left axis,
        # each set of futures' spread on the right.
        self.curves = {"observed": pg.PlotDataItem(pen=pg.mkPen(theme.REAL_CURVE, width=1.5)),
                       "dreams": pg.PlotDataItem(pen=pg.mkPen(SPREAD_CURVE, width=2.5)),
                       "edited": pg.PlotDataItem(pen=pg.mkPen(theme.EDITED, width=1.5))}
        self.plot.addItem(self.curves["observed"])
        self.spread_box.addItem(self.curves["dreams"])
        self.spread_box.addItem(self.curves["edited"])
        self.setToolTip(tooltip(threshold))
        self.series: dict[str, np.ndarray] = {}  # series key -> (length,) values on the timeline (tests read it)
        self.flags: list[tuple[str, int]] = []  # (series key, timeline step) of each flagged imagined step
        self._boxes: list[QGraphicsRectItem] = []

    def _follow_geometry(self) -> None:
        self.spread_box.setGeometry(self.plot.plotItem.vb.sceneBoundingRect())
        self.spread_box.linkedViewChanged(self.plot.plotItem.vb, self.spread_box.XAxis)

    @staticmethod
    def spreads(roll) -> dict[str, np.ndarray | None]:
        """The spread (H,) of each set of futures on screen: "dreams" (the policy's K), "edited" (from the edited
        latent, when there is one); None where a set has no frames or fewer than two futures."""
        out = {"dreams": confidence.spread(roll.base.frames)}
        if roll.edited is not None:
            out["edited"] = confidence.spread(roll.edited.frames)
        return out

    def show_rollout(self, roll, t: int) -> None:
        ctx, steps = roll.ctx, np.arange(roll.length)
        observed = confidence.timeline(roll.report, None, roll.length)
        self.series, self.flags = {"observed": observed}, []
        xs, ys = [], []
        for key, spread in self.spreads(roll).items():
            values = confidence.timeline(roll.report, spread, roll.length)
            values[:ctx] = np.nan  # a spread exists for imagined steps only; the context has the observed KL
            self.series[key] = values
            for s in np.flatnonzero(confidence.flagged(values, self.threshold)):
                self.flags.append((key, int(s)))
                xs.append(float(s))
                ys.append(float(values[s]))
        for key, curve in self.curves.items():
            values = self.series.get(key)
            ok = np.isfinite(values) if values is not None else np.zeros(roll.length, bool)
            curve.setData(steps[ok], values[ok] if values is not None else [])
            curve.setVisible(bool(ok.any()))
        entries = [(theme.REAL_CURVE, "—", "observed KL (nats, left)")]
        if np.isfinite(self.series["dreams"]).any():
            entries.append((SPREAD_CURVE, "—", f"spread of the {roll.base.rewards.shape[0]} dreams (right)"))
        else:
            entries.append((SPREAD_CURVE, "—", "no spread: it needs 2+ imagined frames per step"))
        if "edited" in self.series and np.isfinite(self.series["edited"]).any():
            entries.append((theme.EDITED, "—", "edited"))
        entries.append((theme.FLAGGED, "▲", f"spread over {self.threshold:g}: {len(self.flags)} imagined step(s)"))
        self.legend.set_entries(entries)
        self.markers.setData(xs, ys)
        self.line.setValue(self.threshold)
        self.ctx.setValue(ctx - 0.5)
        self.cursor.setValue(t)
        self.plot.plotItem.setXRange(-0.5, roll.length - 0.5, padding=0)
        self.plot.plotItem.setYRange(0, self._top(observed, 1.0) * 1.15, padding=0)
        spread_top = self._top(np.concatenate([self.series[k] for k in self.series if k != "observed"]),
                               self.threshold)
        self.spread_box.setYRange(0, spread_top * 1.15, padding=0)
        self._follow_geometry()

    @staticmethod
    def _top(values: np.ndarray, floor: float) -> float:
        finite = values[np.isfinite(values)]
        return max(float(finite.max()) if len(finite) else 0.0, floor)

    def set_cursor(self, t: int) -> None:
        self.cursor.setValue(t)

    def mark_filmstrip(self, box, roll) -> None:
        """A red box around each flagged step's column of the filmstrip in `box` (an ImageView's ViewBox): the open
        loop and the dreams for the dreams' spread, the edited rows for theirs."""
        for item in self._boxes:
            box.removeItem(item)
        self._boxes = []
        keys = [key for key, _ in roll.rows()]
        w, h = roll.filmstrip_cell()
        for series, s in self.flags:
            rows = [i for i, key in enumerate(keys)
                    if (key.startswith("edited") if series == "edited" else key == "openloop" or
                        key.startswith("dream"))]
            if not rows:
                continue
            item = QGraphicsRectItem(QRectF(s * w - 0.5, rows[0] * h - 0.5, w - 1, len(rows) * h - 4))
            item.setPen(QPen(QColor("#ff1744"), 1.5))
            box.addItem(item)
            self._boxes.append(item)
