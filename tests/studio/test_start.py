"""The first screen (dreamer_studio/start.py) and watching a trained model (dreamer_studio/shipped.py): no
arguments open the start page listing the shipped models; Watch opens one read-only and reports on a fresh
context; Continue training trains a copy elsewhere; Train starts a live run; nothing is ever written to a model."""

from __future__ import annotations

import hashlib

import pytest
from PySide6.QtCore import Qt

import model_helpers
from dreamer_core import models
from dreamer_studio import cli
from dreamer_studio.app import launch
from dreamer_studio.shipped import ModelWorker

from .helpers import wait_report


@pytest.fixture(scope="module")
def shipped_root(tmp_path_factory):
    """A models directory holding the tiny debug model (never the package's own assets)."""
    return model_helpers.shared_debug_model(tmp_path_factory).parent


@pytest.fixture
def packaged(monkeypatch, shipped_root, tmp_path):
    """The debug model stands in for the shipped ones; the app's runs/ go under tmp_path."""
    monkeypatch.setattr(models, "PACKAGE_MODELS", shipped_root)
    monkeypatch.chdir(tmp_path)
    return shipped_root / "debug_dummy"


def fingerprint(folder):
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def open_app(qtbot, argv):
    window = launch(argv)
    qtbot.addWidget(window)
    return window


def test_no_arguments_open_the_start_page_listing_the_shipped_models(qtbot, packaged):
    window = open_app(qtbot, [])
    page = window.start_page
    assert window.tabs.currentWidget() is page and window.tabs.tabText(0) == "Start"
    assert window.worker is None  # nothing trains until the user chooses
    assert page.models.topLevelItemCount() == 1
    row = [page.models.topLevelItem(0).text(i) for i in range(page.models.columnCount())]
    assert row[:4] == ["debug_dummy", "dummy_disc", "vision", "none: world model only"]  # said, not hidden
    assert row[5] == f"{model_helpers.UPDATES}" and page.watch_button.isEnabled()
    assert "its policy is not trained yet" in page.models.topLevelItem(0).toolTip(0)
    assert not page.preview.pixmap().isNull()  # the selected model's frames over its dream, before anything runs
    window.close()


def test_without_shipped_models_the_page_says_so(qtbot, monkeypatch, tmp_path):
    monkeypatch.setattr(models, "PACKAGE_MODELS", tmp_path / "none")
    window = open_app(qtbot, [])
    assert window.start_page.models.topLevelItemCount() == 0 and not window.start_page.watch_button.isEnabled()
    assert window.start_page.models.isHidden() and window.start_page.watch_button.isHidden()  # no empty table
    window.close()


def test_watch_opens_the_model_read_only_and_a_report_arrives(qtbot, packaged):
    before = fingerprint(packaged)
    window = open_app(qtbot, [])
    qtbot.mouseClick(window.start_page.watch_button, Qt.MouseButton.LeftButton)
    assert isinstance(window.worker, ModelWorker) and window.tabs.currentIndex() == 1  # the world model tab
    entry, result = wait_report(qtbot, window)
    report = entry.report
    assert report.updates == model_helpers.UPDATES  # the trained model's, not a fresh agent's
    assert report.real is not None and report.decoded is not None and report.openloop is not None
    assert result.base.frames.shape[0] == window.model.settings.samples  # K imagined futures
    assert report.critic_probs.shape[1] == report.bins.shape[0] and report.latent_post.ndim == 3
    qtbot.waitUntil(lambda: "replay starts empty" in window.worker.status.get()[1].message, timeout=10_000)
    assert "world model only: its policy is not trained yet" in window.worker.status.get()[1].message
    assert window.actions_by_name["start"].text() == "Continue training"
    assert "trained model debug_dummy" in window.windowTitle()
    assert "no KL curves" in window.kl.curves.plotItem.titleLabel.text  # not bare axes: the model has no metrics
    window.close()
    assert fingerprint(packaged) == before


def test_continue_training_trains_a_copy_and_the_model_stays_byte_identical(qtbot, packaged, tmp_path):
    from dreamer_studio.cli import main as cli_main
    from dreamer_core.logdir import CHECKPOINT_NAME

    before = fingerprint(packaged)
    window = open_app(qtbot, ["--open", "assets/models/debug_dummy"])  # the clone path, via the resolver
    wait_report(qtbot, window)
    worker = window.worker
    with qtbot.waitSignal(worker.resumed, timeout=10_000):
        window.on_run_action("start")  # Continue training
    # The model has trained before, so there is no training_started: wait for the first update past its own.
    qtbot.waitUntil(lambda: worker.status.get()[1].updates > model_helpers.UPDATES, timeout=60_000)
    fork = tmp_path / "runs" / "studio"
    (copy,) = fork.glob("debug_dummy-local-*")
    assert (tmp_path / worker.info.logdir).resolve() == copy.resolve()
    assert "replay starts empty" in window.notice.text()
    window.tabs.setCurrentWidget(window.run_panel)  # the Run page says where the copy began
    qtbot.waitUntil(lambda: "began from" in window.run_panel.summary.text(), timeout=10_000)
    assert f"at {model_helpers.UPDATES:,} updates" in window.run_panel.summary.text()
    window.close()
    assert (copy / CHECKPOINT_NAME).is_file() and (copy / "config.json").is_file()
    from dreamer_core.logdir import read_origin

    origin = read_origin(copy)  # the copy says which model it began from, and what it did not take over
    assert origin["source"] == str((packaged / models.MODEL_FILE).resolve())
    assert origin["updates"] == model_helpers.UPDATES and "replay started empty" in origin["kept"]
    out = tmp_path / "dream.mp4"
    assert cli_main(["export", "--logdir", "assets/models/debug_dummy", "--out", str(out)]) == 0
    assert out.stat().st_size > 0
    assert fingerprint(packaged) == before  # open, continue and export wrote nothing there


def test_train_on_the_start_page_starts_a_live_run(qtbot, packaged, monkeypatch, tmp_path):
    monkeypatch.setattr(cli, "DEFAULT_TASK", "dummy_disc")
    monkeypatch.setattr(cli, "DEFAULT_PRESET", "debug")
    window = open_app(qtbot, ["--device", "cpu"])  # --device alone still shows the start page
    assert window.worker is None
    qtbot.mouseClick(window.start_page.train_button, Qt.MouseButton.LeftButton)
    with qtbot.waitSignal(window.worker.training_started, timeout=60_000):
        pass
    assert window.worker.config.env.task == "dummy_disc" and window.tabs.currentIndex() == 1
    assert str(window.worker.logdir).startswith("runs/studio/dummy_disc-vision-debug-")
    window.close()
    assert list((tmp_path / "runs" / "studio").glob("dummy_disc-vision-debug-*/config.json"))


def test_training_flags_skip_the_start_page(qtbot, packaged):
    window = open_app(qtbot, ["--task", "dummy_disc", "--preset", "debug", "--device", "cpu", "--paused"])
    assert not hasattr(window, "start_page") and window.worker is not None
    window.close()


def test_open_names_a_missing_model_in_one_dialog(qtbot, packaged):
    window = open_app(qtbot, ["--open", "assets/models/nope"])
    assert window.worker is None and "has no config.json" in window.error_box.text()
    window.close()


def test_the_policy_check_reads_beside_an_untrained_agents_return(tmp_path):
    from dreamer_studio.start import policy_text

    fields = {"name": "m", "kind": "model", "eval_return": 224.92, "eval_steps": 200}
    for name in ("old", "new", "wm"):
        (tmp_path / name).mkdir()
    models.write_card(tmp_path / "old", fields, "a card shipped before untrained_return")
    models.write_card(tmp_path / "new", fields | {"untrained_return": 163.1}, "body")
    models.write_card(tmp_path / "wm", fields | {"world_model_only": True}, "body")
    assert policy_text(models.read_card(tmp_path / "old")) == "225 in 200 steps"
    assert policy_text(models.read_card(tmp_path / "new")) == "225 in 200 steps (untrained 163)"
    assert policy_text(models.read_card(tmp_path / "wm")) == "none: world model only"
    for card in models.shipped():  # every shipped model says how far above an untrained agent it is
        assert "(untrained " in policy_text(card), card.name
