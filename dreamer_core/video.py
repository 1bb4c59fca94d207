"""Labelled videos: burn a caption and a coloured border into each frame, write .mp4 or .gif atomically.

`.mp4` goes through imageio's FFMPEG plugin with the bundled imageio-ffmpeg binary (libx264, yuv420p), and
frames are padded with black up to multiples of 16 so ffmpeg never resizes them (and imageio never warns).
`.gif` goes through imageio's pillow plugin and loops forever. Note that Pillow merges consecutive identical
GIF frames into one longer frame, so a GIF of a static clip reads back with fewer frames.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import imageio.v2 as imageio_v2
import imageio.v3 as iio
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from dreamer_core.paths import atomic_file

SUFFIXES = (".mp4", ".gif")
CONTEXT = (0, 200, 0)  # border of frames the model observed
IMAGINED = (220, 0, 0)  # border of open-loop predictions
_MACRO = 16  # libx264 macro block: H and W are padded up to multiples of this

Color = tuple[int, int, int]


def to_rgb(frames: np.ndarray) -> np.ndarray:
    """(..., h, w, 1) grayscale repeated to (..., h, w, 3) for display; 3-channel frames are returned as they are.
    The model keeps the single channel: this is only for what the user sees."""
    return np.repeat(frames, 3, -1) if frames.shape[-1] == 1 else frames


def _check_frame(frame: np.ndarray, name: str = "frame") -> None:
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8:
        raise ValueError(f"{name} must be a uint8 numpy array, got {getattr(frame, 'dtype', type(frame))}")
    if frame.ndim != 3 or frame.shape[-1] != 3 or 0 in frame.shape:
        raise ValueError(f"{name} must have shape (H, W, 3) with H, W > 0, got {frame.shape}")


def _check_frames(frames: np.ndarray) -> None:
    if not isinstance(frames, np.ndarray) or frames.dtype != np.uint8:
        raise ValueError(f"frames must be a uint8 numpy array, got {getattr(frames, 'dtype', type(frames))}")
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must have shape (N, H, W, 3), got {frames.shape}")
    if 0 in frames.shape:
        raise ValueError(f"frames is empty (shape {frames.shape}); a video needs at least one H x W frame")


def upscale(frame: np.ndarray, scale: int) -> np.ndarray:
    """Nearest-neighbour integer upscaling, so captions stay legible on tiny 64x64 observations."""
    if scale < 1:
        raise ValueError(f"scale must be an integer >= 1, got {scale}")
    if scale == 1:
        return frame
    return frame.repeat(scale, axis=0).repeat(scale, axis=1)  # (h·scale, w·scale, 3)


def burn_label(frame: np.ndarray, text: str, inset: int = 0, size: int | None = None) -> np.ndarray:
    """A copy of `frame` (h, w, 3) uint8 with `text` in white on a dark strip across the top.

    `inset` keeps the strip that many pixels away from the edges, so it sits inside a border. `size`: the font's
    height in pixels (None: Pillow's default, about 11 px), larger for a frame shown upscaled, so the caption keeps
    its strokes at the size it is drawn.
    """
    _check_frame(frame)
    if not text:
        return frame.copy()
    image = Image.fromarray(frame)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default() if size is None else ImageFont.load_default(size=size)
    left, _, _, bottom = draw.textbbox((0, 0), text, font=font)
    h, w = frame.shape[:2]
    pad = 1
    strip_bottom = min(inset + bottom + 2 * pad, h - 1 - inset)
    draw.rectangle((inset, inset, w - 1 - inset, strip_bottom), fill=(16, 16, 16))
    draw.text((inset + pad + 1 - left, inset + pad), text, fill=(255, 255, 255), font=font)
    return np.asarray(image).copy()


def add_border(frame: np.ndarray, color: Color, width: int = 2) -> np.ndarray:
    """A copy of `frame` (h, w, 3) uint8 with a `width`-pixel border of `color` (RGB)."""
    _check_frame(frame)
    out = frame.copy()
    w = max(0, min(width, frame.shape[0] // 2, frame.shape[1] // 2))
    if w:
        rgb = np.asarray(color, np.uint8)
        out[:w], out[-w:], out[:, :w], out[:, -w:] = rgb, rgb, rgb, rgb
    return out


def pad_to_macro(frames: np.ndarray, color: Color = (0, 0, 0)) -> np.ndarray:
    """(N, h, w, 3) padded with `color` at the bottom/right up to multiples of 16."""
    n, h, w, _ = frames.shape
    if not h % _MACRO and not w % _MACRO:
        return frames
    out = np.empty((n, h + (-h % _MACRO), w + (-w % _MACRO), 3), np.uint8)
    out[:] = np.asarray(color, np.uint8)
    out[:, :h, :w] = frames
    return out


def _decorate(
    frames: np.ndarray,
    labels: Sequence[str | None] | None,
    borders: Sequence[Color | None] | None,
    scale: int,
) -> np.ndarray:
    n = len(frames)
    for name, seq in (("labels", labels), ("borders", borders)):
        if seq is not None and len(seq) != n:
            raise ValueError(f"{name} has {len(seq)} entries but there are {n} frames; give one per frame")
    out = []
    for i, frame in enumerate(frames):
        frame = upscale(frame, scale)
        inset = 0
        if borders is not None and borders[i] is not None:
            inset = 2 * scale
            frame = add_border(frame, borders[i], width=inset)
        if labels is not None and labels[i]:
            frame = burn_label(frame, labels[i], inset=inset)  # inside the border so both stay visible
        out.append(frame)
    return np.stack(out)  # (N, h·scale, w·scale, 3)


def _write_mp4(path: str, frames: np.ndarray, fps: int) -> None:
    writer = imageio_v2.get_writer(
        path, format="FFMPEG", mode="I", fps=fps, codec="libx264", pixelformat="yuv420p",
        macro_block_size=_MACRO, ffmpeg_log_level="error", quality=None, output_params=["-crf", "18"],
    )
    try:
        for frame in pad_to_macro(frames):
            writer.append_data(frame)
    finally:
        writer.close()


def _write_gif(path: str, frames: np.ndarray, fps: int) -> None:
    # Pillow takes the per-frame duration in milliseconds; loop=0 means loop forever.
    iio.imwrite(path, frames, extension=".gif", plugin="pillow", duration=1000.0 / fps, loop=0)


def write_video(
    path: str | os.PathLike,
    frames: np.ndarray,
    fps: int = 16,
    labels: Sequence[str | None] | None = None,
    borders: Sequence[Color | None] | None = None,
    scale: int = 1,
) -> Path:
    """Write `frames` (N, h, w, 3) uint8 (or grayscale (N, h, w, 1)) to `path` (.mp4 or .gif) atomically;
    returns the final path.

    `labels[i]` is burned into frame i and `borders[i]` (RGB or None) frames it; both apply after upscaling
    every frame by the integer `scale`.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise ValueError(f"unsupported video suffix {path.suffix!r} for {path}; use one of {SUFFIXES}")
    if isinstance(frames, np.ndarray) and frames.ndim == 4:
        frames = to_rgb(frames)  # (N, h, w, 3)
    _check_frames(frames)
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    frames = _decorate(frames, labels, borders, scale)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Same directory, real suffix (the writers pick codecs by it), hidden so half-written files stand out.
    with atomic_file(path, prefix=f".{path.stem}.", suffix=f".tmp{suffix}") as tmp:
        (_write_mp4 if suffix == ".mp4" else _write_gif)(tmp, frames, fps)
    return path


def read_video(path: str | os.PathLike) -> np.ndarray:
    """All frames of an .mp4 or .gif as (N, h, w, 3) uint8 (mp4 frames include any padding to 16)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise ValueError(f"unsupported video suffix {path.suffix!r} for {path}; use one of {SUFFIXES}")
    if not path.is_file():
        raise FileNotFoundError(f"video {path} does not exist")
    if suffix == ".gif":
        frames = iio.imread(path, index=None, plugin="pillow", mode="RGB")
        return np.asarray(frames, np.uint8).reshape(-1, *frames.shape[-3:])  # a 1-frame GIF too
    reader = imageio_v2.get_reader(path, format="FFMPEG")
    try:
        return np.stack([np.asarray(f, np.uint8)[..., :3] for f in reader])
    finally:
        reader.close()
