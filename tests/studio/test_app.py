"""`dreamer-studio` (the app entry point): flags are parsed, a bad task shows a dialog, closing joins the thread.

`app.main` is `launch` + `app.exec()`; the tests drive `launch` and pytest-qt's event loop instead of exec().
"""

from __future__ import annotations

from dreamer_studio.app import build_parser, launch


def test_defaults_are_the_issue_defaults():
    args = build_parser().parse_args([])
    assert (args.task, args.obs, args.preset, args.device) == ("dmc_cartpole_balance", "vision", "cpu", "auto")


def test_bad_task_shows_dialog(qtbot):
    window = launch(["--task", "bogus", "--preset", "debug"])
    qtbot.addWidget(window)
    assert window.error_box is not None and "unknown task" in window.error_box.text()
    assert window.isVisible() and window.worker is None


def test_flags_start_a_run_and_closing_joins_it(qtbot, tmp_path):
    window = launch(["--task", "dummy_cont", "--obs", "proprio", "--preset", "debug", "--seed", "3",
                     "--device", "cpu", "--logdir", str(tmp_path / "run"), "--paused"])
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: window.worker.info is not None, timeout=30_000)
    assert window.worker.config.env.task == "dummy_cont" and window.worker.config.run.seed == 3
    window.close()
    assert not window.worker.isRunning()
    assert (tmp_path / "run" / "config.json").is_file()
