"""An image view whose picture is drawn for the pixels it is shown at.

A 64-px tile composed once and scaled by the view loses its caption's strokes when shrunk and leaves the view
mostly empty when small; here the panel hands over `compose(width, height)`, called again on every resize, and
draws tiles and captions at that size.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from dreamer_studio import theme
from dreamer_studio.panels.base import ImageView

Compose = Callable[[tuple[int, int]], np.ndarray]  # (width, height) pixels available -> (h, w, 3) uint8


class FittedImageView(ImageView):
    def __init__(self, parent=None, interactive: bool = False) -> None:
        super().__init__(parent, interactive)
        self._compose: Compose | None = None
        self._composed_for: tuple[int, int] | None = None

    def available(self) -> tuple[int, int]:
        """(width, height) pixels the picture can fill: the widget less its margins and the 1 % fit padding."""
        left, top, right, bottom = theme.TIGHT_MARGINS
        width, height = self.width() - left - right - 2, self.height() - top - bottom - 2
        return max(16, int(width * 0.98)), max(16, int(height * 0.98))

    def show_composed(self, compose: Compose) -> None:
        """Draws `compose(available())` now and again whenever the view's size changes."""
        self._compose = compose
        self._draw()

    def set_image(self, frame: np.ndarray) -> None:
        """A fixed picture, scaled by the view (no composer)."""
        self._compose = None
        super().set_image(frame)

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        super().resizeEvent(event)
        # getattr: Qt resizes the view inside ImageView.__init__, before the attributes are set.
        if getattr(self, "_compose", None) is not None and self.available() != self._composed_for:
            self._draw()

    def _draw(self) -> None:
        self._composed_for = self.available()
        super().set_image(self._compose(self._composed_for))
