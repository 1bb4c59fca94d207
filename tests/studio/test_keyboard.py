"""Keys in the window: input fields keep the keys they need, the timeline gets them back, held action keys never
stick, and the Ctrl shortcuts live on the window (not only on the toolbar)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QToolBar, QWidget

from .helpers import debug_config, fill_and_report, report_now, wait_report


def _active(qtbot, window) -> None:
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5_000)


def test_spin_boxes_keep_up_down_and_escape_or_enter_give_the_keys_back(qtbot, make_window):
    window = make_window(debug_config(), paused=True)
    qtbot.waitUntil(lambda: window.worker.info is not None, timeout=30_000)
    fill_and_report(qtbot, window.worker)
    report_now(qtbot, window.worker)
    qtbot.waitUntil(lambda: window.model.report_ids == tuple(window.worker.reports.ids()))
    assert len(window.model.report_ids) >= 2
    wait_report(qtbot, window)
    _active(qtbot, window)
    horizon = window.imagination.controls.horizon
    horizon.setFocus()
    qtbot.waitUntil(horizon.hasFocus)
    value = horizon.value()
    qtbot.keyClick(horizon, Qt.Key.Key_Up)
    assert horizon.value() == value + 1  # the box stepped ...
    newest = len(window.model.report_ids) - 1
    assert window.model.follow and window.model.index() == newest  # ... and the report did not change
    qtbot.keyClick(horizon, Qt.Key.Key_Escape)
    qtbot.waitUntil(window.timeline.hasFocus)
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Up)  # back on the timeline: ↑ is the older report
    assert window.model.index() == newest - 1 and not window.model.follow
    seed = window.imagination.controls.seed
    seed.setFocus()
    qtbot.waitUntil(seed.hasFocus)
    qtbot.keyClick(seed, Qt.Key.Key_Return)
    qtbot.waitUntil(window.timeline.hasFocus)
    window.model.set_t(0)
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Right)
    assert window.model.t == 1

    # Ctrl shortcuts still work with the toolbar hidden.
    window.findChild(QToolBar).hide()
    with qtbot.waitSignal(window.worker.resumed, timeout=10_000):
        qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Space, Qt.KeyboardModifier.ControlModifier)
    with qtbot.waitSignal(window.worker.paused, timeout=10_000):
        qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Space, Qt.KeyboardModifier.ControlModifier)


def test_held_action_keys_are_released_wherever_the_focus_went(qtbot, make_window):
    window = make_window(debug_config(), paused=True)
    qtbot.waitUntil(lambda: window.worker.info is not None, timeout=30_000)
    controls = window.imagination.controls
    controls.source.setCurrentIndex(controls.source.findData("keys"))
    _active(qtbot, window)
    window.timeline.setFocus()
    qtbot.waitUntil(window.timeline.hasFocus)
    qtbot.keyPress(window.timeline, Qt.Key.Key_2)
    assert window.model.held_keys.keys == (Qt.Key.Key_2,) and controls.held == (0.0, 1.0, 0.0)
    controls.seed.setFocus()  # focus moves to a spin box while the key is held
    qtbot.waitUntil(controls.seed.hasFocus)
    qtbot.keyRelease(controls.seed, Qt.Key.Key_2)
    assert window.model.held_keys.keys == () and controls.held == (1.0, 0.0, 0.0)  # nothing held: action 1

    # Two digits at once: the last pressed wins; releasing it falls back to the one still held.
    window.timeline.setFocus()
    qtbot.keyPress(window.timeline, Qt.Key.Key_2)
    qtbot.keyPress(window.timeline, Qt.Key.Key_3)
    assert controls.held == (0.0, 0.0, 1.0)
    qtbot.keyRelease(window.timeline, Qt.Key.Key_3)
    assert window.model.held_keys.keys == (Qt.Key.Key_2,) and controls.held == (0.0, 1.0, 0.0)
    qtbot.keyRelease(window.timeline, Qt.Key.Key_2)

    qtbot.keyPress(window.timeline, Qt.Key.Key_3)
    assert window.model.held_keys.keys == (Qt.Key.Key_3,)
    other = QWidget()  # the user switches to another window, and releases the key there
    qtbot.addWidget(other)
    other.show()
    other.activateWindow()
    qtbot.waitUntil(lambda: not window.isActiveWindow(), timeout=5_000)
    assert window.model.held_keys.keys == () and controls.held == (1.0, 0.0, 0.0)
