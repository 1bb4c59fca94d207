"""Critic: the 255-bin two-hot distributions of the critic and the reward head at the cursor step.

Bins are spaced evenly in symlog space, so the x axis is symlog(value) with ticks in real values. The mean
(what the agent uses) and the λ-return (the critic's training target) are marked. Before the end of the context
the cursor reads the posterior states of the report; after it, the imagined future the panel follows.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout

from dreamer_studio.panels.base import Panel
from dreamer_studio.session import View

# Two tick levels: pyqtgraph drops a lower level's labels where they would overlap, so a wide (untrained,
# near-uniform) distribution shows only the coarse ticks and a narrow one also the fine ones.
MAJOR_TICKS = [-1e8, -1e4, -100, 0, 100, 1e4, 1e8]
MINOR_TICKS = [-1000, -10, -1, 1, 10, 1000]


def tick_label(v: float) -> str:
    return f"{v:g}" if abs(v) < 1e4 else f"{v:.0e}".replace("e+0", "e")


def symlog(x):
    return np.sign(x) * np.log1p(np.abs(x))


def at_cursor(view: View, head: str):
    """(probs, mean, target, source text) of the critic or reward head at the cursor, plus the edited probs."""
    r = view.entry.report
    ctx, t = r.context_len, view.t
    result = view.result
    base = result.base if result is not None else r.imagination
    i = t - ctx
    if i >= 0 and i < base.rewards.shape[1]:
        k = min(view.sample, base.rewards.shape[0] - 1)
        probs = (base.critic_probs if head == "critic" else base.reward_probs)[k, i]
        mean = (base.values if head == "critic" else base.rewards)[k, i]
        target = base.returns[k, i] if head == "critic" and i < base.returns.shape[1] else None
        edited = None
        if result is not None and result.edited is not None:
            e = result.edited
            edited = (e.critic_probs if head == "critic" else e.reward_probs)[k, i]
        return probs, mean, target, f"imagined step {i + 1}, dream {k + 1}", edited
    t = min(t, len(r.rewards) - 1)
    probs = (r.critic_probs if head == "critic" else r.reward_probs)[t]
    mean = (r.values if head == "critic" else r.reward_pred)[t]
    target = r.returns[t] if head == "critic" else r.rewards[t]
    return probs, mean, target, f"observed step {t + 1} (posterior)", None


class HeadPlot(pg.PlotWidget):
    def __init__(self, name: str, target_name: str, legend: bool = True) -> None:
        super().__init__()
        self.name, self.target_name = name, target_name
        self.setLabel("left", "probability")
        self.setLabel("bottom", "value (symlog-spaced bins)")
        self.getAxis("bottom").setTicks([[(symlog(v), tick_label(v)) for v in MAJOR_TICKS],
                                         [(symlog(v), tick_label(v)) for v in MINOR_TICKS]])
        if legend:  # one legend for both plots: the short reward plot has no room for it
            self.addLegend(offset=(5, 5))
        self.bars = pg.PlotDataItem(stepMode="center", fillLevel=0, brush=(66, 165, 245, 110),
                                    pen=pg.mkPen("#42a5f5"), name="two-hot probs")
        self.edited = pg.PlotDataItem(stepMode="center", pen=pg.mkPen("#ffa000", width=1.5), name="edited latent")
        self.addItem(self.bars)
        self.addItem(self.edited)
        self.mean = pg.InfiniteLine(angle=90, pen=pg.mkPen("#ffffff", width=2), label="mean",
                                    labelOpts={"position": 0.92, "color": "#fff"})
        self.target = pg.InfiniteLine(angle=90, pen=pg.mkPen("#66bb6a", width=2, style=Qt.PenStyle.DashLine),
                                      label=target_name, labelOpts={"position": 0.8, "color": "#66bb6a"})
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
        mass = np.flatnonzero(probs > 2e-3)
        lo, hi = (x[mass[0]], x[mass[-1]]) if len(mass) else (-1.0, 1.0)
        marks = [symlog(mean)] + ([symlog(target)] if target is not None else [])
        lo, hi = float(min([lo] + marks)), float(max([hi] + marks))
        self.setXRange(lo - 0.5, hi + 0.5, padding=0)
        self.setYRange(0, max(float(probs.max()), 0.05) * 1.1, padding=0)
        text = f"{self.name} at {source}: mean {mean:.3g}"
        if target is not None:
            text += f", {self.target_name} {target:.3g}"
        self.setTitle(text, size="9pt")


class CriticPanel(Panel):
    title = "Critic"

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self.content)
        layout.setContentsMargins(4, 4, 4, 4)
        self.critic = HeadPlot("critic", "λ-return")
        self.reward = HeadPlot("reward", "real reward", legend=False)
        layout.addWidget(self.critic, 3)
        layout.addWidget(self.reward, 2)
        note = QLabel("Bins are two-hot over 255 symexp-spaced values; step with ←/→ through observed and "
                      "imagined time.")
        note.setWordWrap(True)
        note.setStyleSheet("color: #aaa; font-size: 11px;")
        layout.addWidget(note)

    def render(self, view: View) -> None:
        if view.entry is None:
            self.show_placeholder("The critic's value distribution appears with the first report.")
            return
        self.show_content()
        bins = view.entry.report.bins
        self.critic.draw(bins, *at_cursor(view, "critic"))
        probs, mean, target, source, edited = at_cursor(view, "reward")
        if source.startswith("imagined"):
            self.reward.target_name = "real reward"
            target = None  # an imagined step has no real reward
        self.reward.draw(bins, probs, mean, target, source, edited)
