"""`dreamer-studio` (the app entry point): flags are parsed, a bad task shows a dialog, closing joins the thread.

`app.main` is `launch` + `app.exec()`; the tests drive `launch` and pytest-qt's event loop instead of exec().
The defaults, shared with `train`, are tested in test_cli.py.
"""

from __future__ import annotations

from dreamer_studio.app import launch


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


def test_without_a_display_the_app_says_how_to_run_instead_of_crashing(monkeypatch, capsys):
    from dreamer_studio import app, cli

    for var in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(app.sys, "platform", "linux")
    assert app.main(cli.parse_args([])) == 2
    err = capsys.readouterr().err
    assert "no display found" in err and "xvfb-run" in err and "--headless" in err


def test_train_help_prints_the_headless_flags_without_a_window(capsys):
    from dreamer_studio.__main__ import main

    assert main(["train", "--help"]) == 0
    assert "--headless" in capsys.readouterr().out
