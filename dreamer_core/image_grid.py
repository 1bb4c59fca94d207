"""The imagination grid, numpy only: a report's truth, open loop and imagined futures as bordered, captioned
tiles, one row per future and one column per timeline step.

The one composition behind the app's Imagination panel, its Export and `dreamer-studio export`. Conventions (as in
the official open-loop video, plus labels): frames the model observed get a green border (`video.CONTEXT`), frames
it imagined a red one (`video.IMAGINED`), frames imagined from an edited latent an orange one, the truth a grey
one; error images map 0 to mid-grey. Captions are `video.burn_label`'s, borders `video.add_border`'s.
Shapes as in docs/tensor_shapes.md (Tc context steps, H imagined steps, M futures, h x w frames).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import numpy as np

from dreamer_core import video

if TYPE_CHECKING:
    from dreamer_core.report import Imagination, Report

BACKGROUND = (24, 24, 24)
EMPTY = (48, 48, 48)
TRUTH = (150, 150, 150)  # border of ground-truth frames
EDITED = (255, 170, 0)  # border of frames imagined from an edited latent
BORDER = 3
CAPTION_STRIP = 14  # px reserved above each video frame for its burned-in caption
POLICY_ACTIONS = "policy actions"  # how a caption names the actions of futures the policy sampled

# What an empty tile past the end of the report says (the report holds no real frame and no true action there).
PAST_REPORT = {"truth": "no real frame\npast the report", "openloop": "no true actions\npast the report"}


def framed(frame: np.ndarray, color, width: int = BORDER) -> np.ndarray:
    """`frame` (h, w, 3) padded with a `width`-pixel border of `color` (the content is not covered)."""
    padded = np.pad(frame, ((width, width), (width, width), (0, 0)))  # (h + 2·width, w + 2·width, 3)
    return video.add_border(padded, color, width)


def blank(height: int, width: int, color=EMPTY) -> np.ndarray:
    out = np.empty((height, width, 3), np.uint8)
    out[:] = np.asarray(color, np.uint8)
    return out


def error_image(real: np.ndarray, decoded: np.ndarray) -> np.ndarray:
    """(decoded - real) / 2 + 128: mid-grey where they agree, brighter where the model overshoots."""
    diff = decoded.astype(np.int16) - real.astype(np.int16)
    return np.clip(diff // 2 + 128, 0, 255).astype(np.uint8)


def resized(frame: np.ndarray, height: int, width: int) -> np.ndarray:
    """`frame` (h, w, 3) scaled to (height, width, 3) by nearest neighbour: `video.upscale` for integer factors,
    and any size in between, so a tile can be drawn at the pixels it is shown at."""
    rows = np.arange(height) * frame.shape[0] // height
    cols = np.arange(width) * frame.shape[1] // width
    return frame[rows][:, cols]  # (height, width, 3)


def caption_size(scale: float) -> int | None:
    """The caption's font height for a tile drawn `scale` times its frame: Pillow's default (~11 px) up to 2x,
    growing with the tile beyond, so a large tile's caption is not a small line in its corner."""
    return None if scale < 2.5 else round(5 * scale)


def fit_scale(content: tuple[int, int], available: tuple[int, int]) -> float:
    """The factor that fits `content` (width, height) into `available` (width, height), aspect kept."""
    return max(1e-3, min(available[0] / max(1, content[0]), available[1] / max(1, content[1])))


def best_columns(count: int, tile: tuple[int, int], available: tuple[int, int], gap: int = 0) -> int:
    """How many of `count` tiles (width, height) to put per row so that, fitted into `available` (width, height),
    they are drawn largest (ties: fewer rows)."""
    def fitted(columns: int) -> float:
        rows = -(-count // columns)
        return fit_scale((columns * (tile[0] + gap) - gap, rows * (tile[1] + gap) - gap), available)
    return max(range(1, max(1, count) + 1), key=lambda c: (fitted(c), c))


def wrapped(tiles: list[np.ndarray], columns: int, gap: int = 4, color=BACKGROUND) -> np.ndarray:
    """Tiles in rows of `columns`, left to right then top to bottom, `gap` pixels apart."""
    rows = [hstack(tiles[i:i + columns], gap, color) for i in range(0, len(tiles), columns)]
    return vstack(rows, gap, color)


def fitted_tiles(tiles: list[tuple[np.ndarray, str]], available: tuple[int, int], gap: int = 4,
                 color=BACKGROUND, framing: tuple[tuple[int, int, int], int] | None = None) -> np.ndarray:
    """(frame (h, w, 3), caption) tiles of one size in the rows that draw them largest in `available` (width,
    height) pixels, each scaled and then captioned (so the caption keeps its strokes), then `framing` (border
    colour, width) if given."""
    h, w = tiles[0][0].shape[:2]
    border = 2 * framing[1] if framing else 0
    cell = (w + border, h + border)
    columns = best_columns(len(tiles), cell, available, gap)
    rows = -(-len(tiles) // columns)
    scale = fit_scale((columns * (cell[0] + gap) - gap, rows * (cell[1] + gap) - gap), available)
    size = (max(1, int(h * scale)), max(1, int(w * scale)))
    drawn = [video.burn_label(resized(frame, *size), text, size=caption_size(scale)) for frame, text in tiles]
    if framing:
        drawn = [framed(tile, framing[0], max(1, round(framing[1] * scale))) for tile in drawn]
    return wrapped(drawn, columns, gap, color)


def hstack(tiles: list[np.ndarray], gap: int = 4, color=BACKGROUND) -> np.ndarray:
    """Tiles side by side, top-aligned, `gap` pixels of `color` between them."""
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
    """Rows top to bottom, left-aligned, `gap` pixels of `color` between them."""
    return hstack([r.transpose(1, 0, 2) for r in rows], gap, color).transpose(1, 0, 2)


def bordered_grid(rows: list[list[tuple[np.ndarray, tuple[int, int, int]]]], width: int = BORDER,
                  gap: int = 0) -> np.ndarray:
    """Rows of (frame (h, w, 3), border colour) cells as one image, each frame `framed` by `width` pixels and the
    cells `gap` pixels apart: (rows·(h + 2·width) + gaps, cells·(w + 2·width) + gaps, 3) for equal frames."""
    return vstack([hstack([framed(frame, color, width) for frame, color in row], gap) for row in rows], gap)


class ImaginationGrid:
    """The imagination grid of one report and one imagination from its start, indexed by timeline step t.

    Rows: truth, open loop (true actions), dream 1..M (`base`), edited 1..M (`edited`, from an edited latent). Each
    cell is (frame or None, border colour). Context steps t < Tc show the posterior reconstruction.
    """

    def __init__(self, report: Report, base: Imagination | None = None, edited: Imagination | None = None) -> None:
        self.report = report
        self.base = base if base is not None else report.imagination
        self.edited = edited
        self.ctx = report.context_len
        self.horizon = self.base.rewards.shape[1]
        self.length = max(len(report.rewards), self.ctx + self.horizon)
        frame = report.real if report.real is not None else report.decoded
        self.size = frame.shape[1:3] if frame is not None else (64, 64)

    @property
    def has_frames(self) -> bool:
        return self.base.frames is not None and self.report.decoded is not None

    def rows(self) -> list[tuple[str, str]]:
        """(key, caption) of each row, top to bottom."""
        out = [("truth", "truth"), ("openloop", "open loop")]
        k = self.base.rewards.shape[0] if self.base.frames is not None else 0
        out += [(f"dream{i}", f"dream {i + 1}") for i in range(k)]
        if self.edited is not None and self.edited.frames is not None:
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
        future, color = (self.base, video.IMAGINED) if key.startswith("dream") else (self.edited, EDITED)
        k = int(key.removeprefix("dream").removeprefix("edited"))
        frames = future.frames if future is not None else None  # (M, H, h, w, 3)
        ok = frames is not None and i < frames.shape[1]
        return (frames[k, i] if ok else None), color

    def tile(self, key: str, t: int, scale: float = 1, caption: str = "") -> np.ndarray:
        """One cell drawn `scale` times its frame's size (any factor: the panel draws at the pixels it shows), the
        caption burned after the scaling so its strokes survive."""
        frame, color = self.cell(key, t)
        if frame is None:
            frame = blank(*self.size)
            # Big enough to read: say why the tile is empty instead of a silent grey square.
            if t >= len(self.report.rewards) and scale >= 2 and key in PAST_REPORT:
                caption = "\n".join(filter(None, (caption, PAST_REPORT[key])))
        h, w = frame.shape[:2]
        frame = resized(frame, round(h * scale), round(w * scale))  # (h·scale, w·scale, 3)
        frame = video.burn_label(frame, caption, size=caption_size(scale))
        return framed(frame, color, max(1, round(BORDER * scale)))

    def column(self, t: int, scale: float = 2) -> np.ndarray:
        """All rows at step t side by side, captioned: the big view and one video frame."""
        return hstack([self.tile(key, t, scale, caption) for key, caption in self.rows()],
                      gap=max(1, round(4 * scale)))

    def column_fitted(self, t: int, available: tuple[int, int]) -> np.ndarray:
        """`column(t)` at the scale that fills `available` (width, height) pixels, aspect kept."""
        h, w = self.size
        count = len(self.rows())
        content = (count * (w + 2 * BORDER) + (count - 1) * 4, h + 2 * BORDER)  # the column at scale 1
        return self.column(t, fit_scale(content, available))

    def filmstrip(self) -> np.ndarray:
        """Rows x timeline steps, unscaled: the overview grid (the cursor is drawn on top by the panel)."""
        rows = [hstack([self.tile(key, t) for t in range(self.length)], gap=1) for key, _ in self.rows()]
        return vstack(rows, gap=4)

    def filmstrip_cell(self) -> tuple[int, int]:
        """(width, height) of one filmstrip cell including its gap, for placing the cursor."""
        h, w = self.size
        return w + 2 * BORDER + 1, h + 2 * BORDER + 4

    def video_captions(self, seed: int, temperature: float, actions: str = POLICY_ACTIONS,
                       edits: int = 0) -> list[str]:
        """The caption of each of the Tc + H video frames: update count, seed, horizon, temperature, where the
        actions came from, the latent edits, and the step."""
        n = self.ctx + self.horizon
        edited = f" | {edits} edit(s)" if edits else ""
        return [f"{self.report.updates:,} updates | seed {seed} | horizon {self.horizon} | temp {temperature:g} | "
                f"{actions}{edited} | t {t + 1}/{n} "
                + ("context" if t < self.ctx else f"imagined +{t - self.ctx + 1}") for t in range(n)]

    def video_frames(self, progress: Callable[[int, int], None] | None = None) -> np.ndarray:
        """(frames, h', w', 3) uint8: one frame per step t < Tc + H, every row side by side at scale 2 under an
        empty strip for its caption, padded with the background to multiples of 16 (so an .mp4 and a .gif of them
        have one size). `progress(done, frames)` after each frame."""
        if not self.has_frames:
            raise ValueError("this run's model reads vectors only (a proprio task), so it imagines no frames to "
                             "export; train a vision run (--obs vision) to export imagined videos")
        n = self.ctx + self.horizon
        frames = []
        for t in range(n):
            column = self.column(t, scale=2)
            frames.append(np.concatenate([blank(CAPTION_STRIP, column.shape[1], BACKGROUND), column], 0))
            if progress:
                progress(t + 1, n)
        return video.pad_to_macro(np.stack(frames), BACKGROUND)
