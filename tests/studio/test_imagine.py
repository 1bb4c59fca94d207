"""One imagination: the report's own futures are what the app shows and exports until the user asks for others;
latent edits go through the core; the app's export and the CLI's write one grid with one caption format (no Qt)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from dreamer_core import video
from dreamer_core.export import write_report_video
from dreamer_core.image_grid import ImaginationGrid
from dreamer_core.report import edit_start
from dreamer_core.trainer import Trainer
from dreamer_studio import imagine
from dreamer_studio.export import export_frames, export_videos
from dreamer_studio.session import ImagineSettings, ReportEntry, View, reports_own_result, timeline_length

from .helpers import debug_config


@pytest.fixture(scope="module")
def made():
    """(trainer, report) of a debug vision run, the trainer kept open for its agent."""
    trainer = Trainer(debug_config("dummy_disc", "vision"))
    report = None
    while report is None:
        trainer.step()
        report = trainer.report(seed=5, samples=2, horizon=6)
    yield trainer, report
    trainer.close()


def own_settings(report) -> ImagineSettings:
    return ImagineSettings(horizon=6, samples=2, seed=5, temperature=1.0)


def test_asking_for_what_the_report_imagined_runs_no_second_imagination(made, monkeypatch):
    trainer, report = made
    ran = []
    monkeypatch.setattr(imagine, "imagine_from", lambda *a, **k: ran.append(a) or report.imagination)
    result = imagine.imagine(trainer.agent, report, own_settings(report), (), report_id=1)
    assert ran == [] and result.base is report.imagination and result.edited is None
    assert result.elapsed_ms is None and result.weights_updates == report.updates
    assert result.settings == own_settings(report)
    # Other settings, an edit or other actions imagine again.
    for settings, edits in ((ImagineSettings(horizon=6, samples=2, seed=6), ()), (own_settings(report), ((0, 1),)),
                            (ImagineSettings(horizon=6, samples=2, seed=5, source="replayed"), ())):
        ran.clear()
        imagine.imagine(trainer.agent, report, settings, edits, report_id=1)
        assert ran, (settings, edits)


def test_the_reports_own_futures_are_what_imagining_them_again_gives(made):
    trainer, report = made
    again = imagine.imagine(trainer.agent, report, ImagineSettings(horizon=6, samples=2, seed=5, temperature=0.999),
                            (), report_id=2)
    assert again.base is not report.imagination and again.elapsed_ms is not None
    same = imagine.imagine_from(trainer.agent, report.start, horizon=6, seed=5, samples=2)
    np.testing.assert_array_equal(same.frames, report.imagination.frames)
    np.testing.assert_array_equal(same.rewards, report.imagination.rewards)


def test_a_view_without_a_result_shows_the_reports_own(made):
    _, report = made
    entry = ReportEntry(3, report, report.start.stoch[0].numpy(), time.time())
    view = View(entry=entry)
    assert view.result.base is report.imagination and view.result.report_id == 3
    assert timeline_length(entry, view.result) == max(len(report.rewards), report.context_len + 6)
    assert View().result is None


def test_edit_start_sets_one_class_and_leaves_the_start_alone(made):
    _, report = made
    start = report.start
    before = start.stoch.clone()
    c = (int(start.stoch[0, 2].argmax()) + 1) % start.stoch.shape[-1]
    edited = edit_start(start, ((2, c),))
    assert int(edited.stoch[0, 2].argmax()) == c and float(edited.stoch[0, 2].sum()) == 1.0
    assert (edited.stoch[0, 3:] == before[0, 3:]).all() and (start.stoch == before).all()
    assert (edited.deter == start.deter).all()
    with pytest.raises(ValueError, match="outside"):
        edit_start(start, ((start.stoch.shape[1], 0),))


def test_the_app_and_the_cli_export_one_grid_with_one_caption_format(made, tmp_path):
    _, report = made
    entry = ReportEntry(4, report, report.start.stoch[0].numpy(), time.time())
    frames, labels = export_frames(entry, reports_own_result(4, report))
    grid = ImaginationGrid(report)
    n = report.context_len + 6
    np.testing.assert_array_equal(frames, grid.video_frames())
    assert labels == grid.video_captions(5, 1.0) and len(labels) == n
    assert labels[0] == f"{report.updates:,} updates | seed 5 | horizon 6 | temp 1 | policy actions | t 1/{n} context"
    assert labels[-1].endswith(f"t {n}/{n} imagined +6")
    assert frames.shape[1] % 16 == 0 and frames.shape[2] % 16 == 0  # one size for the mp4 and the gif
    cli = video.read_video(write_report_video(report, tmp_path / "cli.mp4"))
    mp4, gif = (video.read_video(p) for p in export_videos(entry, reports_own_result(4, report), tmp_path / "app"))
    assert cli.shape == mp4.shape == frames.shape and gif.shape[1:] == frames.shape[1:]
    assert float(np.abs(cli.astype(np.int16) - mp4.astype(np.int16)).mean()) < 3  # the same frames, labelled alike
