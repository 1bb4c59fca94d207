"""Export the imagination panel as labelled mp4 and gif (Qt-free; runs off the GUI thread).

The frames and captions are the core's imagination grid (dreamer_core.image_grid, as `dreamer-studio export`
writes it), with the futures on screen: truth | open loop | dream 1..M (| edited 1..M), one frame per timeline step.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from dreamer_core import video
from dreamer_core.image_grid import POLICY_ACTIONS, ImaginationGrid
from dreamer_studio.session import ImagineResult, ReportEntry

SOURCE_NAMES = {"policy": POLICY_ACTIONS, "replayed": "replayed actions", "keys": "held keys"}


def export_frames(entry: ReportEntry, result: ImagineResult,
                  progress: Callable[[int, int], None] | None = None) -> tuple[np.ndarray, list[str]]:
    """(frames, h', w', 3) uint8 and a caption for each, one per context and imagined step."""
    grid = ImaginationGrid(entry.report, result.base, result.edited)
    frames = grid.video_frames(progress)
    s = result.settings
    return frames, grid.video_captions(s.seed, s.temperature, SOURCE_NAMES.get(s.source, s.source), len(result.edits))


def export_videos(entry: ReportEntry, result: ImagineResult, stem: str | Path, fps: int = 6,
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
