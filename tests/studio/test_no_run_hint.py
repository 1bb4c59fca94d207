"""What the status bar tells a user to do, in the window as it is: with no run, the start page's own tab and
buttons (or, in a window without one, the Run tab's New run form); on a watched run, the button that trains a copy.
Each name the text gives is checked against the widget that bears it."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QGroupBox

import model_helpers
from dreamer_core import models
from dreamer_studio.app import launch

from .helpers import debug_config


@pytest.fixture(scope="module")
def shipped_root(tmp_path_factory):
    """A models directory holding the tiny debug model (never the package's own assets)."""
    return model_helpers.shared_debug_model(tmp_path_factory).parent


def open_app(qtbot, monkeypatch, tmp_path, models_root):
    monkeypatch.setattr(models, "PACKAGE_MODELS", models_root)
    monkeypatch.chdir(tmp_path)  # a run it starts would go under runs/ here
    window = launch([])
    qtbot.addWidget(window)
    window.resize(1600, 1000)
    window.show()
    return window


@pytest.mark.parametrize("shipped", [True, False], ids=["a model ships", "none ships"])
def test_with_no_run_start_and_pause_name_the_start_pages_buttons(qtbot, monkeypatch, tmp_path, shipped_root,
                                                                  shipped):
    window = open_app(qtbot, monkeypatch, tmp_path, shipped_root if shipped else tmp_path / "none")
    try:
        page = window.start_page
        assert window.worker is None and window.tabs.tabText(0) == "Start"
        assert (page.watch_button.text(), page.train_button.text()) == ("Watch this model", "Train live")
        assert page.watch_button.isEnabled() == shipped and page.train_button.isEnabled()
        assert window.actions_by_name["open_run"].shortcut().toString() == "Ctrl+O"
        choices = "Watch this model or Train live" if shipped else "Train live"  # no Watch without a model
        hint = f"no run is active: on the Start tab, {choices}; Ctrl+O opens a run directory"
        for action in ("start", "toggle"):  # Start (toolbar, or the Run tab's Start / resume), Pause
            window.notice.clear()
            window.on_run_action(action)
            assert window.notice.text() == hint
        qtbot.waitUntil(lambda: window.status_label.text() == hint, timeout=5_000)  # the idle status line
        assert not window.notice.is_elided()  # all of it fits the status bar of a 1600 px window
    finally:
        window.close()


def test_a_window_without_a_start_page_names_the_new_run_form(qtbot, make_window):
    window = make_window()  # as a script makes one: no run, no start page
    assert window.worker is None and getattr(window, "start_page", None) is None
    window.on_run_action("start")
    assert window.notice.text() == "no run is active: start one in the Run tab's New run form; Ctrl+O opens a " \
                                   "run directory"
    assert window.tabs.tabText(window.tabs.indexOf(window.run_panel)) == "Run"
    assert "New run" in [box.title() for box in window.run_panel.findChildren(QGroupBox)]


def test_a_watched_run_names_the_button_that_trains_a_copy(qtbot, make_window, tmp_path):
    from dreamer_core.trainer import Trainer

    Trainer(debug_config(watch_every=0.0), tmp_path).close()  # a run directory before its first snapshot
    window = make_window()
    window.open_run_dir(tmp_path, device="cpu")
    status = lambda: window.worker.status.get()[1]  # noqa: E731
    qtbot.waitUntil(lambda: status().phase == "watching", timeout=30_000)
    start = window.actions_by_name["start"].text()
    assert start == "Start" and f"read-only; {start} trains a local copy" in status().message
