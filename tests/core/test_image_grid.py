"""The imagination grid's tiles (numpy only): one border function under a padding, stacking with gaps."""

from __future__ import annotations

import numpy as np

from dreamer_core.image_grid import (BACKGROUND, best_columns, blank, error_image, fitted_tiles, framed, hstack,
                                      resized, vstack)
from dreamer_core.video import add_border, burn_label, upscale


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


def test_resized_matches_integer_upscaling_and_reaches_any_size():
    frame = np.random.default_rng(0).integers(0, 255, (8, 6, 3), dtype=np.uint8)
    assert np.array_equal(resized(frame, 24, 18), upscale(frame, 3))
    out = resized(frame, 13, 10)
    assert out.shape == (13, 10, 3) and np.array_equal(out[0, 0], frame[0, 0]) and np.array_equal(out[-1, -1],
                                                                                                    frame[-1, -1])


def test_best_columns_lays_tiles_out_to_draw_them_largest():
    assert best_columns(3, (64, 64), (1000, 100)) == 3  # wide and short: one row
    assert best_columns(3, (64, 64), (100, 1000)) == 1  # narrow and tall: one column
    assert best_columns(3, (64, 64), (500, 400), gap=6) == 2  # squarish: 2 x 2 with one empty place
    assert best_columns(15, (68, 68), (310, 700), gap=2) == 3


def test_fitted_tiles_fill_the_space_and_burn_captions_after_scaling():
    frame = blank(64, 64, (0, 0, 200))
    out = fitted_tiles([(frame, "real"), (frame, "decoded"), (frame, "error")], (500, 400), gap=6,
                       framing=((255, 0, 0), 2))
    assert out.shape[1] <= 500 and out.shape[0] <= 400 and max(out.shape[1] / 500, out.shape[0] / 400) > 0.95
    assert tuple(out[0, 0]) == (255, 0, 0)  # framed
    # The caption is burned after the scaling, at a font that grows with the tile: its dark strip is taller than
    # the default caption's, which a tile burned at 64 px and scaled up would show blocky instead.
    def strip_rows(image):
        return int((image[:, image.shape[1] // 2] == (16, 16, 16)).all(-1).sum())
    scaled = fitted_tiles([(frame, "real")], (256, 256))
    assert strip_rows(scaled) > strip_rows(burn_label(upscale(frame, 4), "real"))
    assert (out[:40] == 255).all(-1).any()  # white caption strokes near the top
