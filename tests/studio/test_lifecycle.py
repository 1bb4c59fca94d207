"""Stopping, restarting and closing a run from the window: never blocking, never dropping a running thread,
never losing the save of latest.ckpt."""

from __future__ import annotations

from PySide6.QtCore import QTimer

from dreamer_studio import commands as cmd

from .helpers import debug_config


def _steps(window) -> int:
    return window.worker.status.get()[1].agent_steps


def test_stop_returns_at_once_and_start_resumes_the_same_run(qtbot, make_window, tmp_path):
    window = make_window(debug_config(), logdir=tmp_path)
    qtbot.waitUntil(lambda: _steps(window) > 10, timeout=30_000)
    worker = window.worker
    with qtbot.waitSignal(worker.paused, timeout=10_000):
        window.on_run_action("toggle")
    assert window.actions_by_name["toggle"].text() == "Resume"
    with qtbot.waitSignal(worker.finished, timeout=30_000):
        window.on_run_action("stop")
        assert window.worker is worker  # kept until it has stopped
        qtbot.waitUntil(lambda: "stopping" in window.status_label.text() or not worker.isRunning(), timeout=5_000)
    qtbot.waitUntil(lambda: "saved" in window.status_label.text() and "Start/resume continues it"
                    in window.status_label.text(), timeout=5_000)
    stopped_at = worker.status.get()[1].agent_steps
    assert (tmp_path / "latest.ckpt").is_file()
    window.on_run_action("start")  # was: "no run is active"
    qtbot.waitUntil(lambda: window.worker is not worker and window.worker.info is not None, timeout=30_000)
    assert window.worker.info.resumed_from == str(tmp_path / "latest.ckpt")
    assert window.worker.logdir == tmp_path and window.actions_by_name["toggle"].text() == "Pause"
    qtbot.waitUntil(lambda: _steps(window) > stopped_at, timeout=30_000)


def test_a_new_run_waits_for_the_stopping_one(qtbot, make_window, tmp_path):
    window = make_window(debug_config(), logdir=tmp_path / "a")
    qtbot.waitUntil(lambda: _steps(window) > 5, timeout=30_000)
    first = window.worker
    window.lifecycle.start(debug_config("dummy_cont"), logdir=tmp_path / "b")
    assert window.worker is first and first.stopping  # not replaced while its thread runs
    qtbot.waitUntil(lambda: window.worker is not first, timeout=30_000)
    assert not first.isRunning()
    qtbot.waitUntil(lambda: window.worker.info is not None, timeout=30_000)
    assert window.worker.config.env.task == "dummy_cont"
    assert (tmp_path / "a" / "latest.ckpt").is_file()


def test_close_waits_for_the_save_with_a_message(qtbot, make_window, tmp_path):
    window = make_window(debug_config(), logdir=tmp_path)
    qtbot.waitUntil(lambda: _steps(window) > 5, timeout=30_000)
    worker = window.worker
    seen = []
    QTimer.singleShot(0, window.close)  # as the window manager does, with the event loop running
    QTimer.singleShot(5, lambda: seen.append((window.isVisible(), window.lifecycle.closing_box is not None
                                              and window.lifecycle.closing_box.isVisible(), worker.isRunning())))
    with qtbot.waitSignal(worker.finished, timeout=30_000):
        pass
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=5_000)
    assert seen and seen[0][0] and seen[0][1]  # open, saying what it waits for, while the trainer stopped
    assert "latest.ckpt" in worker.status.get()[1].message and (tmp_path / "latest.ckpt").is_file()
    assert not worker.isRunning()


def test_a_failed_save_on_close_keeps_the_window_and_the_run(qtbot, make_window, tmp_path):
    window = make_window(debug_config(), logdir=tmp_path, paused=True)
    qtbot.waitUntil(lambda: window.worker.info is not None, timeout=30_000)
    for _ in range(3):
        window.send(cmd.Step())
    qtbot.waitUntil(lambda: _steps(window) == 3, timeout=10_000)  # no update yet: still worth saving
    (tmp_path / "latest.ckpt").mkdir()
    (tmp_path / "latest.ckpt" / "in_the_way").write_text("x")
    with qtbot.waitSignal(window.worker.stop_save_failed, timeout=30_000):
        QTimer.singleShot(0, window.close)
    qtbot.waitUntil(lambda: window.errors and window.errors[-1][0] == "Could not save before stopping")
    assert window.isVisible() and window.worker.isRunning() and "Save as" in window.errors[-1][1]
    window.save_checkpoint(tmp_path / "elsewhere.ckpt")  # the user saves it somewhere else ...
    qtbot.waitUntil(lambda: (tmp_path / "elsewhere.ckpt").is_file(), timeout=20_000)
    worker = window.worker
    with qtbot.waitSignal(worker.finished, timeout=30_000):
        QTimer.singleShot(0, window.close)  # ... and closes again: this time without saving latest.ckpt
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=5_000)
    assert worker.status.get()[1].message == "stopped without saving"  # as the dialog said it would


def test_start_on_a_watched_run_trains_a_saved_local_copy(qtbot, make_window, tmp_path):
    from dreamer_core.trainer import Trainer

    watched = tmp_path / "gpu_run"
    trainer = Trainer(debug_config(), watched)
    while trainer.updates < 1:
        trainer.step()
    trainer.save()
    trainer.close()
    before = (watched / "latest.ckpt").stat().st_mtime_ns
    window = make_window()
    window.open_run_dir(watched, device="cpu")
    qtbot.waitUntil(lambda: window.worker.info is not None and window.worker.status.get()[1].phase == "watching",
                    timeout=30_000)
    steps = _steps(window)
    window.on_run_action("start")
    qtbot.waitUntil(lambda: _steps(window) > steps + 5, timeout=30_000)
    copy = window.worker.logdir
    assert copy is not None and copy.parent == tmp_path / "forks" and copy.name.startswith("gpu_run-local-")
    assert window.worker.info.logdir == str(copy) and window.worker.info.watch_dir is None
    window.close()
    assert (copy / "latest.ckpt").is_file() and (copy / "config.json").is_file()
    assert (watched / "latest.ckpt").stat().st_mtime_ns == before  # the watched run is never written
