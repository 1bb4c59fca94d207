"""`dreamer-studio` (the app entry point): flags are parsed, a bad task shows a dialog, closing joins the thread."""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from dreamer_studio.app import build_parser, main
from dreamer_studio.window import MainWindow


def _run_main(qtbot, argv, check, after_ms=1500):
    seen = {}

    def finish():
        windows = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()]
        seen["window"] = windows[-1]
        check(windows[-1])
        windows[-1].close()
        QApplication.instance().quit()

    QTimer.singleShot(after_ms, finish)
    assert main(argv) == 0
    return seen["window"]


def test_defaults_are_the_issue_defaults():
    args = build_parser().parse_args([])
    assert (args.task, args.obs, args.preset, args.device) == ("dmc_cartpole_balance", "vision", "cpu", "auto")


def test_main_with_bad_task_shows_dialog(qtbot):
    def check(window):
        assert window.error_box is not None and "unknown task" in window.error_box.text()

    _run_main(qtbot, ["--task", "bogus", "--preset", "debug"], check, after_ms=300)


def test_main_starts_a_run_and_closing_joins_it(qtbot, tmp_path):
    def check(window):
        assert window.worker is not None and window.worker.isRunning()
        assert window.worker.config.env.task == "dummy_cont" and window.worker.config.run.seed == 3

    window = _run_main(qtbot, ["--task", "dummy_cont", "--obs", "proprio", "--preset", "debug", "--seed", "3",
                               "--device", "cpu", "--logdir", str(tmp_path / "run"), "--paused"], check)
    assert not window.worker.isRunning()
    assert (tmp_path / "run" / "config.json").is_file()
