"""The hallucination strip under the imagination: where is the model making things up? (dreamer_core.confidence)

Over the shared timeline: up to the end of the context, the KL of each observed frame (posterior vs prior, the
report's KL, nats on the left axis); after it, on the right axis, two signals: for the open loop, its distance to
M more futures imagined under the same true actions (`Report.openloop_signal`: 0-255 pixel scale, or on a vector
model the replay's fixed scale), and for the dreams, their spread (the variance of their decoded frames across the
K dreams; the edited futures' own spread in orange). Steps over their signal's threshold get a red marker here and a
white dashed box on the filmstrip: the open loop's on its row, the dreams' on the dream rows (or the edited rows).
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
OPENLOOP_CURVE = theme.PALETTE[4]  # the open loop's distance to its twins under the true actions
AXIS_WIDTH = 46  # px, both axes: tick labels of another width do not move the plot (issue #16 §6.1)
BOX_COLOR = "#ffffff"  # a flag's box: white, dashed, so it shows over the imagined tiles' red borders
# What the measurement found at the thresholds (docs/results/confidence.md, 2026-12-01, fourth measurement; the
# confidence_openloop_*.json figures), for the tooltip.
OPENLOOP_EVIDENCE = (
    "Chosen by the rule (best F1 for 'open-loop error in the top quarter', flagging at most a quarter of steps) "
    "for K = 3 on a trained size1m cartpole pixel model (4,728 updates): there a flagged open-loop step is "
    "high-error {pixel_p} of the time ({pixel_held} on held-out episodes) against {pixel_step} for 'the last 4 "
    "steps' (chance 25%); rank correlation with the error, the step held fixed, {pixel_partial}. On vectors "
    "(the shipped CartPole-v1 proprio model, each dimension divided by the real vector's spread over the "
    "replay): {vector_p} ({vector_held} held out) against {vector_step}.")

OPENLOOP_FIGURES = dict(pixel_p="51%", pixel_held="52%", pixel_step="45% (47%)", pixel_partial="0.38 [0.23, 0.50]",
                        vector_p="57%", vector_held="59%", vector_step="45% (42%)")


def tooltip(threshold: float, openloop_threshold: float, vector_threshold: float) -> str:
    return ("Where is the model making things up?\n"
            "Context steps (left of the dashed line, left axis): KL[posterior of the real frame ‖ prior], nats "
            "summed over latents: how much the frame surprised the model.\n"
            "Open-loop steps (pink, right axis): the open loop (the prior under the true actions, the filmstrip's "
            "'open loop' row) against K more futures (K as in the K box) the model imagines from the same start "
            "under the same actions: their mean squared distance to the open-loop frame (0-255 scale; on a vector "
            "model each dimension divided by the real vector's spread over the replay). Where the model's own "
            "rollouts land far from the open loop, the open loop is one guess among different futures, and more "
            "often wrong.\n"
            f"◆ and a white dashed box on the filmstrip's open-loop row: over {openloop_threshold:g} "
            f"({vector_threshold:g} on vectors). "
            + OPENLOOP_EVIDENCE.format(**OPENLOOP_FIGURES) + "\n"
            "Dream steps (blue, right axis): the spread of the K dreams imagined from the same start, the variance of "
            "their decoded frames across the K at each step, averaged over pixels (0-255 scale).\n"
            f"▲ and white dashed boxes on the dream rows: a spread over {threshold:g}, the same rule's cut for K = 3 "
            "on the same model. As a flag at K = 3 it is right about as often as 'the last steps of the horizon' "
            "(43-46% against 46%); at K = 8, with the cut the rule picks for it, more often (51-53%). Not shown "
            "on vector models (on one fixed scale it flags worse than the step rule).\n"
            "One task per kind of model; the thresholds fit those models' scales. Read a flag as 'unsure here', "
            "not as proof (docs/results/confidence.md).")


class ConfidenceStrip(QWidget):
    """A short plot of the observed KL, the open loop's signal and the futures' spread over timeline steps, with
    each signal's threshold and flagged-step markers."""

    def __init__(self, parent=None, threshold: float = confidence.THRESHOLD,
                 openloop_threshold: float = confidence.OPENLOOP_THRESHOLD,
                 vector_threshold: float = confidence.OPENLOOP_VECTOR_THRESHOLD) -> None:
        super().__init__(parent)
        self.threshold = threshold
        self.openloop_thresholds = {"frames": openloop_threshold, "vectors": vector_threshold}
        self.openloop_threshold = openloop_threshold  # the one in use: frames' or vectors' (show_rollout)
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
        # The imagined steps' signals have their own units: a second view box over the same x, drawn against the
        # right axis.
        item = self.plot.plotItem
        self.spread_box = pg.ViewBox(enableMouse=False)
        self.spread_box.setMenuEnabled(False)
        item.showAxis("right")
        item.scene().addItem(self.spread_box)
        item.getAxis("right").linkToView(self.spread_box)
        item.getAxis("right").setLabel("pixel²")
        for side in ("left", "right"):
            item.getAxis(side).setWidth(AXIS_WIDTH)
        self.spread_box.setXLink(item)
        item.vb.sigResized.connect(self._follow_geometry)
        self.cursor = pg.InfiniteLine(angle=90, pen=pg.mkPen(theme.CURSOR))
        self.ctx = pg.InfiniteLine(angle=90, pen=pg.mkPen(theme.CONTEXT_LINE, style=Qt.PenStyle.DashLine))
        self.line = pg.InfiniteLine(angle=0, pen=pg.mkPen(SPREAD_CURVE, style=Qt.PenStyle.DashLine))
        self.openloop_line = pg.InfiniteLine(angle=0, pen=pg.mkPen(OPENLOOP_CURVE, style=Qt.PenStyle.DashLine))
        self.markers = pg.ScatterPlotItem(symbol="t", size=10, brush=pg.mkBrush(theme.FLAGGED), pen=None)
        self.openloop_markers = pg.ScatterPlotItem(symbol="d", size=10, brush=pg.mkBrush(theme.FLAGGED), pen=None)
        for box_item in (self.ctx, self.cursor):  # added once, kept: only their data changes
            self.plot.addItem(box_item)
        for spread_item in (self.markers, self.openloop_markers, self.line, self.openloop_line):
            self.spread_box.addItem(spread_item)
        self.line.setValue(threshold)
        self.openloop_line.setValue(openloop_threshold)
        # One curve per series key, reused (no items made and dropped per draw): the observed KL on the left axis,
        # the open loop's signal and each set of futures' spread on the right.
        self.curves = {"observed": pg.PlotDataItem(pen=pg.mkPen(theme.REAL_CURVE, width=1.5)),
                       "openloop": pg.PlotDataItem(pen=pg.mkPen(OPENLOOP_CURVE, width=2.5)),
                       "dreams": pg.PlotDataItem(pen=pg.mkPen(SPREAD_CURVE, width=2.5)),
                       "edited": pg.PlotDataItem(pen=pg.mkPen(theme.EDITED, width=1.5))}
        self.plot.addItem(self.curves["observed"])
        for key in ("openloop", "dreams", "edited"):
            self.spread_box.addItem(self.curves[key])
        self.setToolTip(tooltip(threshold, openloop_threshold, vector_threshold))
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

    def _imagined(self, roll, key: str, signal: np.ndarray | None, threshold: float) -> tuple[list, list]:
        """Puts one imagined-step signal (H,) on the timeline as series `key` and flags its steps over
        `threshold`: the flagged (x, y) for the markers."""
        values = confidence.timeline(roll.report, signal, roll.length)
        values[: roll.ctx] = np.nan  # imagined steps only; the context has the observed KL
        self.series[key] = values
        xs, ys = [], []
        for s in np.flatnonzero(confidence.flagged(values, threshold)):
            self.flags.append((key, int(s)))
            xs.append(float(s))
            ys.append(float(values[s]))
        return xs, ys

    def show_rollout(self, roll, t: int) -> None:
        report, ctx, steps = roll.report, roll.ctx, np.arange(roll.length)
        on_frames = report.openloop is not None
        self.openloop_threshold = self.openloop_thresholds["frames" if on_frames else "vectors"]
        observed = confidence.timeline(report, None, roll.length)
        self.series, self.flags = {"observed": observed}, []
        signal = getattr(report, "openloop_signal", None)  # None in reports made before it existed
        openloop_xy = self._imagined(roll, "openloop", signal, self.openloop_threshold)
        opened = len(self.flags)
        xs, ys = [], []
        for key, spread in self.spreads(roll).items():
            x, y = self._imagined(roll, key, spread, self.threshold)
            xs += x
            ys += y
        for key, curve in self.curves.items():
            values = self.series.get(key)
            ok = np.isfinite(values) if values is not None else np.zeros(roll.length, bool)
            curve.setData(steps[ok], values[ok] if values is not None else [])
            curve.setVisible(bool(ok.any()))
        has_openloop, has_spread = bool(np.isfinite(self.series["openloop"]).any()), bool(
            np.isfinite(self.series["dreams"]).any())
        entries = [(theme.REAL_CURVE, "—", "observed KL (nats, left)")]
        if has_openloop:
            futures, scale = report.imagination.rewards.shape[0], "" if on_frames else ", replay-scaled"
            entries.append((OPENLOOP_CURVE, "—", f"open loop vs {futures} futures on its actions{scale} "
                                                 "(right)"))
        elif on_frames:
            entries.append((OPENLOOP_CURVE, "—", "no open-loop signal: the report predates it"))
        else:
            entries.append((OPENLOOP_CURVE, "—", "no open-loop signal: the report had no replay to scale "
                                                 "vectors by, or predates it"))
        if has_spread:
            entries.append((SPREAD_CURVE, "—", f"spread of the {roll.base.rewards.shape[0]} dreams (right)"))
        elif on_frames:
            entries.append((SPREAD_CURVE, "—", "no spread: it needs 2+ imagined frames per step"))
        else:
            entries.append((SPREAD_CURVE, "—", "no dream spread for vectors (see the tooltip)"))
        if "edited" in self.series and np.isfinite(self.series["edited"]).any():
            entries.append((theme.EDITED, "—", "edited"))
        if has_openloop:
            entries.append((theme.FLAGGED, "◆", f"open loop over {self.openloop_threshold:g}: {opened} step(s)"))
        if on_frames:  # a vector model's strip shows no spread, so no spread flags either
            entries.append((theme.FLAGGED, "▲", f"spread over {self.threshold:g}: {len(self.flags) - opened} "
                                                 "imagined step(s)"))
        self.legend.set_entries(entries)
        self.plot.plotItem.getAxis("right").setLabel("pixel²" if on_frames else "scaled²")
        self.markers.setData(xs, ys)
        self.openloop_markers.setData(*openloop_xy)
        self.line.setValue(self.threshold)
        self.line.setVisible(on_frames)  # a vector model has no spread (measured, not shown)
        self.openloop_line.setValue(self.openloop_threshold)
        self.openloop_line.setVisible(has_openloop)
        self.ctx.setValue(ctx - 0.5)
        self.cursor.setValue(t)
        self.plot.plotItem.setXRange(-0.5, roll.length - 0.5, padding=0)
        self.plot.plotItem.setYRange(0, self._top(observed, 1.0) * 1.15, padding=0)
        lines = [self.threshold] if on_frames else []
        lines += [self.openloop_threshold] if has_openloop else []
        right_top = self._top(np.concatenate([self.series[k] for k in self.series if k != "observed"]),
                              max(lines, default=1.0))
        self.spread_box.setYRange(0, right_top * 1.15, padding=0)
        self._follow_geometry()

    @staticmethod
    def _top(values: np.ndarray, floor: float) -> float:
        finite = values[np.isfinite(values)]
        return max(float(finite.max()) if len(finite) else 0.0, floor)

    def set_cursor(self, t: int) -> None:
        self.cursor.setValue(t)

    def mark_filmstrip(self, box, roll) -> None:
        """A white dashed box around each flagged step's cells of the filmstrip in `box` (an ImageView's ViewBox):
        the open loop's row for the open loop's signal, the dream rows for the dreams' spread, the edited rows for
        theirs."""
        for item in self._boxes:
            box.removeItem(item)
        self._boxes = []
        keys = [key for key, _ in roll.rows()]
        w, h = roll.filmstrip_cell()
        for series, s in self.flags:
            prefix = {"openloop": "openloop", "dreams": "dream", "edited": "edited"}[series]
            rows = [i for i, key in enumerate(keys) if key.startswith(prefix)]
            if not rows:
                continue
            item = QGraphicsRectItem(QRectF(s * w - 0.5, rows[0] * h - 0.5, w - 1, len(rows) * h - 4))
            item.setPen(QPen(QColor(BOX_COLOR), 2, Qt.PenStyle.DashLine))
            box.addItem(item)
            self._boxes.append(item)
