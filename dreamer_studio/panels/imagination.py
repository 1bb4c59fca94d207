"""Imagination: context frames (green), K imagined futures side by side (red), open loop vs truth.

Top: every row at the cursor step, large. Bottom: the whole rollout as a filmstrip (rows x steps) with the
cursor and the end of the context marked; click a column to move the cursor. Controls set horizon, K,
temperature, seed and where the imagined actions come from (the policy, the replayed true actions, or the
keys the user holds: 1-9 for discrete actions, W/A/S/D for the first two continuous dimensions).
"""

from __future__ import annotations

import random

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QColor, QPen
from PySide6.QtWidgets import (QComboBox, QDoubleSpinBox, QGraphicsRectItem, QHBoxLayout, QLabel, QPushButton,
                               QSpinBox, QSplitter, QWidget)

from dreamer_core import confidence
from dreamer_core.image_grid import ImaginationGrid
from dreamer_studio import theme
from dreamer_studio.panels.base import ElidedLabel, ImageView, LegendLabel, Panel, report_caption, weights_caption
from dreamer_studio.panels.confidence import ConfidenceStrip
from dreamer_studio.panels.fitted import FittedImageView
from dreamer_studio.session import ImagineSettings, View

FRAME_LEGEND = ("filmstrip: rows × steps, dashed line = end of the context (left: observed, right: imagined) · "
                "green border: observed context (posterior reconstruction) · red: imagined by the prior · orange: "
                "imagined from your edited latent · grey: truth")
VECTOR_LEGEND = ("dotted: the real vector · thick: dream 1 · thin: dreams 2…K · each dimension is scaled by the "
                 "mean and spread of its real and dreamed values over the report · dashed line: end of the context · "
                 "yellow: cursor")
SOURCES = {"policy": "policy samples actions", "replayed": "replayed true actions", "keys": "your keys (hold)"}


class ImaginationControls(QWidget):
    changed = Signal(object)  # ImagineSettings
    export_requested = Signal()

    def __init__(self, settings: ImagineSettings, parent=None) -> None:
        super().__init__(parent)
        self.held: tuple[float, ...] | None = None
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        # At least 2: the λ-return needs a step after the first one.
        self.horizon = _spin(2, 64, settings.horizon, "imagined steps after the context (2 to 64)")
        self.samples = _spin(1, 8, settings.samples, "K: how many futures are sampled side by side")
        self.temperature = QDoubleSpinBox(minimum=0.05, maximum=3.0, singleStep=0.1, value=settings.temperature)
        self.temperature.setToolTip("temperature of the prior's latent sampling: <1 sharper, >1 wilder dreams")
        self.seed = _spin(0, 2**31 - 1, settings.seed, "imagination seed: the same seed gives the same futures")
        self.reseed = QPushButton("new seed")
        self.source = QComboBox()
        for key, text in SOURCES.items():
            self.source.addItem(text, key)
        self.source.setCurrentIndex(list(SOURCES).index(settings.source))
        self.source.setToolTip("where imagined actions come from; 'your keys': hold 1-9 (discrete) or W/A/S/D "
                               "(continuous) while the window has focus")
        self.export = QPushButton("Export mp4 + gif…")
        for label, widget in (("horizon", self.horizon), ("K", self.samples), ("temp", self.temperature),
                              ("seed", self.seed)):
            row.addWidget(QLabel(label))
            row.addWidget(widget)
        row.addWidget(self.reseed)
        row.addWidget(QLabel("actions"))
        row.addWidget(self.source)
        row.addStretch(1)
        row.addWidget(self.export)
        for w in (self.horizon, self.samples, self.seed):
            w.valueChanged.connect(self._emit)
        self.temperature.valueChanged.connect(self._emit)
        self.source.currentIndexChanged.connect(self._emit)
        self.reseed.clicked.connect(self._new_seed)
        self.export.clicked.connect(self.export_requested)

    def settings(self) -> ImagineSettings:
        return ImagineSettings(horizon=self.horizon.value(), samples=self.samples.value(),
                               temperature=round(self.temperature.value(), 3), seed=self.seed.value(),
                               source=self.source.currentData(), held=self.held)

    def set_held(self, held: tuple[float, ...] | None) -> None:
        self.held = held
        self._emit()

    def _new_seed(self) -> None:
        self.seed.setValue(random.randrange(10_000))

    def _emit(self, *_) -> None:
        self.changed.emit(self.settings())


def vector_names(report) -> list[str]:
    """A name per vector dimension: the observation key and the index within it (position[0], velocity[1], …)."""
    sizes = getattr(report, "vector_sizes", None)
    keys = list(getattr(report, "vector_keys", None) or [])
    n = report.real_vectors.shape[-1]
    if sizes and len(sizes) == len(keys):
        return [f"{key} {i}" for key, size in zip(keys, sizes) for i in range(size)][:n]
    if len(keys) == 1:
        return [f"{keys[0]} {i}" for i in range(n)]
    return [f"dim {i}" for i in range(n)]


def _spin(lo: int, hi: int, value: int, tip: str) -> QSpinBox:
    box = QSpinBox(minimum=lo, maximum=hi, value=value)
    box.setToolTip(tip)
    box.setKeyboardTracking(False)
    return box


class ImaginationPanel(Panel):
    title = "Imagination"
    cursor_requested = Signal(int)

    def __init__(self, settings: ImagineSettings, parent=None) -> None:
        super().__init__(parent)
        layout = self.content_layout()
        self.controls = ImaginationControls(settings)
        layout.addWidget(self.controls)
        self.caption = ElidedLabel()  # one line, cut with "…": a wrapped caption used to shift the views below
        self.caption.setStyleSheet(theme.CAPTION_STYLE)
        layout.addWidget(self.caption)
        self.weights = ElidedLabel()  # which weights imagined what is shown
        self.weights.setStyleSheet("color: #ffcc80;")
        layout.addWidget(self.weights)
        split = QSplitter(Qt.Orientation.Vertical)
        self.current = FittedImageView()  # every row at the cursor, drawn at the size it is shown
        self.strip = ImageView()
        self.strip.image.mouseClickEvent = self._strip_clicked
        self.cursor_box = QGraphicsRectItem()
        self.cursor_box.setPen(QPen(QColor(theme.CURSOR), 2))
        self.strip.box.addItem(self.cursor_box)
        # No label on the line itself: over the strip it covered the truth thumbnails (STRIP_NOTE says it instead).
        self.ctx_line = pg.InfiniteLine(angle=90, pen=pg.mkPen(theme.CONTEXT_LINE, width=2, style=Qt.PenStyle.DashLine))
        self.strip.box.addItem(self.ctx_line)
        self.vectors = pg.PlotWidget()
        self.vectors.setLabel("bottom", "timeline step")
        self.vectors.setLabel("left", "value, normalised per dimension")
        self.vec_legend = LegendLabel()  # which colour is which dimension, above the plot (inside, it hid curves)
        self.vec_legend.setVisible(False)
        self.vec_cursor = pg.InfiniteLine(angle=90, pen=pg.mkPen(theme.CURSOR))
        self.vec_ctx = pg.InfiniteLine(angle=90, pen=pg.mkPen(theme.CONTEXT_LINE, style=Qt.PenStyle.DashLine))
        split.addWidget(self.current)
        split.addWidget(self.strip)
        split.addWidget(self.vectors)
        split.setSizes([340, 160, 200])  # the rows at the cursor get the height to fill the panel's width
        layout.addWidget(self.vec_legend)
        layout.addWidget(split, 1)
        self.confidence = ConfidenceStrip()  # where the model makes things up (dreamer_core.confidence)
        layout.addWidget(self.confidence)
        self.legend = ElidedLabel(FRAME_LEGEND)
        self.legend.setStyleSheet(theme.NOTE_STYLE)
        layout.addWidget(self.legend)
        self.grid: ImaginationGrid | None = None
        self._strip_key: object = None
        self._confidence_key: object = None

    def key(self, view: View) -> object:
        return (id(view.entry), id(view.result), view.t)

    def render(self, view: View) -> None:
        if view.entry is None:
            self.show_placeholder("Imagination appears with the first report.")
            return
        self.show_content()
        report, result = view.entry.report, view.result
        grid = ImaginationGrid(report, result.base, result.edited)
        self.grid = grid
        t = min(view.t, grid.length - 1)
        self.current.setVisible(grid.has_frames)
        self.strip.setVisible(grid.has_frames)
        self.vectors.setVisible(not grid.has_frames)
        self.vec_legend.setVisible(not grid.has_frames)
        self.legend.setText(FRAME_LEGEND if grid.has_frames else VECTOR_LEGEND)
        self.weights.setText(weights_caption(view))
        settings = result.settings
        where = "context (observed)" if t < grid.ctx else f"imagined step {t - grid.ctx + 1}/{grid.horizon}"
        text = (f"t = {t + 1}/{grid.length}: {where} · {report_caption(view)} · seed {settings.seed}, "
                f"K {settings.samples}, temp {settings.temperature:g}, actions: {SOURCES[settings.source]}")
        if result.edits:
            text += f" · {len(result.edits)} latent edit(s)"
        text += (" · imagined with the report" if result.elapsed_ms is None
                 else f" · re-imagined in {result.elapsed_ms:.0f} ms")
        self.caption.setText(text)
        strip_key = (id(view.entry), id(result))
        if grid.has_frames:
            self.current.show_composed(lambda available: grid.column_fitted(t, available))
            if strip_key != self._strip_key:
                self._strip_key = strip_key
                self.strip.set_image(grid.filmstrip())
            w, h = grid.filmstrip_cell()
            self.cursor_box.setRect(QRectF(t * w - 1, -1, w, self.strip.image.height() + 2))
            self.ctx_line.setValue(grid.ctx * w - 0.5)
        else:
            self._draw_vectors(grid, t)
        if strip_key != self._confidence_key:  # the values change with the report or the result, not the cursor
            self._confidence_key = strip_key
            self.confidence.show_rollout(grid, t)
            if grid.has_frames:
                self.confidence.mark_filmstrip(self.strip.box, grid)
        self.confidence.set_cursor(t)

    def _draw_vectors(self, grid: ImaginationGrid, t: int) -> None:
        plot = self.vectors.plotItem
        plot.clear()
        r = grid.report
        base = grid.base
        if r.real_vectors is None or base.vectors is None:
            return
        k_count = base.vectors.shape[0]
        plot.setTitle(f"the model imagines vectors (no pixels on this task): {k_count} dream(s), dream 1 thick, "
                      "and the real vector (dotted)", size="9pt")
        dims = min(6, r.real_vectors.shape[-1])
        steps = np.arange(len(r.real_vectors))
        future = np.arange(grid.ctx, grid.ctx + base.vectors.shape[1])
        names = vector_names(r)
        entries = []
        for d in range(dims):
            color = pg.intColor(d, hues=dims)
            entries.append((color.name(), "—", names[d]))
            # Per-dimension scaling over the real and the dreamed values: one fast dimension (a velocity) no
            # longer flattens the others, and a constant real dimension no longer blows its dreams up.
            both = np.concatenate([r.real_vectors[:, d], base.vectors[..., d].ravel()])[:, None]  # (N, 1)
            mean, spread = confidence.vector_scale(both)  # (1,) each
            real = (r.real_vectors[:, d] - mean) / spread
            plot.plot(steps, real, pen=pg.mkPen(color, style=Qt.PenStyle.DotLine))
            for k in range(k_count):
                pen = pg.mkPen(color, width=2.5 if k == 0 else 1)
                plot.plot(future, (base.vectors[k, :, d] - mean) / spread, pen=pen)
        self.vec_legend.set_entries(entries)
        plot.addItem(self.vec_ctx)
        plot.addItem(self.vec_cursor)
        self.vec_ctx.setValue(grid.ctx - 0.5)
        self.vec_cursor.setValue(t)

    def _strip_clicked(self, event) -> None:
        if self.grid is None:
            return
        w, _ = self.grid.filmstrip_cell()
        self.cursor_requested.emit(int(max(0, event.pos().x()) // w))
        event.accept()
