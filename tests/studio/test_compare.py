"""The Compare tab on a real (tiny) run: a checkpoint against the live model on the same context, one cursor."""

from __future__ import annotations

import numpy as np

from dreamer_studio import commands as cmd

from .helpers import debug_config, fill_and_report


def test_a_checkpoint_is_compared_on_the_reports_context_under_the_cursor(qtbot, make_window, tmp_path):
    window = make_window(debug_config(), paused=True)
    panel, live, other = compare_with_the_start(qtbot, window, tmp_path, train_first=True)
    np.testing.assert_array_equal(other.real, live.real)  # the same context
    assert panel.other.updates == 0 and other.updates == 0  # the checkpoint's weights, saved before any update
    assert live.updates > 0
    length, ctx = len(live.rewards), live.context_len
    assert len(panel.curves["live"].getData()[1]) == length == len(panel.curves["other"].getData()[1])

    for t in (2, ctx + 1):  # a reconstructed step, then an open-loop one
        window.model.set_t(t)
        qtbot.waitUntil(lambda: panel.drawn_key is not None and panel.drawn_key[1] == t, timeout=5_000)
        shown = other.decoded[t] if t < ctx else other.openloop[t - ctx]
        np.testing.assert_array_equal(panel.views["other"].image.image, shown)
        np.testing.assert_array_equal(panel.views["real"].image.image, live.real[t])
        assert panel.cursor_line.value() == t
    assert "checkpoint (0 updates)" in panel.titles["other"].text()
    assert panel.plot.getAxis("left").labelText == "image error (MSE)"


def test_a_vector_models_comparison_plots_vector_errors_with_a_signal(qtbot, make_window, tmp_path):
    window = make_window(debug_config("dummy_cont", "proprio"), paused=True)
    panel, live, other = compare_with_the_start(qtbot, window, tmp_path)
    plotted = lambda: panel.curves["other"].getData()[1]  # noqa: E731  None until the curve is drawn
    qtbot.waitUntil(lambda: plotted() is not None and len(plotted()) == len(live.rewards), timeout=5_000)
    assert panel.plot.getAxis("left").labelText == "vector error (MSE)"  # not an image error: no image here
    np.testing.assert_array_equal(other.vector_scale, live.vector_scale)  # the live report's yardstick
    assert other.openloop_signal is not None and other.openloop_signal.shape == live.openloop_signal.shape


def test_a_checkpoint_of_another_shape_is_refused_in_a_dialog(qtbot, make_window, tmp_path):
    from dreamer_core.config import make_config
    from dreamer_core.trainer import Trainer

    other = Trainer(make_config("dummy_disc", "vision", "debug", {"run": {"device": "cpu"},
                                                                  "model": {"deter": 128}}), None)
    saved = other.save(tmp_path / "big.ckpt")
    other.close()
    window = make_window(debug_config(), paused=True)
    qtbot.waitUntil(lambda: window.worker.info is not None, timeout=30_000)
    fill_and_report(qtbot, window.worker)
    qtbot.waitUntil(lambda: window.model.current()[0] is not None, timeout=10_000)
    window.tabs.setCurrentWidget(window.compare)
    window.compare.compare_with(str(saved))
    qtbot.waitUntil(lambda: any(t == "Cannot compare" for t, _ in window.errors), timeout=30_000)
    qtbot.waitUntil(lambda: not window.compare.job.isRunning(), timeout=10_000)
    assert "another shape" in [m for t, m in window.errors if t == "Cannot compare"][0]
    assert window.compare.path is None and not window.compare.results


def compare_with_the_start(qtbot, window, tmp_path, train_first: bool = False):
    """Saves the paused run's untrained weights, (with `train_first`) trains past its first updates, makes a report
    and compares that checkpoint on it: (the panel, the live report, the checkpoint's report)."""
    qtbot.waitUntil(lambda: window.worker.info is not None, timeout=30_000)
    worker = window.worker
    saved = tmp_path / "then.ckpt"
    worker.send(cmd.Save(str(saved)))
    qtbot.waitUntil(saved.exists, timeout=20_000)
    if train_first:
        for _ in range(worker.trainer.train_fill + 2):  # past the first updates: the live model moves on
            worker.send(cmd.Step())
        qtbot.waitUntil(lambda: worker.status.get()[1].updates > 0, timeout=60_000)
    report_id = fill_and_report(qtbot, worker)
    qtbot.waitUntil(lambda: window.model.current()[0] is not None and window.model.current()[0].id == report_id,
                    timeout=10_000)
    panel = window.compare
    window.tabs.setCurrentWidget(panel)
    panel.compare_with(str(saved))
    qtbot.waitUntil(lambda: report_id in panel.results, timeout=30_000)
    qtbot.waitUntil(lambda: not panel.job.isRunning(), timeout=10_000)
    return panel, window.model.current()[0].report, panel.results[report_id]
