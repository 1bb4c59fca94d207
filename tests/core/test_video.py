"""Videos: real mp4/gif files read back, labels and borders, atomic writes, input validation."""

from __future__ import annotations

import numpy as np
import pytest

from dreamer_core.video import (CONTEXT, IMAGINED, add_border, burn_label, pad_to_macro, read_video, upscale,
                                 write_video)


def gradient_frames(n: int = 8, h: int = 64, w: int = 64) -> np.ndarray:
    """Smooth, distinct frames (codecs keep smooth content close; a moving bar makes each frame unique)."""
    y, x = np.mgrid[0:h, 0:w]
    frames = np.zeros((n, h, w, 3), np.uint8)
    for i in range(n):
        frames[i, ..., 0] = (x * 255 // (w - 1)).astype(np.uint8)
        frames[i, ..., 1] = (y * 255 // (h - 1)).astype(np.uint8)
        frames[i, ..., 2] = 40 + 20 * i
    return frames  # (N, h, w, 3)


def mean_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def test_mp4_round_trip(tmp_path):
    frames = gradient_frames(10)
    path = write_video(tmp_path / "clip.mp4", frames, fps=8)
    assert path == tmp_path / "clip.mp4" and path.stat().st_size > 0
    back = read_video(path)
    assert back.shape == frames.shape and back.dtype == np.uint8
    assert mean_abs_diff(back, frames) < 4.0  # lossy, but close
    assert [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]  # temp file renamed away


def test_grayscale_frames_are_written_as_rgb(tmp_path):
    frames = gradient_frames(4)
    gray = frames[..., 1:2] // 2 + frames[..., 2:3] // 2  # (N, h, w, 1), distinct frames, as Atari
    back = read_video(write_video(tmp_path / "gray.gif", gray))
    assert back.shape == (4, 64, 64, 3) and mean_abs_diff(back, np.repeat(gray, 3, -1)) < 6.0


def test_mp4_pads_to_multiple_of_16(tmp_path):
    frames = gradient_frames(3, h=50, w=30)
    back = read_video(write_video(tmp_path / "odd.mp4", frames))
    assert back.shape == (3, 64, 32, 3)
    assert mean_abs_diff(back[:, :50, :30], frames) < 5.0  # content sits top-left, unscaled


def test_gif_round_trip(tmp_path):
    frames = gradient_frames(6)
    path = write_video(tmp_path / "clip.gif", frames, fps=10)
    back = read_video(path)
    assert back.shape == frames.shape
    assert mean_abs_diff(back, frames) < 6.0  # 256-colour palette


def test_labels_change_pixels_and_scale(tmp_path):
    frames = gradient_frames(4)
    plain = read_video(write_video(tmp_path / "plain.gif", frames))
    labelled = read_video(write_video(tmp_path / "label.gif", frames, labels=["t=0", "", None, "t=3"]))
    changed = [mean_abs_diff(plain[i, :12], labelled[i, :12]) > 10 for i in range(4)]
    assert changed == [True, False, False, True]
    assert mean_abs_diff(plain[:, 20:], labelled[:, 20:]) < 3  # only the top strip (palettes may differ)
    big = read_video(write_video(tmp_path / "big.mp4", frames, labels=["hello"] * 4, scale=3))
    assert big.shape == (4, 192, 192, 3)


def test_burn_label_direct():
    frame = np.full((64, 64, 3), 128, np.uint8)
    out = burn_label(frame, "reward 1.0")
    assert out.shape == frame.shape and out.dtype == np.uint8
    assert (frame == 128).all()  # input untouched
    strip = out[:12]
    assert (strip.max(-1) > 200).any() and (strip.max(-1) < 40).any()  # white text on a dark strip
    assert (out[20:] == 128).all()
    assert np.array_equal(burn_label(frame, ""), frame)


def test_borders_have_the_right_colour(tmp_path):
    frames = np.full((4, 64, 64, 3), 128, np.uint8)
    borders = [CONTEXT, CONTEXT, IMAGINED, None]
    back = read_video(write_video(tmp_path / "b.mp4", frames, borders=borders, labels=["a"] * 4))
    for i, color in enumerate(borders):
        edge = back[i, 32, 0].astype(int)  # middle of the left edge
        expected = color if color is not None else (128, 128, 128)
        assert np.abs(edge - expected).max() < 30, (i, edge, expected)
        assert np.abs(back[i, 40, 32].astype(int) - 128).max() < 10  # centre untouched
    direct = add_border(frames[0], (1, 2, 3), width=3)
    assert (direct[:3] == (1, 2, 3)).all() and (direct[:, -3:] == (1, 2, 3)).all()
    assert (direct[3:-3, 3:-3] == 128).all()


def test_upscale():
    frame = np.arange(2 * 2 * 3, dtype=np.uint8).reshape(2, 2, 3)
    big = upscale(frame, 2)
    assert big.shape == (4, 4, 3) and np.array_equal(big[::2, ::2], frame) and np.array_equal(big[1::2, 1::2], frame)
    with pytest.raises(ValueError):
        upscale(frame, 0)


def test_validation(tmp_path):
    good = gradient_frames(2)
    with pytest.raises(ValueError, match=r"\.mp4.*\.gif"):
        write_video(tmp_path / "x.avi", good)
    with pytest.raises(ValueError, match="empty"):
        write_video(tmp_path / "x.mp4", np.zeros((0, 64, 64, 3), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        write_video(tmp_path / "x.mp4", good.astype(np.float32))
    with pytest.raises(ValueError, match=r"\(N, H, W, 3\)"):
        write_video(tmp_path / "x.mp4", good[..., 0])
    with pytest.raises(ValueError, match="labels has 1 entries"):
        write_video(tmp_path / "x.mp4", good, labels=["a"])
    with pytest.raises(ValueError, match="borders"):
        write_video(tmp_path / "x.gif", good, borders=[None] * 3)
    with pytest.raises(ValueError, match="uint8"):
        burn_label(np.zeros((4, 4, 3), np.float32), "x")
    assert list(tmp_path.iterdir()) == []  # nothing half-written


def test_failed_write_keeps_previous_video(tmp_path, monkeypatch):
    import dreamer_core.video as video

    path = write_video(tmp_path / "v.gif", gradient_frames(3))
    before = path.read_bytes()

    def broken(tmp, frames, fps):
        open(tmp, "wb").write(b"partial")
        raise RuntimeError("encoder crashed")

    monkeypatch.setattr(video, "_write_gif", broken)
    with pytest.raises(RuntimeError, match="encoder crashed"):
        write_video(path, gradient_frames(3))
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["v.gif"]


def test_pad_to_macro_fills_with_the_colour_and_keeps_the_content():
    frames = gradient_frames(2, h=50, w=32)
    padded = pad_to_macro(frames, (24, 24, 24))
    assert padded.shape == (2, 64, 32, 3) and np.array_equal(padded[:, :50], frames)
    assert (padded[:, 50:] == 24).all()
    assert pad_to_macro(padded) is padded  # already a multiple of 16: nothing to do
