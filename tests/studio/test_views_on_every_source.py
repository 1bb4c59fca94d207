"""Issue 16: every new view works on the three sources the Studio opens, from the same panels: (a) the live
training run, (b) a watched headless run directory, (c) a model-only run directory opened as a shipped model
is. One briefly trained debug run (tests/model_helpers.py, shared by the session) gives (b) and, shipped, (c);
(a) is a fresh paused run.

Each source gets one window, and every view is checked in it (a window per view would pay its start-up six
times over): the confidence strip, the latent map, the Sweep tab, Compare, the replay browser and Play.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from PySide6.QtCore import Qt

import model_helpers
from dreamer_core import confidence, models
from dreamer_core import play as core_play
from dreamer_core.checkpoint import WATCH_NAME
from dreamer_studio.panels.replay_browser import NOT_YET_WRITTEN, SHIPPED_WITHOUT
from dreamer_studio.play import open_play
from dreamer_studio.shipped import ModelWorker

from .helpers import debug_config, fill_and_report, wait_report

SOURCES = ("live", "watched", "model")
# What the model on screen is called where it is compared with another (panels/compare.py).
THIS_MODEL = {"live": "live model", "watched": "watched run's model", "model": "trained model"}
# Where Play's dream starts: a live trainer's moment, or (a watched run's envs are in its own process) a reset of
# Play's own env; a trained model's trainer collected a fresh context, whose last frame it is.
PLAY_CONTEXT = {"live": "the trainer's latest real frame", "watched": "env reset + ",
                "model": "the trainer's latest real frame"}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(a copy of the briefly trained run directory, the model directory shipped from it). The run is copied so
    that nothing a watcher might leave there reaches the session's shared run."""
    model = model_helpers.shared_debug_model(tmp_path_factory)
    run = tmp_path_factory.mktemp("watched") / "run"
    shutil.copytree(model.parent.parent / "run", run)
    return run, model


def open_source(qtbot, make_window, source, trained):
    """A window on `source` with a report on screen; (window, another source to compare with: a checkpoint file
    or a run or model directory)."""
    run, model = trained
    if source == "live":
        window = make_window(debug_config(), paused=True)
        qtbot.waitUntil(lambda: window.worker.info is not None, timeout=30_000)
        fill_and_report(qtbot, window.worker)
        other = model / models.MODEL_FILE
    else:
        window = make_window()
        window.open_run_dir(run if source == "watched" else model, device="cpu")
        other = model if source == "watched" else run  # a directory: its newest weights
    wait_report(qtbot, window)
    assert isinstance(window.worker, ModelWorker) == (source == "model")
    return window, other


def check_confidence_strip(qtbot, window):
    """The strip under the imagination: the observed KL over the context, the dreams' spread after it."""
    entry, result = window.model.current()
    report, strip = entry.report, window.imagination.confidence
    qtbot.waitUntil(lambda: "observed" in strip.series, timeout=10_000)
    ctx = report.context_len
    np.testing.assert_allclose(strip.series["observed"][:ctx], report.kl[:ctx].sum(-1), rtol=1e-6)
    assert result.base.frames.shape[0] >= 2  # the default K dreams: something to disagree
    np.testing.assert_array_equal(strip.series["dreams"][ctx : ctx + 2], confidence.spread(result.base.frames)[:2])


def check_latent_map(qtbot, window):
    """One point per real step of the report on screen and one branch per imagined future."""
    panel = window.latent_map
    window.tabs.setCurrentWidget(panel)
    qtbot.waitUntil(lambda: panel.points is not None and panel.drawn_key[0] == id(window.model.current()[0]),
                    timeout=15_000)
    entry, result = window.model.current()
    assert len(panel.real_scatter.data) == len(entry.report.rewards)
    np.testing.assert_allclose(panel.points.real, panel.pca.transform(entry.report.features), atol=1e-5)
    assert len(panel.branches) == result.base.rewards.shape[0]


def check_sweep(qtbot, window):
    """One future per discrete action from the report on screen, each with its predicted return."""
    panel = window.sweep
    window.tabs.setCurrentWidget(panel)
    qtbot.waitUntil(lambda: panel.result_key is not None and panel.result_key[0] == window.model.current()[0].id,
                    timeout=20_000)
    assert [f.choice for f in panel.result.futures] == [0.0, 1.0, 2.0]  # dummy_disc's 3 actions
    assert len(panel.captions) == 3
    for label, future in zip(panel.captions, panel.result.futures):
        assert f"predicted return {future.predicted_return:+.3f}" in label.text()


def check_compare(qtbot, window, other, source, tmp_path):
    """Another source's weights on the context of the report on screen; the model on screen is named as what it
    is (only a live run's is "live"). A directory without a checkpoint is refused in a word."""
    panel = window.compare
    window.tabs.setCurrentWidget(panel)
    panel.compare_with(str(other))
    entry = window.model.current()[0]
    qtbot.waitUntil(lambda: entry.id in panel.results or bool(window.errors), timeout=30_000)
    assert not window.errors
    qtbot.waitUntil(lambda: not panel.job.isRunning(), timeout=10_000)
    compared = panel.results[entry.id]
    np.testing.assert_array_equal(compared.real, entry.report.real)  # the same context
    assert compared.updates == panel.other.updates == model_helpers.UPDATES  # the trained run's weights
    qtbot.waitUntil(lambda: f"checkpoint ({panel.other.updates:,} updates)" in panel.titles["other"].text(),
                    timeout=5_000)
    assert panel.titles["live"].text() == f"{THIS_MODEL[source]} ({entry.report.updates:,} updates)"
    assert f"({THIS_MODEL[source]})" in panel.caption.text() and THIS_MODEL[source] in panel.legend.text()
    if source == "live":
        panel.compare_with(str(tmp_path))
        assert window.errors == [("Cannot compare", f"{tmp_path} holds no checkpoint (*.ckpt) yet.")]
        assert panel.results[entry.id] is compared  # the comparison on screen stays


def check_replay_browser(qtbot, window, source):
    """The episodes replay holds, and the first one of the stream as the report's context from its first step.
    A trained model ships without replay: the browser says so and lists the context it collected."""
    panel = window.replay_browser
    window.tabs.setCurrentWidget(panel)
    qtbot.waitUntil(lambda: panel.table.rowCount() > 0, timeout=10_000)
    assert (SHIPPED_WITHOUT in panel.caption.text()) == (source == "model"), panel.caption.text()
    assert "no replay" not in panel.caption.text() or source == "model"
    tr = window.worker.trainer  # a watcher's (or a paused run's) trainer writes no replay now
    row = next(r for r, ep in enumerate(panel.episodes) if ep.start == 0)
    assert panel.episodes[row].whole_start
    assert panel.choose(row)
    qtbot.waitUntil(lambda: panel.pending is None, timeout=20_000)
    entry = window.model.current()[0]
    assert entry.report.episode == (0, 0) and not window.model.follow
    shown = tr.replay.data["image"][: len(entry.report.rewards)]  # worker 0's stream from step 0
    np.testing.assert_array_equal(entry.report.real, shown)
    assert entry.report.is_first[0]
    # Play from that moment: the report's weights, the real env from a fresh reset (replay keeps no physics).
    win = panel.play_from_cursor()
    assert win is not None, window.notice.text()
    try:
        win.timer.stop()
        qtbot.waitUntil(lambda: "replay" in win.status.text() or "failed" in win.status.text(), timeout=30_000)
        qtbot.waitUntil(lambda: len(win.steps) == 1 and not win.in_flight, timeout=30_000)
        assert core_play.REPLAY_FRESH in win.status.text()
        assert f"weights at {entry.report.updates:,} updates" in win.hud.text()
    finally:
        win.close()


def check_play(qtbot, window, source):
    """Play opens on the source's model, starts where the source can start it (and says where), and steps the
    dream with a held key beside the real env."""
    win = open_play(window)
    assert win is not None, window.notice.text()
    try:
        win.timer.stop()  # before step 0 arrives: the test ticks the clock, one exact step per tick
        qtbot.waitUntil(lambda: (len(win.steps) == 1 and not win.in_flight) or "failed" in win.status.text(),
                        timeout=30_000)
        assert len(win.steps) == 1, win.status.text()
        assert PLAY_CONTEXT[source] in win.status.text()
        assert win.steps[0].error == 0.0  # the real env starts from the dream's start
        if source == "watched":
            assert "agent step" not in win.status.text()  # not the watched run's moment, which is elsewhere
        qtbot.keyPress(win, Qt.Key.Key_2)
        for n in (2, 3):
            win.tick()
            qtbot.waitUntil(lambda: len(win.steps) == n and not win.in_flight, timeout=10_000)
        qtbot.keyRelease(win, Qt.Key.Key_2)
        assert [int(s.action.argmax()) for s in win.steps[1:]] == [1, 1]
        assert all(s.frame is not None and s.real_frame is not None for s in win.steps)
        assert f"weights at {window.worker.trainer.updates:,} updates" in win.hud.text()
        assert core_play.RESTORED in win.status.text()
    finally:
        win.close()


@pytest.mark.parametrize("source", SOURCES)
def test_every_view_works_on_the_source(qtbot, make_window, trained, source, tmp_path):
    window, other = open_source(qtbot, make_window, source, trained)
    check_confidence_strip(qtbot, window)
    check_latent_map(qtbot, window)
    check_sweep(qtbot, window)
    check_compare(qtbot, window, other, source, tmp_path)
    check_play(qtbot, window, source)
    check_replay_browser(qtbot, window, source)  # last: it pins another report on screen


def test_a_watched_run_before_its_first_training_checkpoint_says_its_replay_is_not_the_runs(qtbot, make_window,
                                                                                          trained, tmp_path):
    """Only the watchers' snapshot (weights, no replay) written yet: the report is on a context collected here,
    and the replay browser says that this is not the run's replay."""
    run, model = trained
    early = tmp_path / "early"
    early.mkdir()
    shutil.copy(run / "config.json", early / "config.json")
    shutil.copy(model / models.MODEL_FILE, early / WATCH_NAME)  # the same model-only format
    window = make_window()
    window.open_run_dir(early, device="cpu")
    wait_report(qtbot, window)
    assert not isinstance(window.worker, ModelWorker)
    panel = window.replay_browser
    window.tabs.setCurrentWidget(panel)
    qtbot.waitUntil(lambda: panel.table.rowCount() > 0, timeout=10_000)
    assert NOT_YET_WRITTEN in panel.caption.text()
    assert f"({window.worker.trainer.replay.steps:,} steps)" in panel.caption.text()
