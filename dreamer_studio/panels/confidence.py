"""The hallucination strip under the imagination: where is the model making things up? (dreamer_core.confidence)

One curve per imagination row over the shared timeline: up to the end of the context, the KL of each observed frame
(posterior vs prior, the report's KL); after it, the re-encoding KL of each imagined step (open loop dashed grey,
dream 1 thick, dreams 2..K thin, edited orange). Steps over the threshold get a red marker here and a red box on
their filmstrip tile.
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


def tooltip(threshold: float) -> str:
    return ("Where is the model making things up?\n"
            "Context steps (left of the dashed line): KL[posterior of the real frame ‖ prior], nats summed over "
            "latents: how much the frame surprised the model.\n"
            "Imagined steps: a re-encoding check, KL[q(z | h, enc(dec(h, z))) ‖ p(z | h)]: the imagined state is "
            "decoded, the decoded frame is encoded as if it were real, and the posterior from that frame is "
            "compared with the prior that dreamed it. A dream the encoder reads back as the state the prior meant "
            "scores low; a frame it reads as something else (blur, an impossible or mixed-up scene) scores high.\n"
            f"Red markers (and red boxes on the filmstrip): over {threshold:g} nats. Provisional: the threshold "
            "is the cut with the best F1 for 'open-loop error in the top quarter' (flagging at most a quarter of "
            "steps) on a trained size1m cartpole pixel model, where flagged steps were no more often wrong than "
            "chance and less often than 'the last steps of the horizon'. Read a flag as a hint, not a verdict "
            "(docs/results/confidence.md).")


class ConfidenceStrip(QWidget):
    """A short plot of the signal per row over timeline steps, with the threshold and flagged-step markers."""

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
        self.cursor = pg.InfiniteLine(angle=90, pen=pg.mkPen(theme.CURSOR))
        self.ctx = pg.InfiniteLine(angle=90, pen=pg.mkPen(theme.CONTEXT_LINE, style=Qt.PenStyle.DashLine))
        self.line = pg.InfiniteLine(angle=0, pen=pg.mkPen(theme.FLAGGED, style=Qt.PenStyle.DashLine))
        self.markers = pg.ScatterPlotItem(symbol="t", size=10, brush=pg.mkBrush(theme.FLAGGED), pen=None)
        for item in (self.markers, self.line, self.ctx, self.cursor):  # added once, kept: only their data changes
            self.plot.addItem(item)
        self.line.setValue(threshold)
        self.curves: dict[str, pg.PlotDataItem] = {}  # one per row key, reused (no items made and dropped per draw)
        self.setToolTip(tooltip(threshold))
        self.series: dict[str, np.ndarray] = {}  # row key -> (length,) values on the timeline (tests read it)
        self.flags: list[tuple[str, int]] = []  # (row key, timeline step) of each flagged imagined step
        self._boxes: list[QGraphicsRectItem] = []

    def rows(self, roll) -> list[tuple[str, np.ndarray | None]]:
        """(row key as in image_grid.ImaginationGrid, that row's imagined-step signal (Hi,) or None) for every
        imagined row."""
        r, base, edited = roll.report, roll.base, roll.edited
        recheck = getattr(r, "imagined_recheck", None)
        out = [("openloop", recheck[0] if recheck is not None else None)]
        dreams = getattr(base, "recheck", None)
        k = base.rewards.shape[0]
        out += [(f"dream{i}", dreams[i] if dreams is not None else None) for i in range(k)]
        if edited is not None:
            ed = getattr(edited, "recheck", None)
            out += [(f"edited{i}", ed[i] if ed is not None else None) for i in range(k)]
        return out

    def show_rollout(self, roll, t: int) -> None:
        plot = self.plot.plotItem
        self.series, self.flags = {}, []
        xs, ys = [], []
        ctx = roll.ctx
        steps = np.arange(roll.length)
        entries = []
        for key, dream in self.rows(roll):
            values = confidence.timeline(roll.report, dream, roll.length)
            self.series[key] = values
            if key == "openloop":
                color, name = theme.REAL_CURVE, "open loop"
                pen = pg.mkPen(color, width=1.5, style=Qt.PenStyle.DashLine)
            elif key.startswith("edited"):
                pen, name, color = pg.mkPen(theme.EDITED, width=1), "edited", theme.EDITED
            else:
                i = int(key.removeprefix("dream"))
                color = theme.PALETTE[i % len(theme.PALETTE)]
                pen, name = pg.mkPen(color, width=2.5 if i == 0 else 1), f"dream {i + 1}"
            ok = np.isfinite(values)
            curve = self.curves.get(key)
            if curve is None:
                curve = self.curves[key] = pg.PlotDataItem()
                plot.addItem(curve)
            curve.setPen(pen)
            curve.setData(steps[ok], values[ok])
            curve.setVisible(bool(ok.any()))
            if key in ("openloop", "dream0") or key.startswith("dream") and int(key[5:]) < 3:
                entries.append((color, "—", name))
            flag = confidence.flagged(values, self.threshold)
            flag[:ctx] = False  # observed steps are not dreams: their KL is shown, never flagged
            for s in np.flatnonzero(flag):
                self.flags.append((key, int(s)))
                xs.append(float(s))
                ys.append(float(values[s]))
        entries.append((theme.FLAGGED, "▲", f"over {self.threshold:g} nats: {len(self.flags)} imagined step(s)"))
        self.legend.set_entries(entries)
        for key, curve in self.curves.items():
            if key not in self.series:
                curve.setData([], [])
                curve.setVisible(False)
        self.markers.setData(xs, ys)
        self.line.setValue(self.threshold)
        self.ctx.setValue(ctx - 0.5)
        self.cursor.setValue(t)
        plot.setXRange(-0.5, roll.length - 0.5, padding=0)
        finite = [v[np.isfinite(v)] for v in self.series.values()]
        top = max([float(v.max()) for v in finite if len(v)] + [self.threshold])
        plot.setYRange(0, top * 1.15, padding=0)

    def set_cursor(self, t: int) -> None:
        self.cursor.setValue(t)

    def mark_filmstrip(self, box, roll) -> None:
        """A red box around each flagged tile of the filmstrip in `box` (an ImageView's ViewBox)."""
        for item in self._boxes:
            box.removeItem(item)
        self._boxes = []
        order = {key: i for i, (key, _) in enumerate(roll.rows())}
        w, h = roll.filmstrip_cell()
        for key, s in self.flags:
            if key not in order:
                continue
            item = QGraphicsRectItem(QRectF(s * w - 0.5, order[key] * h - 0.5, w - 1, h - 4))
            item.setPen(QPen(QColor("#ff1744"), 1.5))
            box.addItem(item)
            self._boxes.append(item)
