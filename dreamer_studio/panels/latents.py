"""Latents: the S x C categorical probabilities at the cursor, and the start latent you can edit.

Columns are the S latents, rows their C classes. Click a cell of the bottom grid to set that latent of the
imagination's start state to that class; the future is re-imagined from the edited state with the same seed
and shown next to the unedited one (here and, in orange, in the Imagination panel). Click the original class
(white) to undo one edit.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QPushButton

from dreamer_core import image_grid, video
from dreamer_studio import theme
from dreamer_studio.panels.base import ElidedLabel, ImageView, Panel, heat_lut, repaint_whole
from dreamer_studio.session import View

ORIGINAL = (235, 235, 235)
EDIT = image_grid.EDITED
OFF = (40, 40, 48)
REMOVED = (110, 110, 110)


def start_grid(start_stoch: np.ndarray, edits: dict[int, int]) -> np.ndarray:
    """(C, S, 3) uint8: the start latent's classes in white, edited latents in orange (old class grey)."""
    s_count, c_count = start_stoch.shape
    grid = np.empty((c_count, s_count, 3), np.uint8)
    grid[:] = OFF
    original = start_stoch.argmax(-1)
    grid[original, np.arange(s_count)] = ORIGINAL
    for s, c in edits.items():
        grid[original[s], s] = REMOVED
        grid[c, s] = EDIT
    return grid


class ProbGrid(pg.PlotWidget):
    def __init__(self, title: str) -> None:
        super().__init__()
        self.setTitle(title, size="9pt")
        self.setLabel("bottom", "latent")
        self.setLabel("left", "class")
        self.image = pg.ImageItem(axisOrder="row-major")
        self.image.setLookupTable(heat_lut("inferno"))
        self.addItem(self.image)
        self.invertY(True)
        self.setMouseEnabled(False, False)
        self.hideButtons()
        repaint_whole(self)

    def set_probs(self, probs: np.ndarray, title: str) -> None:
        self.image.setImage(probs.T, autoLevels=False, levels=(0.0, 1.0))  # (C, S)
        self.setTitle(title, size="9pt")


class LatentsPanel(Panel):
    title = "Latents"
    edit_requested = Signal(int, int)  # latent s, class c
    reset_requested = Signal()

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        layout = self.content_layout()
        self.post = ProbGrid("posterior")
        self.prior = ProbGrid("prior")
        grids = QHBoxLayout()
        grids.addWidget(self.post)
        grids.addWidget(self.prior)
        # Fixed stretch factors and an always-present comparison view: an edit changes what is drawn, never the
        # sizes (the heat maps and the start latent used to shrink, and the panel widen, on the first edit).
        layout.addLayout(grids, 3)
        head = QHBoxLayout()
        head.addWidget(ElidedLabel("start latent of the imagination — click a cell to set that class:"), 1)
        self.reset = QPushButton("Reset edits")
        self.reset.clicked.connect(self.reset_requested)
        head.addWidget(self.reset)
        layout.addLayout(head)
        self.start = pg.PlotWidget()
        self.start.setLabel("bottom", "latent")
        self.start.setLabel("left", "class")
        self.start.invertY(True)
        repaint_whole(self.start)
        self.start.setMouseEnabled(False, False)
        self.start.hideButtons()
        self.start_image = pg.ImageItem(axisOrder="row-major")
        self.start_image.mouseClickEvent = self._clicked
        self.start.addItem(self.start_image)
        layout.addWidget(self.start, 2)
        self.compare_caption = ElidedLabel()
        self.compare_caption.setStyleSheet(theme.CAPTION_STYLE)
        layout.addWidget(self.compare_caption)
        self.compare = ImageView(interactive=False)
        layout.addWidget(self.compare, 2)
        self._stoch: np.ndarray | None = None
        self._edits: dict[int, int] = {}

    def key(self, view: View) -> object:
        return (id(view.entry), id(view.result), view.t, view.sample, tuple(sorted(self._edits.items())))

    def set_edits(self, edits: dict[int, int]) -> None:
        """The edits the user has asked for (shown at once, before the re-imagined future arrives)."""
        self._edits = dict(edits)
        if self._stoch is not None:
            self.start_image.setImage(start_grid(self._stoch, self._edits), autoLevels=False, levels=(0, 255))

    def render(self, view: View) -> None:
        if view.entry is None:
            self.show_placeholder("Latent probabilities appear with the first report.")
            return
        self.show_content()
        r = view.entry.report
        ctx, t = r.context_len, view.t
        base = view.result.base
        i = t - ctx
        if 0 <= i < base.latent_probs.shape[1]:
            k = min(view.sample, base.latent_probs.shape[0] - 1)
            self.post.set_probs(np.zeros_like(base.latent_probs[k, i]), "posterior: none (imagined step)")
            self.prior.set_probs(base.latent_probs[k, i], f"prior at imagined step {i + 1}, dream {k + 1}")
        else:
            t = min(t, len(r.latent_post) - 1)
            self.post.set_probs(r.latent_post[t], f"posterior at observed step {t + 1}")
            self.prior.set_probs(r.latent_prior[t], f"prior at observed step {t + 1}")
        self._stoch = view.entry.start_stoch
        self.start_image.setImage(start_grid(self._stoch, self._edits), autoLevels=False, levels=(0, 255))
        self._draw_compare(view)

    def _draw_compare(self, view: View) -> None:
        result = view.result
        if result.edited is None or result.base.frames is None:
            self.compare.image.clear()
            msg = "no edits yet" if result.edited is None else "edited (vector task: see plots)"
            self.compare_caption.setText(msg)
            return
        k = min(view.sample, result.base.frames.shape[0] - 1)
        rows = []
        for frames, color in ((result.base.frames[k], video.IMAGINED), (result.edited.frames[k], EDIT)):
            rows.append(image_grid.hstack([image_grid.framed(f, color, 2) for f in frames], gap=1))
        self.compare.set_image(image_grid.vstack(rows))
        self.compare_caption.setText(f"dream {k + 1}, same seed: unedited (red, top) vs edited (orange, bottom) · "
                                     f"{len(result.edits)} edit(s), re-imagined in {result.elapsed_ms:.0f} ms")

    def _clicked(self, event) -> None:
        if self._stoch is None:
            return
        pos = event.pos()
        s, c = int(pos.x()), int(pos.y())
        if 0 <= s < self._stoch.shape[0] and 0 <= c < self._stoch.shape[1]:
            self.edit_requested.emit(s, c)
            event.accept()
