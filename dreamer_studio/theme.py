"""The app's look in one place: a dark Fusion palette that matches pyqtgraph's black plots (applied once per
QApplication), the colours that mean the same thing on every panel, the text styles and the layout margins."""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

from dreamer_core import image_grid

LINK = "#90caf9"  # links, and the notices of the status bar
_COLORS = {
    QPalette.ColorRole.Window: "#252526", QPalette.ColorRole.WindowText: "#e0e0e0",
    QPalette.ColorRole.Base: "#1e1e1e", QPalette.ColorRole.AlternateBase: "#2d2d30",
    QPalette.ColorRole.ToolTipBase: "#333337", QPalette.ColorRole.ToolTipText: "#f0f0f0",
    QPalette.ColorRole.Text: "#e0e0e0", QPalette.ColorRole.Button: "#333337",
    QPalette.ColorRole.ButtonText: "#e0e0e0", QPalette.ColorRole.Highlight: "#2f65ca",
    QPalette.ColorRole.HighlightedText: "#ffffff", QPalette.ColorRole.Link: LINK,
    QPalette.ColorRole.PlaceholderText: "#888888",
}


# Curve colours, distinct on the dark plots and for the common colour-vision deficiencies (Okabe-Ito, with a
# lighter blue and a light red for its vermillion, too close to its orange): one green only, so no two curves of a
# plot are told apart by shades of one hue.
PALETTE = ["#56b4e9", "#e69f00", "#009e73", "#f0e442", "#cc79a7", "#ff6e6e", "#ffffff", "#bdbdbd"]

# Marks that mean one thing on every panel.
CURSOR = "#ffeb3b"  # the shared time cursor, and the best of a sweep's futures
CONTEXT_LINE = "#ffffff"  # where the context ends and imagination begins (dashed)
REAL_CURVE = PALETTE[7]  # the real (or open-loop) trajectory drawn beside the dreams
EDITED = "#%02x%02x%02x" % image_grid.EDITED  # what an edited latent changes (as the edited frames' border)
FLAGGED = "#ff5252"  # imagined steps over the confidence threshold
PRIMARY = "#42a5f5"  # a plot's main series: the critic's two-hot, the decoded vector
PLOT_BACKGROUND = "#%02x%02x%02x" % image_grid.BACKGROUND  # as the image grids' background

# Text on the dark palette.
CAPTION_STYLE = "color: #ddd;"  # a panel's caption line
MUTED_STYLE = "color: #aaa;"  # explanations beside the data
NOTE_STYLE = "color: #aaa; font-size: 11px;"  # legends and notes under a plot
TITLE_STYLE = "font-size: 26px; font-weight: 600;"  # a page's title (the start page)
INTRO_STYLE = "font-size: 14px; color: #ccc;"  # the paragraph under a page's title

# Layout margins (left, top, right, bottom), pixels.
PANEL_MARGINS = (4, 4, 4, 4)  # around a panel's content
TIGHT_MARGINS = (2, 2, 2, 2)  # the window's frame, a titled panel's box, an image view
PAGE_MARGINS = (32, 24, 32, 24)  # around a whole page (the start page)
BAR_MARGINS = (6, 2, 6, 2)  # a bar across the window (the timeline)


def rgb(color: str) -> tuple[int, int, int]:
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)


def apply_dark(app: QApplication) -> None:
    if app.property("dreamer_dark"):
        return
    app.setStyle("Fusion")
    palette = QPalette()
    for role, color in _COLORS.items():
        palette.setColor(role, QColor(color))
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText, QPalette.ColorRole.WindowText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor("#777777"))
    app.setPalette(palette)
    app.setProperty("dreamer_dark", True)
