"""The imagination grid's tiles (numpy only): one border function under a padding, stacking with gaps."""

from __future__ import annotations

import numpy as np

from dreamer_core.image_grid import BACKGROUND, blank, error_image, framed, hstack, vstack
from dreamer_core.video import add_border


def test_framed_pads_the_frame_and_borders_it_without_covering_it():
    frame = np.full((4, 6, 3), 128, np.uint8)
    out = framed(frame, (1, 2, 3), width=2)
    assert out.shape == (8, 10, 3) and np.array_equal(out[2:-2, 2:-2], frame)
    assert np.array_equal(out, add_border(np.pad(frame, ((2, 2), (2, 2), (0, 0))), (1, 2, 3), 2))
    assert (out[:2] == (1, 2, 3)).all() and (out[:, -2:] == (1, 2, 3)).all()


def test_stacks_align_tiles_and_fill_gaps_with_the_background():
    tall, short = blank(6, 3, (200, 0, 0)), blank(4, 5, (0, 200, 0))
    row = hstack([tall, short], gap=2)
    assert row.shape == (6, 10, 3)
    assert (row[:, 3:5] == BACKGROUND).all() and (row[4:, 5:] == BACKGROUND).all()  # gap, then under the short tile
    assert np.array_equal(row[:4, 5:], short)
    column = vstack([tall, short], gap=2)
    assert column.shape == (12, 5, 3)
    assert np.array_equal(column[:6, :3], tall) and (column[:6, 3:] == BACKGROUND).all()
    assert (column[6:8] == BACKGROUND).all() and np.array_equal(column[8:], short)


def test_error_image_is_mid_grey_where_the_frames_agree():
    real = np.full((2, 2, 3), 100, np.uint8)
    decoded = real.copy()
    decoded[0, 0] = 200
    err = error_image(real, decoded)
    assert (err[1:] == 128).all() and (err[0, 0] == 178).all()
