"""Export the imagination panel as labelled mp4 and gif (Qt-free; runs off the GUI thread).

One video frame per timeline step: truth | open loop | dream 1..K (| edited 1..K) side by side, green borders
on context frames, red on imagined, orange on edited; the caption carries update step, seed, horizon,
temperature, action source, edits and t. Frames are padded to multiples of 16 here (the mp4 writer would pad
them, the gif writer not), so the .mp4 and the .gif have the same frame size.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from dreamer_core import video
from dreamer_studio import tiles
from dreamer_studio.session import ImagineResult, ReportEntry

CAPTION_STRIP = 14  # px reserved at the top for the burned-in caption
MACRO = 16  # libx264's macro block (dreamer_core.video pads mp4 frames to it)
SOURCE_NAMES = {"policy": "policy actions", "replayed": "replayed actions", "keys": "held keys"}


def pad_to_macro(frame: np.ndarray) -> np.ndarray:
    """`frame` padded with the background colour on the right and bottom up to multiples of MACRO."""
    h, w = frame.shape[:2]
    out = tiles.blank(h + (-h % MACRO), w + (-w % MACRO), tiles.BACKGROUND)
    out[:h, :w] = frame
    return out


def export_frames(entry: ReportEntry, result: ImagineResult | None,
                  progress: Callable[[int, int], None] | None = None) -> tuple[np.ndarray, list[str]]:
    """(N, H, W, 3) frames and N captions, N = context + horizon steps."""
    roll = tiles.Rollout(entry.report, result)
    if not roll.has_frames:
        raise ValueError("this run's model reads vectors only (a proprio task), so it imagines no frames to "
                         "export; start a vision run (obs: vision) to export imagined videos")
    settings = result.settings if result is not None else None
    seed = settings.seed if settings else entry.report.seed
    temp = settings.temperature if settings else 1.0
    source = SOURCE_NAMES.get(settings.source, settings.source) if settings else SOURCE_NAMES["policy"]
    edits = f" | {len(result.edits)} edit(s)" if result is not None and result.edits else ""
    n = roll.ctx + roll.horizon
    frames, labels = [], []
    for t in range(n):
        column = roll.column(t, scale=2)
        column = np.concatenate([tiles.blank(CAPTION_STRIP, column.shape[1], tiles.BACKGROUND), column], 0)
        frames.append(pad_to_macro(column))
        phase = "context" if t < roll.ctx else f"imagined +{t - roll.ctx + 1}"
        labels.append(f"step {entry.report.updates:,} upd | seed {seed} | horizon {roll.horizon} | temp {temp:g} | "
                      f"{source}{edits} | t {t + 1}/{n} {phase}")
        if progress:
            progress(t + 1, n)
    return np.stack(frames), labels


def export_videos(entry: ReportEntry, result: ImagineResult | None, stem: str | Path, fps: int = 6,
                  progress: Callable[[int, int], None] | None = None) -> list[Path]:
    """Writes stem.mp4 and stem.gif; `progress(done, total)` is called as work completes. A .mp4 or .gif suffix
    on `stem` is dropped; any other dot stays part of the name ('run.v2' writes run.v2.mp4 and run.v2.gif)."""
    stem = Path(stem)
    if stem.suffix.lower() in video.SUFFIXES:
        stem = stem.with_suffix("")
    n_steps = [0]

    def composed(done: int, total: int) -> None:
        n_steps[0] = total
        if progress:
            progress(done, total + 2)

    frames, labels = export_frames(entry, result, composed)
    total = n_steps[0] + 2
    out = []
    for i, suffix in enumerate((".mp4", ".gif")):
        out.append(video.write_video(stem.with_name(stem.name + suffix), frames, fps=fps, labels=labels))
        if progress:
            progress(total - 1 + i, total)
    return out
