"""Shared panel machinery: visible-only redraws, an empty-state message, and an RGB image view."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import QGraphicsView, QLabel, QSizePolicy, QStackedWidget, QVBoxLayout, QWidget

from dreamer_studio import theme
from dreamer_studio.session import View

pg.setConfigOptions(imageAxisOrder="row-major", antialias=True)


class Panel(QWidget):
    """A panel shows a placeholder until it has data, and redraws only when visible and its inputs changed."""

    title = ""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._stack = QStackedWidget(self)
        self.placeholder = QLabel("waiting for the first report…", alignment=Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setWordWrap(True)
        self.placeholder.setStyleSheet("color: #aaa; font-size: 13px; padding: 12px;")
        self.content = QWidget()
        self._stack.addWidget(self.placeholder)
        self._stack.addWidget(self.content)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._stack)
        self._key: object = None
        self._drawn_view: View | None = None
        self.renders = 0  # how often this panel actually redrew (tests and the benchmark read it)

    def content_layout(self) -> QVBoxLayout:
        """The vertical layout of the panel's content, with the margins every panel shares."""
        layout = QVBoxLayout(self.content)
        layout.setContentsMargins(*theme.PANEL_MARGINS)
        return layout

    def refresh(self, view: View, force: bool = False) -> None:
        if not self.isVisible() and not force:
            return
        key = self.key(view)
        if key == self._key and not force:
            return
        self._key = key
        self._drawn_view = view
        self.renders += 1
        self.render(view)

    def redraw(self) -> None:
        """Draws the last drawn view again at once: for a panel's own control, which its `key` includes."""
        if self._drawn_view is not None:
            self.refresh(self._drawn_view, force=True)

    @property
    def drawn_key(self) -> object:
        """The `key` of what the panel drew last (None before its first drawing)."""
        return self._key

    def key(self, view: View) -> object:
        """What the drawing depends on; the panel redraws only when this changes."""
        return (id(view.entry), id(view.result), view.t, view.sample)

    def render(self, view: View) -> None:
        raise NotImplementedError

    def show_placeholder(self, text: str) -> None:
        self.placeholder.setText(text)
        self._stack.setCurrentIndex(0)

    def show_content(self) -> None:
        self._stack.setCurrentIndex(1)


class ElidedLabel(QLabel):
    """One line of plain text that never asks for more width than it gets: a longer text is cut with "…" (the
    whole of it is the tooltip). A QLabel asks for its text's width, so a growing caption used to widen its panel
    and move the splitters around it; this one keeps every layout where it is."""

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(text, parent)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setWordWrap(False)

    def setText(self, text: str) -> None:  # noqa: N802 (Qt naming)
        super().setText(text)
        self.setToolTip(text)

    def minimumSizeHint(self) -> QSize:  # noqa: N802
        return QSize(10, self.fontMetrics().height() + 2)

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(10, self.fontMetrics().height() + 2)

    def is_elided(self) -> bool:
        return self.fontMetrics().horizontalAdvance(self.text()) > self.contentsRect().width()

    def paintEvent(self, event) -> None:  # noqa: N802
        painter = QPainter(self)
        painter.setPen(self.palette().color(self.foregroundRole()))
        rect = self.contentsRect()
        text = self.fontMetrics().elidedText(self.text(), Qt.TextElideMode.ElideRight, rect.width())
        painter.drawText(rect, int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter), text)


class LegendLabel(QLabel):
    """A plot's legend as one line of coloured text outside the plot (a legend inside it covers the curves); it
    never widens its panel (a longer line is clipped, and the tooltip holds the plain text)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.setTextFormat(Qt.TextFormat.RichText)
        self.setStyleSheet("font-size: 11px;")
        self.entries: list[str] = []  # plain text of each entry (tests and the tooltip)

    def set_entries(self, entries: list[tuple[str, str, str]]) -> None:
        """(colour, mark, text) per entry, e.g. ("#42a5f5", "—", "dyn 2.81")."""
        self.entries = [f"{mark} {text}" for _, mark, text in entries]
        html = "&nbsp;&nbsp;".join(f"<span style='color:{color}'>{mark}</span>&nbsp;{text}"
                                         for color, mark, text in entries)
        if html != self.text():
            self.setText(html)
            self.setToolTip(" · ".join(self.entries))


class ImageView(pg.GraphicsLayoutWidget):
    """An RGB uint8 image that keeps its aspect ratio; zoom and pan with the mouse, double-click to fit."""

    def __init__(self, parent: QWidget | None = None, interactive: bool = True) -> None:
        super().__init__(parent)
        self.setBackground(theme.PLOT_BACKGROUND)
        self.ci.layout.setContentsMargins(*theme.TIGHT_MARGINS)
        self.box = self.addViewBox(lockAspect=True, invertY=True, enableMouse=interactive)
        self.box.setMenuEnabled(False)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.box.addItem(self.image)
        self._shape: tuple[int, ...] | None = None

    def set_image(self, frame: np.ndarray) -> None:
        self.image.setImage(frame, autoLevels=False, levels=(0, 255))
        if frame.shape != self._shape:
            self._shape = frame.shape
            self.box.autoRange(padding=0.01)

    def mouseDoubleClickEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        self.box.autoRange(padding=0.01)
        super().mouseDoubleClickEvent(event)


def heat_lut(name: str = "viridis") -> np.ndarray:
    return pg.colormap.get(name).getLookupTable(nPts=256)


def repaint_whole(plot: pg.PlotWidget) -> None:
    """Redraws all of a heat map's plot on a change: a partial update left a stale piece of the KL heat map's rotated
    left-axis label in its top-left corner after a resize (the label draws outside its axis's rect, which bounds
    the repaint). Every heat map with a rotated axis label (KL, latents) has that layout."""
    plot.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.FullViewportUpdate)


def report_caption(view: View) -> str:
    entry = view.entry
    if entry is None:
        return ""
    r = entry.report
    return f"report at {r.updates:,} updates · {r.env_frames:,} env frames"


def weights_caption(view: View) -> str:
    """Which weights imagined the future on screen: the report's own, or (when they were not kept) today's."""
    if view.entry is None:
        return ""
    at = view.result.weights_updates
    if at is not None:
        return f"imagined with the weights at {at:,} updates (the report's own)"
    return ("imagined with the weights of now, newer than the report's (too large a model to keep a copy of "
            "the weights of each report)")


def titled(panel) -> QWidget:
    """A panel under a small bold title."""
    box = QWidget()
    layout = QVBoxLayout(box)
    layout.setContentsMargins(*theme.TIGHT_MARGINS)
    layout.setSpacing(1)
    layout.addWidget(QLabel(f"<b>{panel.title}</b>"))
    layout.addWidget(panel, 1)
    return box
