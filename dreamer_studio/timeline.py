"""The one time cursor: imagined/observed time within a report, and training time across reports.

The StudioModel owns the cursor and the window passes it to every panel; this bar shows it and lets the user move it
(space plays and pauses, ←/→ step, Home/End jump, ↑/↓ move through the report history). It takes the focus
back from input fields (Escape or Enter there, or a click on the bar), so those keys reach the window again.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QPushButton, QSlider, QWidget

from dreamer_studio import theme

PLAY_FPS = 6


class TimelineBar(QWidget):
    t_changed = Signal(int)
    report_changed = Signal(int)  # index into the report history
    follow_changed = Signal(bool)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        row = QHBoxLayout(self)
        row.setContentsMargins(*theme.BAR_MARGINS)
        self.setFocusPolicy(Qt.FocusPolicy.ClickFocus)  # Escape/Enter in an input field, or a click, lands here
        self.play = QPushButton("▶ play")
        self.play.setCheckable(True)
        self.play.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.play.toggled.connect(self._toggled)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.slider.valueChanged.connect(self.t_changed)
        self.label = QLabel("t –")
        self.label.setMinimumWidth(230)
        self.reports = QSlider(Qt.Orientation.Horizontal)
        self.reports.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.reports.setMaximumWidth(220)
        self.reports.valueChanged.connect(self.report_changed)
        self.reports.setToolTip("training time: scrub through the bounded history of reports")
        self.follow = QCheckBox("follow latest report")
        self.follow.setChecked(True)
        self.follow.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.follow.toggled.connect(self.follow_changed)
        self.report_label = QLabel("no reports yet")
        self.report_label.setMinimumWidth(200)
        row.addWidget(self.play)
        row.addWidget(self.slider, 3)
        row.addWidget(self.label)
        row.addWidget(QLabel("report"))
        row.addWidget(self.reports, 1)
        row.addWidget(self.report_label)
        row.addWidget(self.follow)
        self.timer = QTimer(self)
        self.timer.setInterval(1000 // PLAY_FPS)
        self.timer.timeout.connect(self.advance)

    def set_range(self, length: int, context: int) -> None:
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(0, length - 1))
        self.slider.blockSignals(False)
        self._context = context

    def set_t(self, t: int, length: int, context: int) -> None:
        self.slider.blockSignals(True)
        self.slider.setValue(t)
        self.slider.blockSignals(False)
        if context <= 0:  # no report yet: there is no time to count
            self.label.setText("t – · no report yet")
            return
        where = "context (observed)" if t < context else f"imagined +{t - context + 1}"
        self.label.setText(f"t {t + 1}/{length} · {where}")

    def set_reports(self, count: int, index: int, text: str) -> None:
        self.reports.blockSignals(True)
        self.reports.setRange(0, max(0, count - 1))
        self.reports.setValue(index)
        self.reports.blockSignals(False)
        self.report_label.setText(text)

    def toggle_play(self) -> None:
        self.play.toggle()

    def advance(self) -> None:
        top = self.slider.maximum()
        self.slider.setValue(0 if self.slider.value() >= top else self.slider.value() + 1)

    def _toggled(self, on: bool) -> None:
        self.play.setText("❚❚ pause" if on else "▶ play")
        self.timer.start() if on else self.timer.stop()
