"""The Frames panel's proprio chart: the real and the decoded vector of one step as bars, one pair per dimension.

The y-range is symmetric on a robust percentile of the report's values, so one large dimension (a velocity of −6
beside positions under 1) does not flatten the others; a bar past the range is cut at the edge and marked.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QVBoxLayout, QWidget

from dreamer_studio import theme
from dreamer_studio.panels.base import LegendLabel

REAL_COLOR, CLIPPED_COLOR = "#9e9e9e", "#ff7043"
BAR_WIDTH = 0.4
ROBUST_PERCENTILE = 75  # of |value| over the report; the y-range is twice it (one outlier dimension is cut)


def robust_limit(values: np.ndarray) -> float:
    """Half the symmetric y-range for `values` (any shape): large enough for most, never the outliers'."""
    finite = np.abs(values[np.isfinite(values)])
    if finite.size == 0:
        return 1.0
    return max(2.0 * float(np.percentile(finite, ROBUST_PERCENTILE)), 1e-3)


class VectorBars(QWidget):
    """Real vs decoded bars with the legend above the plot (inside it, it covered the bars)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.setSpacing(0)
        self.legend = LegendLabel()
        self.plot = pg.PlotWidget()
        self.plot.setMinimumWidth(220)
        self.plot.setLabel("bottom", "dimension")
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        box.addWidget(self.legend)
        box.addWidget(self.plot, 1)
        self.real_bars = pg.BarGraphItem(x=[0], height=[0], width=BAR_WIDTH, brush=REAL_COLOR)
        self.dec_bars = pg.BarGraphItem(x=[0], height=[0], width=BAR_WIDTH, brush=theme.PRIMARY)
        self.clip_marks = pg.ScatterPlotItem(size=9, pen=None, brush=CLIPPED_COLOR)
        for item in (self.real_bars, self.dec_bars, self.clip_marks):
            self.plot.addItem(item)
        self.limit = 1.0  # half the y-range now

    def show_step(self, real: np.ndarray, decoded: np.ndarray, t: int, keys: list[str]) -> None:
        """Bars of step `t` of `real` and `decoded` (T, D), ranged on the whole report so the axis holds still."""
        self.limit = robust_limit(np.concatenate([real, decoded]))
        lim = self.limit
        x = np.arange(real.shape[-1])  # (D,)
        marks_x, marks_y, clipped = [], [], []
        for bars, values, offset in ((self.real_bars, real[t], -BAR_WIDTH / 2), (self.dec_bars, decoded[t],
                                                                                  BAR_WIDTH / 2)):
            bars.setOpts(x=x + offset, height=np.clip(values, -lim, lim), width=BAR_WIDTH)
            out = np.abs(values) > lim
            marks_x += list(x[out] + offset)
            marks_y += list(np.sign(values[out]) * lim)
            clipped += list(x[out])
        self.clip_marks.setData(marks_x, marks_y, symbol=["t1" if y > 0 else "t" for y in marks_y])
        self.plot.setXRange(-0.5, len(x) - 0.5, padding=0.02)  # every bar inside the plot
        self.plot.setYRange(-lim, lim, padding=0.05)
        entries = [(REAL_COLOR, "■", "real"), (theme.PRIMARY, "■", "decoded")]
        if clipped:
            dims = ", ".join(str(d) for d in sorted(set(clipped)))
            entries.append((CLIPPED_COLOR, "▲", f"dim {dims} past ±{lim:.2g}"))
        self.legend.set_entries(entries)
        self.plot.setTitle(f"step {t + 1}")  # short: the plot is narrow, a longer title was cut
        self.plot.setLabel("bottom", f"dimension: {', '.join(keys)}")
        self.setToolTip(f"{', '.join(keys)} at step {t + 1}: real vs decoded, each dimension's value; a bar past "
                        f"±{lim:.2g} is cut at the edge and marked ▲/▼\n"
                        + "\n".join(f"dim {d}: real {a:+.3g}, decoded {b:+.3g}"
                                    for d, (a, b) in enumerate(zip(real[t], decoded[t], strict=True))))
