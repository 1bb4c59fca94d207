"""The window's keyboard: timeline keys, held action keys, and which keys an input field keeps.

- The timeline keys (Space, ←/→, Home/End, ↑/↓) are window shortcuts. An input field keeps the keys it needs:
  spin boxes, combo boxes and lists keep ↑/↓ and PgUp/PgDn; text fields (a spin box's too) keep ←/→, Home/End
  and Space, as Qt's line edits always do. Escape, Enter or Return in an input field hands the focus back to
  the timeline, so the cursor keys work again (clicking the timeline bar does the same).
- Held keys (1–9, W/A/S/D) drive imagination when the action source is "your keys". A release is always
  handled, wherever the focus went meanwhile, and leaving the window releases every held key.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt, QTimer
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QAbstractItemView, QAbstractSpinBox, QApplication, QComboBox, QLineEdit, QWidget

from dreamer_studio.keys import held_action, is_action_key

STEP_KEYS = {Qt.Key.Key_Up, Qt.Key.Key_Down, Qt.Key.Key_PageUp, Qt.Key.Key_PageDown}
STEPPED = (QAbstractSpinBox, QComboBox, QAbstractItemView)  # widgets that keep STEP_KEYS while focused
RETURN_KEYS = {Qt.Key.Key_Escape, Qt.Key.Key_Return, Qt.Key.Key_Enter}


def input_widget(widget: QObject | None) -> QWidget | None:
    """The input field `widget` is part of (a spin box's or combo box's own line edit counts as the box)."""
    if not isinstance(widget, QWidget):
        return None
    parent = widget.parentWidget()
    if isinstance(parent, (QAbstractSpinBox, QComboBox)):
        return parent
    if isinstance(widget, (QAbstractSpinBox, QComboBox, QLineEdit, QAbstractItemView)):
        return widget
    if isinstance(parent, QAbstractItemView):  # an item view's viewport
        return parent
    return None


class Keyboard(QObject):
    """Installs the timeline shortcuts on `window` and filters the application's key events for it."""

    def __init__(self, window) -> None:
        super().__init__(window)
        self.window = window
        self.held: set[int] = set()
        for key, slot in ((Qt.Key.Key_Space, window.timeline.toggle_play), (Qt.Key.Key_Left, window.step_back),
                          (Qt.Key.Key_Right, window.step_forward), (Qt.Key.Key_Home, window.go_first),
                          (Qt.Key.Key_End, window.go_last), (Qt.Key.Key_Up, window.older_report),
                          (Qt.Key.Key_Down, window.newer_report)):
            QShortcut(QKeySequence(key), window, activated=slot)

    def focus_timeline(self) -> None:
        self.window.timeline.setFocus(Qt.FocusReason.ShortcutFocusReason)

    def release_all(self) -> None:
        if self.held:
            self.held.clear()
            self._publish()

    def _ours(self, obj: QObject) -> bool:
        return isinstance(obj, QWidget) and obj.window() is self.window

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt naming)
        kind = event.type()
        if kind == QEvent.Type.WindowDeactivate and obj is self.window:
            self.release_all()
        elif kind == QEvent.Type.ShortcutOverride and self._ours(obj):
            no_mods = event.modifiers() in (Qt.KeyboardModifier.NoModifier, Qt.KeyboardModifier.KeypadModifier)
            if event.key() in STEP_KEYS and no_mods and isinstance(input_widget(obj), STEPPED):
                event.accept()  # the focused box steps its value instead of the window changing the report
                return True
        elif kind == QEvent.Type.KeyRelease:
            if not event.isAutoRepeat() and event.key() in self.held:
                self.held.discard(event.key())  # always: focus or activation may have moved since the press
                self._publish()
                return True
        elif kind == QEvent.Type.KeyPress and self._ours(obj):
            field = input_widget(QApplication.focusWidget())
            if field is not None:
                if event.key() in RETURN_KEYS and obj is QApplication.focusWidget():
                    QTimer.singleShot(0, self.focus_timeline)  # after the field took the key (Enter commits)
                return False
            return self._press(event)
        return False

    def _press(self, event) -> bool:
        window = self.window
        if window.settings.source != "keys" or event.isAutoRepeat() or not window.isActiveWindow():
            return False
        info = window.worker.info if window.worker else None
        if info is None or not is_action_key(event.key()):
            return False
        self.held.add(event.key())
        self._publish()
        return True

    def _publish(self) -> None:
        window = self.window
        info = window.worker.info if window.worker else None
        if info is None:
            return
        window.imagination.controls.set_held(held_action(self.held, info.act_dim, info.discrete))
