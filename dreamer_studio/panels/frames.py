"""Frames: what the model saw vs what it reconstructs from its latent state, and the difference.

On proprio tasks the model reads a vector, not pixels: the frame is rendered for the user only (`log/image`),
and the panel compares the decoded vector with the real one instead.
"""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QLabel

from dreamer_core import image_grid, video
from dreamer_studio import theme
from dreamer_studio.panels.base import ElidedLabel, Panel, report_caption
from dreamer_studio.panels.fitted import FittedImageView
from dreamer_studio.panels.vector_bars import VectorBars
from dreamer_studio.session import View, timeline_length

SCALE = 3  # the proprio frame's upscaling
TILE_GAP = 6  # px between the real, decoded and error tiles
ERROR_LEGEND = ("error = (decoded − real) / 2 + mid-grey: grey means they agree, brighter means the model "
                "predicts too bright, darker too dark.")
_READS_VECTORS = "This model reads a vector of positions and velocities (its state), not pixels"
_PLOT_COMPARES = "the plot compares the vector the model decodes from its latent state with the real one."
PROPRIO_NOTE = (f"{_READS_VECTORS}. The frame is rendered for you only (log/image) and never reaches the model; "
                f"{_PLOT_COMPARES}")
NO_FRAME_NOTE = (f"{_READS_VECTORS}, and this run stores no display frames (it was trained with "
                 f"env.log_image=false, which saves the render time); {_PLOT_COMPARES}")


class FramesPanel(Panel):
    title = "Frames"

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        layout = self.content_layout()
        self.caption = ElidedLabel()  # a growing caption used to widen the panel and move the splitter
        self.caption.setStyleSheet(theme.CAPTION_STYLE)
        layout.addWidget(self.caption)
        row = QHBoxLayout()
        self.view = FittedImageView()  # pixel tasks: the tiles drawn at the size they are shown
        row.addWidget(self.view, 3)
        self.vector_plot = VectorBars()
        row.addWidget(self.vector_plot, 2)
        layout.addLayout(row, 1)
        self.legend = QLabel(ERROR_LEGEND)
        self.legend.setWordWrap(True)
        self.legend.setStyleSheet(theme.NOTE_STYLE)
        layout.addWidget(self.legend)

    def key(self, view: View) -> object:
        # Before the first report the placeholder follows the status (building, waiting for a snapshot, collecting).
        waiting = (view.status.phase, view.status.message) if view.entry is None else None
        return (id(view.entry), id(view.result), view.t, waiting)

    def render(self, view: View) -> None:
        if view.entry is None:
            self.show_placeholder(_waiting(view))
            return
        self.show_content()
        r = view.entry.report
        length = len(r.rewards)
        t = min(view.t, length - 1)
        # The timeline's counting (t over context + imagined steps), so both panels name a step alike.
        total = timeline_length(view.entry, view.result)
        if view.t >= length:
            phase = f"past the report's {length} real steps: showing the last"
        else:
            phase = "context" if t < r.context_len else "after the context"
        self.caption.setText(f"t {min(view.t, total - 1) + 1}/{total} ({phase}; real frames, reconstructed from "
                             f"the posterior) · {report_caption(view)}")
        proprio = r.decoded is None
        self.vector_plot.setVisible(r.decoded_vectors is not None)
        self.legend.setText(ERROR_LEGEND if not proprio else PROPRIO_NOTE if r.real is not None else NO_FRAME_NOTE)
        if proprio:
            frame, text = (r.real[t], "real (not a model input)") if r.real is not None else (
                image_grid.blank(64, 64), "no frame (env.log_image=false)")
            self.view.set_image(video.burn_label(video.upscale(frame, SCALE), text))
        else:
            real, dec = r.real[t], r.decoded[t]
            tiles = ((real, "real"), (dec, "decoded"), (image_grid.error_image(real, dec), "error"))
            self.view.show_composed(lambda available: image_grid.fitted_tiles(tiles, available, TILE_GAP))
        if r.decoded_vectors is not None:
            self.vector_plot.show_step(r.real_vectors, r.decoded_vectors, t, list(r.vector_keys))


def _waiting(view: View) -> str:
    s = view.status
    if s.phase == "error":
        return f"The run did not start: {s.message}"
    if s.phase == "building":
        return "Building the environment and the model…"
    return (f"Waiting for the first report: {s.message}.\nThe first report comes as soon as replay holds one "
            "report window; later ones every few seconds (the report cadence of the preset).")
