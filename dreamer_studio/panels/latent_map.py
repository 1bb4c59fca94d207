"""Latent map: the model's features (deter ++ stoch) over the report's real steps and imagined futures, in 2-D.

The projection is an incremental PCA (dreamer_core.latent_map) fitted on the real steps of every report as it
arrives, so the axes stay put from one report to the next and a moving cloud means the model's states moved.
The real trajectory is a line; each imagined future is a branch from the real step where imagination starts
(the end of the context). The cursor's step is ringed (yellow: the real step, orange: the step of the dream the
critic and latent panels follow). Colour: time along the report, or predicted return (the report's λ-return at
each real step, the imagined λ-return along each dream).
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel

from dreamer_core.latent_map import IncrementalPCA, map_points
from dreamer_studio import theme
from dreamer_studio.panels.base import ElidedLabel, Panel, report_caption
from dreamer_studio.session import View

COLOUR_MODES = ("time", "predicted return")
NO_FEATURES = "This report carries no features (it was made before the latent map existed)."
MAP_TIP = ("Each point is one step's model state (deter ++ stoch) projected on the two principal axes of every "
           "real state seen so far (incremental PCA; the axes stay put across reports). Line: the real steps. "
           "Branches: the K imagined futures, from the end of the context.")


def _brushes(values: np.ndarray, lo: float, hi: float) -> list:
    """One brush per value, on the viridis map over [lo, hi]."""
    cmap = pg.colormap.get("viridis")
    scaled = (np.asarray(values, np.float64) - lo) / max(hi - lo, 1e-9)  # (N,)
    return [pg.mkBrush(c) for c in cmap.map(np.clip(scaled, 0, 1), mode="qcolor")]


class LatentMapPanel(Panel):
    title = "Latent map"

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.pca = IncrementalPCA(2)
        self._fitted: set[tuple[int, int]] = set()  # (id of the report object, report id) already fitted
        self.points = None  # the MapPoints on screen (tests read them)
        self.cursor_points: dict[str, tuple[float, float]] = {}  # "real" / "imagined" -> the ringed (x, y)
        layout = self.content_layout()
        head = QHBoxLayout()
        self.caption = ElidedLabel()
        self.caption.setStyleSheet(theme.CAPTION_STYLE)
        head.addWidget(self.caption, 1)
        head.addWidget(QLabel("colour by"))
        self.colour = QComboBox()
        self.colour.addItems(COLOUR_MODES)
        self.colour.currentIndexChanged.connect(lambda _: self.redraw())
        head.addWidget(self.colour)
        layout.addLayout(head)
        self.plot = pg.PlotWidget()
        self.plot.setToolTip(MAP_TIP)
        self.plot.setLabel("bottom", "PC 1")
        self.plot.setLabel("left", "PC 2")
        self.real_line = pg.PlotDataItem(pen=pg.mkPen(theme.REAL_CURVE, width=2))
        self.real_scatter = pg.ScatterPlotItem(size=8, pen=pg.mkPen(theme.REAL_CURVE))
        self.dream_scatter = pg.ScatterPlotItem(size=6, symbol="t", pen=None)
        self.cursor_real = pg.ScatterPlotItem(size=18, pen=pg.mkPen(theme.PALETTE[3], width=3), brush=None)
        self.cursor_dream = pg.ScatterPlotItem(size=18, pen=pg.mkPen(theme.PALETTE[1], width=3), brush=None)
        self.branches: list[pg.PlotDataItem] = []
        for item in (self.real_line, self.real_scatter, self.dream_scatter, self.cursor_real, self.cursor_dream):
            self.plot.addItem(item)
        layout.addWidget(self.plot, 1)
        self.legend = QLabel("grey line: real steps · dashed branches: imagined futures from the end of the context"
                             " · yellow ring: the cursor's real step · orange ring: its imagined step")
        self.legend.setWordWrap(True)
        self.legend.setStyleSheet(theme.NOTE_STYLE)
        layout.addWidget(self.legend)
        self.colour_values: list[np.ndarray] = []
        self.colour_range = (0.0, 1.0)

    def refresh(self, view: View, force: bool = False) -> None:
        """Every new report is fitted as it arrives, also while the tab is hidden, so the axes are those of all
        reports since the window opened whenever the map is looked at."""
        if view.entry is not None and (id(view.entry.report), view.entry.id) not in self._fitted:
            if map_points(self.pca, view.entry.report, fit=True, project=False) is not None:
                self._remember((id(view.entry.report), view.entry.id))
        super().refresh(view, force)

    def _remember(self, fit_key: tuple[int, int]) -> None:
        self._fitted.add(fit_key)
        if len(self._fitted) > 256:
            self._fitted = {fit_key}

    def key(self, view: View) -> object:
        return (id(view.entry), id(view.result), view.t, view.sample, self.colour.currentIndex())

    def render(self, view: View) -> None:
        if view.entry is None:
            self.show_placeholder("waiting for the first report…")
            return
        report = view.entry.report
        imagination = view.result.base
        fit_key = (id(report), view.entry.id)
        points = map_points(self.pca, report, imagination, fit=fit_key not in self._fitted)
        if points is None:
            self.show_placeholder(NO_FEATURES)
            return
        self._remember(fit_key)
        self.points = points
        self.show_content()
        self.caption.setText(f"{report_caption(view)} · {self.pca.n:,} real states fitted")
        by_return = self.colour.currentText() == "predicted return"
        real, dream = points.real, points.imagined  # (T, 2), (M, H, 2)
        length, ctx = len(real), points.branch_from + 1
        if by_return:
            values = [points.real_returns] + ([points.imagined_returns.ravel()] if dream is not None else [])
        else:
            values = [np.arange(length)] + ([np.tile(np.arange(dream.shape[1]) + ctx, dream.shape[0])]
                                            if dream is not None else [])
        joined = np.concatenate(values)  # (T + M·H,)
        lo, hi = float(joined.min()), float(joined.max())
        self.colour_values, self.colour_range = values, (lo, hi)  # what the colours say (tests read them)
        self.real_line.setData(real[:, 0], real[:, 1])
        self.real_scatter.setData(pos=real, brush=_brushes(values[0], lo, hi))
        for item in self.branches:
            self.plot.removeItem(item)
        self.branches = []
        if dream is not None:
            origin = real[points.branch_from]  # (2,)
            for k in range(dream.shape[0]):
                path = np.vstack([origin[None], dream[k]])  # (H+1, 2)
                pen = pg.mkPen(theme.PALETTE[1], width=1, style=pg.QtCore.Qt.PenStyle.DashLine)
                item = pg.PlotDataItem(path[:, 0], path[:, 1], pen=pen)
                self.plot.addItem(item)
                self.branches.append(item)
            self.dream_scatter.setData(pos=dream.reshape(-1, 2), brush=_brushes(values[1], lo, hi))
        else:
            self.dream_scatter.setData(pos=np.zeros((0, 2)))
        self._draw_cursor(view.t, view.sample, real, dream, ctx)

    def _draw_cursor(self, t: int, sample: int, real: np.ndarray, dream: np.ndarray | None, ctx: int) -> None:
        self.cursor_points = {}
        if t < len(real):
            self.cursor_points["real"] = (float(real[t, 0]), float(real[t, 1]))
        if dream is not None and ctx <= t < ctx + dream.shape[1]:
            k = min(sample, dream.shape[0] - 1)
            self.cursor_points["imagined"] = (float(dream[k, t - ctx, 0]), float(dream[k, t - ctx, 1]))
        for name, item in (("real", self.cursor_real), ("imagined", self.cursor_dream)):
            xy = self.cursor_points.get(name)
            item.setData(pos=np.array([xy]) if xy else np.zeros((0, 2)))
