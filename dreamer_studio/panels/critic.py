"""Critic: the 255-bin two-hot distributions of the critic and the reward head at the cursor step.

Bins are spaced evenly in symlog space, so the x axis is symlog(value) with ticks in real values. The mean
(what the agent uses) and the λ-return (the critic's training target) are marked. Before the end of the context
the cursor reads the posterior states of the report; after it, the imagined future the panel follows.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel

from dreamer_studio import theme
from dreamer_studio.panels.base import LegendLabel, Panel
from dreamer_studio.session import View

# Two tick levels: pyqtgraph drops a lower level's labels where they would overlap, so a wide (untrained,
# near-uniform) distribution shows only the coarse ticks and a narrow one also the fine ones.
MAJOR_TICKS = [-1e8, -1e4, -100, 0, 100, 1e4, 1e8]
MINOR_TICKS = [-1000, -10, -1, 1, 10, 1000]


MEAN_COLOR, TARGET_COLOR = "#ffffff", "#66bb6a"  # the distribution's mean; the λ-return (critic) or reward
MASS = 0.999  # the x axis spans the bins that hold this much of the probability above the uniform level


def mass_range(x: np.ndarray, probs: np.ndarray, marks: list[float], mass: float = MASS) -> tuple[float, float]:
    """The x range of the most probable bins that together hold `mass` of the probability above the uniform level
    (1/bins), widened to show the marks (mean, target) and padded by a tenth of its width (at least 0.5).

    Above the uniform level: a critic starts uniform (zero logits) and its far bins fall only slowly, so for a long
    time a third of the mass lies spread thinly over ±1e8; counted in, it kept the axis at the full range, and the
    peak that carries the value was a sliver. A uniform distribution has no such bins and keeps the full range."""
    p = np.asarray(probs, np.float64)
    excess = np.maximum(p - 1.0 / len(p), 0.0)
    if excess.sum() <= 0:
        return float(x[0]) - 0.5, float(x[-1]) + 0.5
    order = np.argsort(excess)[::-1]
    count = int(np.searchsorted(np.cumsum(excess[order]), mass * excess.sum())) + 1
    held = x[order[:count]]
    lo, hi = float(min([held.min()] + marks)), float(max([held.max()] + marks))
    pad = max(0.1 * (hi - lo), 0.5)
    return max(lo - pad, float(x[0]) - 0.5), min(hi + pad, float(x[-1]) + 0.5)


def tick_label(v: float) -> str:
    return f"{v:g}" if abs(v) < 1e4 else f"{v:.0e}".replace("e+0", "e")


def symlog(x):
    return np.sign(x) * np.log1p(np.abs(x))


def at_cursor(view: View, head: str):
    """(probs, mean, target, source text) of the critic or reward head at the cursor, plus the edited probs."""
    r = view.entry.report
    ctx, t = r.context_len, view.t
    result = view.result
    base = result.base
    i = t - ctx
    if i >= 0 and i < base.rewards.shape[1]:
        k = min(view.sample, base.rewards.shape[0] - 1)
        probs = (base.critic_probs if head == "critic" else base.reward_probs)[k, i]
        mean = (base.values if head == "critic" else base.rewards)[k, i]
        target = base.returns[k, i] if head == "critic" and i < base.returns.shape[1] else None
        edited = None
        if result.edited is not None:
            e = result.edited
            edited = (e.critic_probs if head == "critic" else e.reward_probs)[k, i]
        return probs, mean, target, f"imagined step {i + 1}, dream {k + 1}", edited
    t = min(t, len(r.rewards) - 1)
    probs = (r.critic_probs if head == "critic" else r.reward_probs)[t]
    mean = (r.values if head == "critic" else r.reward_pred)[t]
    target = r.returns[t] if head == "critic" else r.rewards[t]
    return probs, mean, target, f"observed step {t + 1} (posterior)", None


class HeadPlot(pg.PlotWidget):
    def __init__(self, name: str, target_name: str) -> None:
        super().__init__()
        self.name, self.target_name = name, target_name
        self.full_range = False
        self.setLabel("left", "probability")
        self.setLabel("bottom", "value (symlog-spaced bins)")
        self.getAxis("bottom").setTicks([[(symlog(v), tick_label(v)) for v in MAJOR_TICKS],
                                         [(symlog(v), tick_label(v)) for v in MINOR_TICKS]])
        self.bars = pg.PlotDataItem(stepMode="center", fillLevel=0, brush=(66, 165, 245, 110),
                                    pen=pg.mkPen(theme.PRIMARY), name="two-hot probs")
        self.edited = pg.PlotDataItem(stepMode="center", pen=pg.mkPen(theme.EDITED, width=1.5), name="edited latent")
        self.addItem(self.bars)
        self.addItem(self.edited)
        self.mean = pg.InfiniteLine(angle=90, pen=pg.mkPen(MEAN_COLOR, width=2), label="mean",
                                    labelOpts={"position": 0.92, "color": MEAN_COLOR})
        self.target = pg.InfiniteLine(angle=90, pen=pg.mkPen(TARGET_COLOR, width=2, style=Qt.PenStyle.DashLine),
                                      label=target_name, labelOpts={"position": 0.8, "color": TARGET_COLOR})
        self.addItem(self.mean)
        self.addItem(self.target)

    def draw(self, bins, probs, mean, target, source, edited) -> None:
        x = symlog(np.asarray(bins, np.float64))
        mean = float(mean)
        target = None if target is None else float(target)
        edges = np.concatenate([[x[0] - (x[1] - x[0]) / 2], (x[1:] + x[:-1]) / 2, [x[-1] + (x[-1] - x[-2]) / 2]])
        self.bars.setData(edges, probs)
        self.edited.setVisible(edited is not None)
        if edited is not None:
            self.edited.setData(edges, edited)
        self.mean.setValue(symlog(mean))
        self.target.setVisible(target is not None)
        if target is not None:
            self.target.setValue(symlog(target))
        marks = [float(symlog(mean))] + ([float(symlog(target))] if target is not None else [])
        shown = probs if edited is None else np.maximum(probs, edited)
        full = (float(x[0]) - 0.5, float(x[-1]) + 0.5)
        lo, hi = full if self.full_range else mass_range(x, shown, marks)
        self.setXRange(lo, hi, padding=0)
        self.setYRange(0, max(float(probs.max()), 0.05) * 1.1, padding=0)
        text = f"{self.name} at {source}: mean {mean:.3g}"
        if target is not None:
            text += f", {self.target_name} {target:.3g}"
        self.setTitle(text, size="9pt")


class CriticPanel(Panel):
    title = "Critic"

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        layout = self.content_layout()
        self.critic = HeadPlot("critic", "λ-return")
        self.reward = HeadPlot("reward", "real reward")
        head = QHBoxLayout()
        self.legend = LegendLabel()  # one legend for both plots, above them: inside, it covered the bars
        head.addWidget(self.legend, 1)
        self.full = QCheckBox("full range")
        self.full.setToolTip("show all 255 bins; otherwise the axis spans the bins that hold 99.9% of the "
                             "probability above the uniform level (an untrained critic's), and the marks")
        self.full.toggled.connect(self._set_full)
        head.addWidget(self.full)
        layout.addLayout(head)
        layout.addWidget(self.critic, 3)
        layout.addWidget(self.reward, 2)
        note = QLabel("Bins are two-hot over 255 symexp-spaced values; step with ←/→ through observed and "
                      "imagined time.")
        note.setWordWrap(True)
        note.setStyleSheet(theme.NOTE_STYLE)
        layout.addWidget(note)

    def _set_full(self, on: bool) -> None:
        self.critic.full_range = self.reward.full_range = on
        self._key = None  # redraw at the next tick

    def render(self, view: View) -> None:
        if view.entry is None:
            self.show_placeholder("The critic's value distribution appears with the first report.")
            return
        self.show_content()
        edited = view.result.edited is not None
        entries = [(theme.PRIMARY, "▮", "two-hot"), (MEAN_COLOR, "|", "mean"),
                   (TARGET_COLOR, "┆", "λ-return / reward")]
        if edited:  # the orange curve exists only with an edit
            entries.append((theme.EDITED, "—", "edited latent"))
        self.legend.set_entries(entries)
        bins = view.entry.report.bins
        self.critic.draw(bins, *at_cursor(view, "critic"))
        probs, mean, target, source, edited = at_cursor(view, "reward")
        if source.startswith("imagined"):
            self.reward.target_name = "real reward"
            target = None  # an imagined step has no real reward
        self.reward.draw(bins, probs, mean, target, source, edited)
