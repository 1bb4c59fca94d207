"""KL: the dynamics and representation KL over training with the free-bits floor, and KL per latent.

dyn = KL[sg(posterior) || prior] trains the prior to predict what the encoder will see (scale 1.0);
rep = KL[posterior || sg(prior)] keeps the posterior predictable (scale 0.1). Both are clipped below at the
free-bits floor: under the line they give no gradient, so a curve pinned to the line means the latents carry
little information; spikes usually mean a bug or a too-high learning rate.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QSplitter

from dreamer_studio import theme
from dreamer_studio.panels.base import ElidedLabel, LegendLabel, Panel, heat_lut, repaint_whole
from dreamer_studio.session import View

DYN_TIP = ("dyn: KL[sg(posterior) ‖ prior], summed over latents, averaged over the batch. Trains the prior "
           "(the dynamics) to predict the posterior. Loss scale 1.0.")
REP_TIP = ("rep: KL[posterior ‖ sg(prior)]. The same number as dyn, but its gradient trains the encoder to be "
           "predictable. Loss scale 0.1.")
FLOOR_COLOR, REPORT_MARK_COLOR = "#ffca28", "#888"  # the free-bits floor; the step of the report on screen
NO_CURVES = "no KL curves logged yet (models ship without metrics)"
FLOOR_TIP = "free bits: both KL losses are clipped below at this value, so below it they give no gradient."


def column(rows: list[dict[str, float]], key: str) -> tuple[np.ndarray, np.ndarray]:
    """(steps, values) of a metric across logged rows that have it."""
    pairs = [(r.get("step", 0.0), r[key]) for r in rows if key in r and np.isfinite(r[key])]
    if not pairs:
        return np.zeros(0), np.zeros(0)
    data = np.asarray(pairs, np.float64)
    return data[:, 0], data[:, 1]


def waiting_text(s) -> str:
    """What the KL panel waits for before training begins (the fill size is unknown until the run is built)."""
    if s.train_fill <= 0:
        return "KL curves start once training has begun."
    return (f"KL curves start once training has begun: collecting the first {s.train_fill:,} steps "
            f"({min(s.replay_steps, s.train_fill):,}/{s.train_fill:,} so far).")


class KLPanel(Panel):
    title = "KL"

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        layout = self.content_layout()
        head = QHBoxLayout()
        self.log = QCheckBox("log scale")
        self.log.toggled.connect(self._set_log)
        info = QLabel("dyn vs rep?")
        info.setToolTip(DYN_TIP + "\n\n" + REP_TIP + "\n\n" + FLOOR_TIP)
        info.setStyleSheet(f"color: {theme.LINK}; text-decoration: underline;")
        self.readout = LegendLabel()  # the legend, with the newest values
        head.addWidget(self.log)
        head.addWidget(self.readout, 1)
        head.addWidget(info)
        layout.addLayout(head)
        split = QSplitter(Qt.Orientation.Vertical)
        self.curves = pg.PlotWidget()
        self.curves.setLabel("bottom", "env frames")
        self.curves.setLabel("left", "KL (nats)")
        # dyn and rep are the same number (their gradients differ), so the curves coincide: rep is drawn first,
        # wide and translucent, and dyn thin on top, so both stay visible. The legend is a label above the plot
        # with the current values (a legend inside the plot covered the curves).
        self.rep = self.curves.plot(pen=pg.mkPen(QColor(*theme.rgb(theme.PALETTE[1]), 150), width=5), name="rep")
        self.dyn = self.curves.plot(pen=pg.mkPen(theme.PALETTE[0], width=1.5), name="dyn")
        dashed = pg.mkPen(REPORT_MARK_COLOR, width=1, style=Qt.PenStyle.DashLine)
        self.report_mark = pg.InfiniteLine(angle=90, pen=dashed)
        self.curves.addItem(self.report_mark)  # where the report on screen was taken
        self.report_mark.setVisible(False)
        self.floor = pg.InfiniteLine(angle=0, pen=pg.mkPen(FLOOR_COLOR, width=1, style=Qt.PenStyle.DotLine),
                                     label="free bits {value:.2g}", labelOpts={"position": 0.9, "color": FLOOR_COLOR})
        self.curves.addItem(self.floor)
        self.curves.setToolTip(DYN_TIP + "\n\n" + REP_TIP + "\n\n" + FLOOR_TIP)
        self.curves.plotItem.setDownsampling(mode="peak")
        self.curves.plotItem.setClipToView(True)
        split.addWidget(self.curves)
        self.heat = pg.PlotWidget()
        repaint_whole(self.heat)
        self.heat.setLabel("bottom", "report step")
        self.heat.setLabel("left", "latent")
        self.heat.setTitle("KL per latent over the report (hover for values)")
        self.heat_image = pg.ImageItem(axisOrder="row-major")
        self.heat_image.setLookupTable(heat_lut())
        self.heat.addItem(self.heat_image)
        self.heat.invertY(True)
        self.heat_cursor = pg.InfiniteLine(angle=90, pen=pg.mkPen(theme.CURSOR))
        self.heat.addItem(self.heat_cursor)
        self.hover = ElidedLabel(" ")
        self.hover.setStyleSheet(theme.CAPTION_STYLE)
        self.heat.scene().sigMouseMoved.connect(self._hovered)
        split.addWidget(self.heat)
        split.setSizes([220, 180])
        layout.addWidget(split, 1)
        layout.addWidget(self.hover)
        self._kl: np.ndarray | None = None
        self._free = 1.0
        self._title: str | None = None

    def key(self, view: View) -> object:
        waiting = (view.status.train_fill, view.status.replay_steps) if view.entry is None else None
        return (view.metrics_version, id(view.entry), view.t, waiting)

    def render(self, view: View) -> None:
        have_rows = any("train/kl_dyn" in r for r in view.metrics[-3:]) or any(
            "train/kl_dyn" in r for r in view.metrics)
        if not have_rows and view.entry is None:
            self.show_placeholder(waiting_text(view.status))
            return
        self.show_content()
        title = None if have_rows else NO_CURVES  # a model-only source: a report, no metrics rows
        if title != self._title:  # set only on a change: a title change re-lays the plot out
            self._title = title
            self.curves.setTitle(title)
        now = {}
        for item, key in ((self.dyn, "train/kl_dyn"), (self.rep, "train/kl_rep")):
            x, y = column(view.metrics, key)
            item.setData(x, y)
            now[key] = f"{y[-1]:.3g}" if len(y) else "–"
        if view.info is not None:
            self._free = view.info.config.train.free_nats
            self._place_floor()
        self.readout.set_entries([(theme.PALETTE[0], "—", f"dyn {now['train/kl_dyn']}"),
                                  (theme.PALETTE[1], "▬", f"rep {now['train/kl_rep']}"),
                                  (FLOOR_COLOR, "···", f"free bits {self._free:.2g}"),
                                  (REPORT_MARK_COLOR, "┆", "report on screen")])
        self.report_mark.setVisible(view.entry is not None)
        if view.entry is not None:
            self.report_mark.setValue(view.entry.report.env_frames)
        if view.entry is not None:
            kl = view.entry.report.kl  # (L, S)
            self._kl = kl
            self.heat_image.setImage(kl.T, autoLevels=False, levels=(0.0, max(float(kl.max()), 1e-3)))
            self.heat_cursor.setValue(min(view.t, len(kl) - 1) + 0.5)
        elif self._kl is not None:  # a new run (or a watched one before its first snapshot): no stale heat map
            self._kl = None
            self.heat_image.clear()

    def _set_log(self, on: bool) -> None:
        self.curves.setLogMode(y=on)
        self._place_floor()

    def _place_floor(self) -> None:
        # In log mode pyqtgraph plots log10(y); the line is in view coordinates.
        self.floor.setValue(np.log10(max(self._free, 1e-6)) if self.log.isChecked() else self._free)
        self.floor.label.setFormat(f"free bits {self._free:.2g}")

    def _hovered(self, pos) -> None:
        if self._kl is None:
            return
        p = self.heat.plotItem.vb.mapSceneToView(pos)
        t, s = int(np.floor(p.x())), int(np.floor(p.y()))
        if 0 <= t < self._kl.shape[0] and 0 <= s < self._kl.shape[1]:
            self.hover.setText(f"latent {s}, step {t + 1}: KL {self._kl[t, s]:.3f} nats")
