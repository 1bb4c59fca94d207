"""Losses & health: every logged loss, entropy, return scale, score, throughput and replay size vs env frames."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QGridLayout, QLabel, QVBoxLayout, QWidget

from dreamer_core.official import OfficialCurve, missing_reason, official_curve
from dreamer_studio import theme
from dreamer_studio.panels.base import LegendLabel, Panel
from dreamer_studio.panels.kl import column
from dreamer_studio.phase import Phase
from dreamer_studio.session import View

# (title, [(metric key or prefix*, legend name)], scale; negative: log y axis with scale -s)
# Legend names are short so a legend fits its quarter of the window: a reconstruction loss is named by what it
# reconstructs (image, position, …), rew and con are the reward and continue heads.
GROUPS = [
    ("world model losses", [("train/loss/dyn", "dyn"), ("train/loss/rep", "rep"), ("train/loss/rec/*", ""),
                            ("train/loss/rew", "rew"), ("train/loss/con", "con")], -1.0),
    ("actor & critic losses", [("train/loss/policy", "policy"), ("train/loss/value", "value"),
                               ("train/loss/repval", "replay value")], 1.0),
    ("action entropy / randomness", [("train/ent/action", "entropy"), ("train/rand/action", "randomness")], 1.0),
    ("return scale S and λ-return", [("train/ret_scale", "scale"), ("train/ret", "return")], 1.0),
    ("episode score", [("episode/score", "score")], 1.0),
    ("throughput (per second)", [("fps/policy", "env steps"), ("fps/updates", "updates")], 1.0),
    ("gradient norm", [("train/grad_norm", "grad norm")], -1.0),
    ("replay RAM (MB)", [("replay/ram_bytes", "RAM")], 1e-6),
]
# What an empty plot is waiting for; any other empty plot says "nothing logged yet".
WAITING_FOR = {"episode score": "no episode has finished yet"}
SCORE_PLOT = [title for title, _, _ in GROUPS].index("episode score")
COLORS = theme.PALETTE
OFFICIAL_COLOR, BAND_COLOR = "#9e9e9e", "#555"  # the official mean; its min–max band
SPARSE = 60  # a curve with fewer points gets a marker on each (one finished episode is a point, not nothing)
SCORE_SPAN_STEP = 10_000  # the score plot's x-axis ends at 1.5x the run's frames, rounded up to this


def score_span(frames: float) -> float:
    """Where the score plot's x-axis ends: the run's frames with headroom, not the official curve's 1M frames
    (which squeezed a short run against the left edge; the plot's auto-range button shows the whole curve)."""
    return float(np.ceil(max(frames, 1.0) * 1.5 / SCORE_SPAN_STEP) * SCORE_SPAN_STEP)


def rates_text(view: View) -> str:
    """The run's throughput for the header: a watched run's own logged rates (the viewer trains nothing, so its
    meter reads 0), none when the run has logged none yet."""
    s = view.status
    if s.phase != Phase.WATCHING:
        return f"{s.update_fps:.2f} updates/s · {s.policy_fps:.1f} env steps/s · "
    logged = next((r for r in reversed(view.metrics) if "fps/updates" in r and "fps/policy" in r), None)
    if logged is None:
        return ""
    return f"{logged['fps/updates']:.2f} updates/s · {logged['fps/policy']:.1f} env steps/s · "


def expand(keys: list[tuple[str, str]], available: set[str]) -> list[tuple[str, str]]:
    out = []
    for key, name in keys:
        if key.endswith("*"):
            out += [(k, name + k[len(key) - 1:]) for k in sorted(available) if k.startswith(key[:-1])]
        else:
            out.append((key, name))
    return out


class LossesPanel(Panel):
    title = "Losses & health"

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        layout = self.content_layout()
        self.header = QLabel()
        self.header.setStyleSheet(theme.CAPTION_STYLE)
        layout.addWidget(self.header)
        self.official_note = QLabel()  # the official curve's source, the run's standing and differing settings
        self.official_note.setStyleSheet(theme.MUTED_STYLE)
        self.official_note.setWordWrap(True)
        layout.addWidget(self.official_note)
        grid = QGridLayout()
        layout.addLayout(grid, 1)
        self.plots: list[tuple[pg.PlotWidget, list[tuple[str, str]], float]] = []
        self.titles: list[str] = []  # the title each plot shows now (with a note while it is empty)
        self.curves: dict[tuple[int, str], pg.PlotDataItem] = {}
        self.legends: list[LegendLabel] = []
        for i, (title, keys, scale) in enumerate(GROUPS):
            plot = pg.PlotWidget(title=title)
            plot.plotItem.setDownsampling(mode="peak")
            plot.plotItem.setClipToView(True)
            plot.setLabel("bottom", "env frames")
            if scale < 0:
                plot.setLogMode(y=True)
                plot.setLabel("left", "log scale")
            cell = QWidget()  # the legend (with current values) above the plot, so it covers no curve
            box = QVBoxLayout(cell)
            box.setContentsMargins(0, 0, 0, 0)
            box.setSpacing(0)
            legend = LegendLabel()
            box.addWidget(legend)
            box.addWidget(plot, 1)
            self.legends.append(legend)
            grid.addWidget(cell, i // 4, i % 4)
            self.plots.append((plot, keys, abs(scale)))
            self.titles.append("")  # set by the first render
        self.official: OfficialCurve | None = None
        self._official_for: tuple[str, str] | None = None  # (task, obs) whose band is drawn
        self._official_items: list = []
        self._score_span = 0.0  # the x-axis end last set on the score plot
        self.plots[SCORE_PLOT][0].getViewBox().setAutoVisible(y=True)  # y fits the visible part of the band

    def key(self, view: View) -> object:
        return view.metrics_version, id(view.info)

    def _draw_official(self, view: View) -> None:
        """The official DreamerV3 band (min-max over seeds) and mean under the live episode score, once per task."""
        if view.info is None:
            return
        config = view.info.config
        wanted = (config.env.task, config.env.obs)
        if wanted != self._official_for:
            self._official_for = wanted
            plot = self.plots[SCORE_PLOT][0]
            for item in self._official_items:
                plot.removeItem(item)
            self._official_items = []
            self.official = official_curve(*wanted)
            if self.official is not None:
                c = self.official
                centre = c.start + c.bin_frames / 2
                low = pg.PlotDataItem(centre, c.low, pen=pg.mkPen(BAND_COLOR))
                high = pg.PlotDataItem(centre, c.high, pen=pg.mkPen(BAND_COLOR))
                band = pg.FillBetweenItem(low, high, brush=pg.mkBrush(120, 120, 120, 60))
                dashed = pg.mkPen(OFFICIAL_COLOR, width=1.5, style=pg.QtCore.Qt.DashLine)
                mean = pg.PlotDataItem(centre, c.mean, pen=dashed, name=f"official ({c.seeds} seeds)")
                for item in (low, high, band):
                    plot.addItem(item)
                plot.addItem(mean)
                self._official_items = [low, high, band, mean]
        self.official_note.setText(self._official_text(view))

    def _official_text(self, view: View) -> str:
        config = view.info.config
        if self.official is None:
            return missing_reason(config.env.task, config.env.obs) + "."
        c, rows = self.official, view.metrics
        scores = [(r["step"], r["episode/score"]) for r in rows if r.get("episode/score") is not None]
        text = f"episode score vs the official DreamerV3 curve ({c.source}): "
        if scores:
            recent = scores[-5:]
            frames, score = recent[-1][0], float(np.mean([s for _, s in recent]))
            standing = c.standing(frames, score)
            text += (f"mean of the last {len(recent)} episodes {score:.0f} at {int(frames):,} frames is "
                     f"{standing if standing else 'past the end of the official runs'}")
        else:
            text += "no episode has finished yet"
        differ = c.differences(config)
        text += (f" · settings differ: {', '.join(differ)}" if differ else " · same settings as the official runs")
        return text

    def render(self, view: View) -> None:
        rows = view.metrics
        if not rows:
            self.show_placeholder("Metrics appear after the first log interval (a few seconds).")
            return
        self.show_content()
        self._draw_official(view)
        available = set().union(*(r.keys() for r in rows[-5:]))
        for i, (plot, keys, scale) in enumerate(self.plots):
            points, entries = 0, []
            for j, (key, name) in enumerate(expand(keys, available)):
                color = COLORS[j % len(COLORS)]
                curve = self.curves.get((i, key))
                if curve is None:
                    curve = plot.plot(pen=pg.mkPen(color, width=1.5), name=name)
                    self.curves[(i, key)] = curve
                x, y = column(rows, key)
                sparse = 0 < len(x) < SPARSE
                if sparse != (curve.opts["symbol"] is not None):
                    curve.setSymbol("o" if sparse else None)
                    curve.setSymbolSize(5)
                    curve.setSymbolBrush(color)
                    curve.setSymbolPen(color)
                curve.setData(x, y * scale)
                points += len(x)
                entries.append((color, "—", f"{name} {y[-1] * scale:.3g}" if len(y) else f"{name} –"))
            if i == SCORE_PLOT and self.official is not None:
                entries.append((OFFICIAL_COLOR, "- -", f"official ({self.official.seeds} seeds), band: min–max"))
            self.legends[i].set_entries(entries)
            title = GROUPS[i][0]
            title = title if points else f"{title}: {WAITING_FOR.get(title, 'nothing logged yet')}"
            if title != self.titles[i]:  # setTitle relayouts the plot, so only on a change
                plot.setTitle(title)
                self.titles[i] = title
        self._range_score_plot(rows)
        s, info = view.status, view.info
        device = info.device if info else "?"
        self.header.setText(f"device {device} · {rates_text(view)}"
                            f"{s.updates:,} updates · {s.env_frames:,} env frames · {len(rows):,} logged rows")

    def _range_score_plot(self, rows: list[dict[str, float]]) -> None:
        """Only when the span grows, so the plot's auto-range button (the whole official curve) holds until then."""
        span = score_span(max(r.get("step", 0.0) for r in rows[-5:]))
        if span != self._score_span:
            self._score_span = span
            self.plots[SCORE_PLOT][0].setXRange(0.0, span, padding=0.02)
