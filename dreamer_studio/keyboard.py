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
    """Installs the timeline shortcuts on `window` and filters the application's key events for it. The keys
    act on the window's StudioModel (which also holds the held action keys)."""

    def __init__(self, window) -> None:
        super().__init__(window)
        self.window = window
        model = window.model
        for key, slot in ((Qt.Key.Key_Space, window.timeline.toggle_play), (Qt.Key.Key_Left, model.step_back),
                          (Qt.Key.Key_Right, model.step_forward), (Qt.Key.Key_Home, model.go_first),
                          (Qt.Key.Key_End, model.go_last), (Qt.Key.Key_Up, model.older_report),
                          (Qt.Key.Key_Down, model.newer_report)):
            QShortcut(QKeySequence(key), window, activated=slot)

    def focus_timeline(self) -> None:
        self.window.timeline.setFocus(Qt.FocusReason.ShortcutFocusReason)

    def _ours(self, obj: QObject) -> bool:
        return isinstance(obj, QWidget) and obj.window() is self.window

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt naming)
        kind = event.type()
        if kind == QEvent.Type.WindowDeactivate and obj is self.window:
            self.window.model.release_all()
        elif kind == QEvent.Type.ShortcutOverride and self._ours(obj):
            no_mods = event.modifiers() in (Qt.KeyboardModifier.NoModifier, Qt.KeyboardModifier.KeypadModifier)
            if event.key() in STEP_KEYS and no_mods and isinstance(input_widget(obj), STEPPED):
                event.accept()  # the focused box steps its value instead of the window changing the report
                return True
        elif kind == QEvent.Type.KeyRelease:
            # Always handled: focus or activation may have moved since the press.
            if not event.isAutoRepeat() and self.window.model.release_key(event.key()):
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
        if event.isAutoRepeat() or not self.window.isActiveWindow():
            return False
        return self.window.model.press_key(event.key())
