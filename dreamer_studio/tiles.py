"""Numpy image composition shared by the panels and the exporter (Qt-free).

Conventions (as in the official open-loop video, plus labels): frames the model observed get a green border
(`video.CONTEXT`), frames it imagined get a red one (`video.IMAGINED`); error images map 0 to mid-grey.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from dreamer_core import video

BACKGROUND = (24, 24, 24)
EMPTY = (48, 48, 48)
TRUTH = (150, 150, 150)  # border of ground-truth frames
EDITED = (255, 170, 0)  # border of frames imagined from an edited latent
BORDER = 3


def framed(frame: np.ndarray, color, width: int = BORDER) -> np.ndarray:
    """`frame` (H, W, 3) padded with a `width`-pixel border of `color` (the content is not covered)."""
    return np.pad(frame, ((width, width), (width, width), (0, 0)), mode="constant",
                  constant_values=0) + _border_mask(frame.shape, width, color)


def _border_mask(shape, width: int, color) -> np.ndarray:
    h, w = shape[0] + 2 * width, shape[1] + 2 * width
    out = np.zeros((h, w, 3), np.uint8)
    rgb = np.asarray(color, np.uint8)
    out[:width], out[-width:], out[:, :width], out[:, -width:] = rgb, rgb, rgb, rgb
    return out


def blank(height: int, width: int, color=EMPTY) -> np.ndarray:
    out = np.empty((height, width, 3), np.uint8)
    out[:] = np.asarray(color, np.uint8)
    return out


def error_image(real: np.ndarray, decoded: np.ndarray) -> np.ndarray:
    """(decoded - real) / 2 + 128: mid-grey where they agree, brighter where the model overshoots."""
    diff = decoded.astype(np.int16) - real.astype(np.int16)
    return np.clip(diff // 2 + 128, 0, 255).astype(np.uint8)


def noted(frame: np.ndarray, lines: tuple[str, ...]) -> np.ndarray:
    """A copy of `frame` with `lines` of grey text centred on it (says why a tile is empty)."""
    image = Image.fromarray(frame)
    draw, font = ImageDraw.Draw(image), ImageFont.load_default()
    boxes = [draw.textbbox((0, 0), line, font=font) for line in lines]
    height = sum(b[3] - b[1] + 3 for b in boxes)
    y = (frame.shape[0] - height) // 2
    for line, (left, top, right, bottom) in zip(lines, boxes):
        draw.text(((frame.shape[1] - (right - left)) // 2 - left, y - top), line, fill=(200, 200, 200), font=font)
        y += bottom - top + 3
    return np.asarray(image).copy()


# What an empty tile past the end of the report says (the report holds no real frame and no true action there).
PAST_REPORT = {"truth": ("no real frame", "past the report"), "openloop": ("no true actions", "past the report")}


def upscale(frame: np.ndarray, scale: int) -> np.ndarray:
    return video.upscale(frame, scale)


def captioned(frame: np.ndarray, text: str) -> np.ndarray:
    return video.burn_label(frame, text) if text else frame


def hstack(tiles: list[np.ndarray], gap: int = 4, color=BACKGROUND) -> np.ndarray:
    height = max(t.shape[0] for t in tiles)
    parts = []
    for i, tile in enumerate(tiles):
        if tile.shape[0] < height:
            tile = np.concatenate([tile, blank(height - tile.shape[0], tile.shape[1], color)], 0)
        parts.append(tile)
        if i < len(tiles) - 1:
            parts.append(blank(height, gap, color))
    return np.concatenate(parts, 1)


def vstack(rows: list[np.ndarray], gap: int = 4, color=BACKGROUND) -> np.ndarray:
    width = max(r.shape[1] for r in rows)
    parts = []
    for i, row in enumerate(rows):
        if row.shape[1] < width:
            row = np.concatenate([row, blank(row.shape[0], width - row.shape[1], color)], 1)
        parts.append(row)
        if i < len(rows) - 1:
            parts.append(blank(gap, width, color))
    return np.concatenate(parts, 0)


class Rollout:
    """The rows of the imagination grid for one report + imagination result, indexed by timeline step t.

    Rows: truth, open loop (true actions), dream 1..K (sampled), edited 1..K (from the edited latent). Each
    cell is (frame or None, border colour). Context steps t < Lc show the posterior reconstruction.
    """

    def __init__(self, report, result) -> None:
        self.report, self.result = report, result
        self.ctx = report.context_len
        base = result.base if result is not None else report.imagination
        self.dreams = base.frames  # (K, Hi, H, W, 3) or None
        self.edited = result.edited.frames if result is not None and result.edited is not None else None
        self.horizon = base.rewards.shape[1]
        self.length = max(len(report.rewards), self.ctx + self.horizon)
        frame = report.real if report.real is not None else report.decoded
        self.size = frame.shape[1:3] if frame is not None else (64, 64)

    @property
    def has_frames(self) -> bool:
        return self.dreams is not None and self.report.decoded is not None

    def rows(self) -> list[tuple[str, str]]:
        """(key, caption) of each row, top to bottom."""
        out = [("truth", "truth"), ("openloop", "open loop")]
        k = self.dreams.shape[0] if self.dreams is not None else 0
        out += [(f"dream{i}", f"dream {i + 1}") for i in range(k)]
        if self.edited is not None:
            out += [(f"edited{i}", f"edited {i + 1}") for i in range(k)]
        return out

    def cell(self, key: str, t: int) -> tuple[np.ndarray | None, tuple[int, int, int]]:
        r, ctx = self.report, self.ctx
        length = len(r.rewards)
        if key == "truth":
            return (r.real[t] if r.real is not None and t < length else None), TRUTH
        if t < ctx:
            return (r.decoded[t] if r.decoded is not None else None), video.CONTEXT
        i = t - ctx
        if key == "openloop":
            ok = r.openloop is not None and i < len(r.openloop)
            return (r.openloop[i] if ok else None), video.IMAGINED
        frames, color = (self.dreams, video.IMAGINED) if key.startswith("dream") else (self.edited, EDITED)
        k = int(key.removeprefix("dream").removeprefix("edited"))
        ok = frames is not None and i < frames.shape[1]
        return (frames[k, i] if ok else None), color

    def tile(self, key: str, t: int, scale: int = 1, caption: str = "") -> np.ndarray:
        frame, color = self.cell(key, t)
        note = PAST_REPORT.get(key) if frame is None and t >= len(self.report.rewards) and scale >= 2 else None
        if frame is None:
            frame = blank(*self.size)
        frame = upscale(frame, scale)
        if note:  # big enough to read: say why the tile is empty instead of a silent grey square
            frame = noted(frame, note)
        frame = captioned(frame, caption)
        return framed(frame, color, BORDER * scale)

    def column(self, t: int, scale: int = 2) -> np.ndarray:
        """All rows at step t side by side, captioned: the big view and one export frame."""
        return hstack([self.tile(key, t, scale, caption) for key, caption in self.rows()], gap=4 * scale)

    def filmstrip(self) -> np.ndarray:
        """Rows x timeline steps, unscaled: the overview grid (the cursor is drawn on top by the panel)."""
        rows = [hstack([self.tile(key, t) for t in range(self.length)], gap=1) for key, _ in self.rows()]
        return vstack(rows, gap=4)

    def filmstrip_cell(self) -> tuple[int, int]:
        """(width, height) of one filmstrip cell including its gap, for placing the cursor."""
        h, w = self.size
        return w + 2 * BORDER + 1, h + 2 * BORDER + 4
