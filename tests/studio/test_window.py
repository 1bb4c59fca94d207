"""The window on a real (tiny) run: status line, panels, cursor keys, latent edits, export, errors, run dirs."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from dreamer_core import video
from dreamer_studio import commands as cmd

from .helpers import debug_config, fill_and_report, report_now, wait_report


def test_live_status_and_panels(qtbot, make_window):
    window = make_window(debug_config())
    qtbot.waitUntil(lambda: "collecting the first 64 steps" in window.status_label.text(), timeout=30_000)
    qtbot.waitUntil(lambda: window.worker.status.get()[1].phase == "training", timeout=30_000)
    entry, _ = wait_report(qtbot, window)
    qtbot.waitUntil(lambda: "updates/s" in window.status_label.text() and "CPU" in window.status_label.text())
    qtbot.waitUntil(lambda: window.frames.renders > 0 and window.imagination.renders > 0
                    and window.kl.renders > 0 and window.critic.renders > 0 and window.latents.renders > 0)
    assert window.losses.renders == 0  # hidden tab: not drawn
    window.tabs.setCurrentWidget(window.losses)
    qtbot.waitUntil(lambda: window.losses.renders > 0, timeout=15_000)

    # One cursor for every panel: keys move it, panels follow.
    window.activateWindow()
    window.setFocus()
    qtbot.waitUntil(window.isActiveWindow, timeout=5_000)
    window.tabs.setCurrentIndex(0)
    qtbot.keyClick(window, Qt.Key.Key_End)
    length = window.timeline.slider.maximum() + 1
    assert window.model.t == length - 1
    qtbot.keyClick(window, Qt.Key.Key_Left)
    assert window.model.t == length - 2
    qtbot.keyClick(window, Qt.Key.Key_Home)
    assert window.model.t == 0
    qtbot.keyClick(window, Qt.Key.Key_Right)
    assert window.model.t == 1
    qtbot.waitUntil(lambda: window.critic.drawn_key is not None and window.critic.drawn_key[2] == 1)
    qtbot.keyClick(window, Qt.Key.Key_Space)
    assert window.timeline.timer.isActive()  # playing through imagined time
    qtbot.keyClick(window, Qt.Key.Key_Space)
    assert not window.timeline.timer.isActive()


def test_latent_edit_in_window_and_export(qtbot, make_window, tmp_path):
    window = make_window(debug_config(), paused=True)
    qtbot.waitUntil(lambda: window.worker.info is not None, timeout=30_000)
    for _ in range(20):
        window.send(cmd.Step())
    window.send(cmd.ReportNow())
    entry, result = wait_report(qtbot, window)
    s = 1
    c = (int(entry.start_stoch[s].argmax()) + 1) % entry.start_stoch.shape[1]
    window.model.edit(s, c)
    qtbot.waitUntil(lambda: window.model.current()[1].edits == ((s, c),), timeout=10_000)
    edited = window.model.current()[1]
    assert not np.array_equal(edited.base.frames, edited.edited.frames)
    qtbot.waitUntil(lambda: "edit(s)" in window.latents.compare_caption.text(), timeout=5_000)
    assert not window.model.follow  # editing pins the report

    # Export: mp4 + gif, off the GUI thread, one frame per timeline step.
    job = window.export(tmp_path / "dream.v2")  # a dot in the name is not a suffix to replace
    with qtbot.waitSignal(job.done, timeout=60_000):
        pass
    job.wait()
    mp4, gif = tmp_path / "dream.v2.mp4", tmp_path / "dream.v2.gif"
    frames = video.read_video(mp4)
    expected = entry.report.context_len + edited.settings.horizon
    assert frames.shape[0] == expected
    assert video.read_video(gif).shape[0] >= 2
    assert window.last_export == [mp4, gif]


def test_bad_task_name_shows_error(qtbot, make_window):
    window = make_window()
    window.run_panel.start_new.emit("no_such_task", "vision", "debug", 0, "cpu")
    qtbot.waitUntil(lambda: window.error_box is not None)
    assert "unknown task" in window.error_box.text()
    assert window.isVisible()
    # Non-modal, as the docs promise: the window stays usable while the message is up.
    assert window.error_box.windowModality() == Qt.WindowModality.NonModal and not window.error_box.isModal()
    assert QApplication.activeModalWidget() is None
    window.error_box.close()
    # A name that passes the config check but no env knows: the trainer thread reports it.
    window.lifecycle.start(debug_config("dmc_nope_nope"))
    qtbot.waitUntil(lambda: window.error_box is not None, timeout=30_000)
    assert window.errors[-1][0] == "Could not start the run"
    window.worker.wait(10_000)
    assert window.isVisible()


def test_corrupt_checkpoint_shows_error_and_run_survives(qtbot, make_window, tmp_path):
    from dreamer_core import checkpoint

    bad = tmp_path / "broken.ckpt"
    bad.write_bytes(checkpoint.MAGIC + b"cut short")  # a checkpoint's header, damaged (no file at all: test_new_user)
    window = make_window(debug_config())
    qtbot.waitUntil(lambda: window.worker.info is not None, timeout=30_000)
    window.load_checkpoint(bad)
    qtbot.waitUntil(lambda: window.error_box is not None, timeout=10_000)
    assert window.errors[-1][0] == "Load failed" and "broken.ckpt" in window.errors[-1][1]
    assert window.worker.status.get()[1].paused and window.worker.isRunning()
    steps = window.worker.status.get()[1].agent_steps
    window.on_run_action("start")
    qtbot.waitUntil(lambda: window.worker.status.get()[1].agent_steps > steps + 3, timeout=20_000)


def test_proprio_task_says_the_model_reads_vectors(qtbot, make_window):
    window = make_window(debug_config("dummy_cont", "proprio"))
    wait_report(qtbot, window)
    qtbot.waitUntil(lambda: "reads a vector" in window.frames.legend.text(), timeout=5_000)
    assert window.frames.vector_plot.isVisibleTo(window)
    assert window.imagination.vectors.isVisibleTo(window) and not window.imagination.strip.isVisibleTo(window)


def test_proprio_run_without_display_frames_says_why_the_frame_is_blank(qtbot, make_window):
    from dreamer_core.config import make_config

    window = make_window(make_config("dummy_cont", "proprio", "debug",
                                     {"run": {"device": "cpu"}, "env": {"log_image": False}}))
    entry, _ = wait_report(qtbot, window)
    assert entry.report.real is None  # the env rendered nothing for display
    qtbot.waitUntil(lambda: "env.log_image=false" in window.frames.legend.text(), timeout=5_000)
    assert window.frames.vector_plot.isVisibleTo(window)


def test_an_empty_plot_says_what_it_waits_for(qtbot, make_window):
    from dreamer_core.config import make_config
    from dreamer_studio.panels.losses import GROUPS

    window = make_window(make_config("dummy_disc", "vision", "debug",
                                     {"run": {"device": "cpu"}, "env": {"time_limit": 100_000}}))
    window.tabs.setCurrentWidget(window.losses)
    # Once the losses are drawn (a plot with data keeps its plain title), the score plot says why it is empty.
    qtbot.waitUntil(lambda: window.losses.titles[0] == "world model losses", timeout=30_000)
    titles = dict(zip([g[0] for g in GROUPS], window.losses.titles))
    assert titles["episode score"] == "episode score: no episode has finished yet"  # episodes are 100k steps


def test_open_headless_run_directory(qtbot, make_window, tmp_path):
    from dreamer_core.trainer import Trainer

    trainer = Trainer(debug_config(), tmp_path)  # what `train --headless --logdir` writes
    while trainer.updates < 2:
        trainer.step()
    trainer.flush()
    trainer.save()
    trainer.close()
    window = make_window()
    window.open_run_dir(tmp_path, device="cpu")
    entry, _ = wait_report(qtbot, window)
    assert entry.report.updates == trainer.updates
    qtbot.waitUntil(lambda: window.model.metrics and "train/kl_dyn" in window.model.metrics[-1], timeout=10_000)
    assert window.worker.status.get()[1].phase == "watching"
    window.open_run_dir(tmp_path / "missing")
    assert window.errors[-1][0] == "Not a run directory"


def test_a_pinned_report_stays_on_screen_while_new_reports_arrive(qtbot, make_window, monkeypatch):
    from dreamer_studio.session import ReportStore

    monkeypatch.setattr(ReportStore, "MAXLEN", 4)  # the history holds 4 reports instead of 24
    window = make_window(debug_config(), paused=True)
    qtbot.waitUntil(lambda: window.worker.info is not None, timeout=30_000)
    worker = window.worker

    def new_report():
        report_now(qtbot, worker)
        qtbot.waitUntil(lambda: window.model.report_ids == tuple(worker.reports.ids()))

    fill_and_report(qtbot, worker)
    new_report()
    entry, _ = wait_report(qtbot, window)
    pinned = entry.id
    s = 0
    c = (int(entry.start_stoch[s].argmax()) + 1) % entry.start_stoch.shape[1]
    window.model.edit(s, c)  # editing pins the report
    qtbot.waitUntil(lambda: window.model.current()[1].edits == ((s, c),), timeout=10_000)
    for _ in range(3):
        new_report()  # the history shifts under the pinned report: the last one drops the oldest
        assert window.model.current()[0].id == pinned and window.model.edits == {s: c}
    assert pinned == worker.reports.ids()[0]
    new_report()  # now the pinned report itself leaves the history: the oldest remaining one is shown
    assert window.model.current()[0].id == worker.reports.ids()[0] != pinned
    qtbot.waitUntil(lambda: window.model.edits == {} and "left the history" in window.notice.text(), timeout=5_000)


def test_horizon_cannot_go_below_two(qtbot, make_window):
    window = make_window()
    horizon = window.imagination.controls.horizon
    horizon.setValue(1)
    assert horizon.minimum() == 2 and horizon.value() == 2
