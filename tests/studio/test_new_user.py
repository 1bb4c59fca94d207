"""What a new user tripped on (issue 16 §6): layouts that move, plots that hide their data, misleading captions,
a New-run form that stops the run before checking it, PyTorch internals for a file that is no checkpoint, the
start-up texts, `--help`, the proprio view and the export's frame sizes."""

from __future__ import annotations

import itertools

import numpy as np
import torch
from PySide6.QtWidgets import QApplication

from dreamer_core import video
from dreamer_core.config import make_config
from dreamer_studio import commands as cmd
from dreamer_studio import theme
from dreamer_studio.checks import new_run_config
from dreamer_studio.export import export_frames
from dreamer_studio.panels.critic import HeadPlot, symlog
from dreamer_studio.panels.imagination import VECTOR_LEGEND
from dreamer_studio.panels.kl import KLPanel, waiting_text
from dreamer_studio.panels.losses import SCORE_PLOT, LossesPanel
from dreamer_studio.session import Status, View

from .helpers import debug_config, fill_and_report, wait_report


def geometries(window) -> dict[str, tuple[int, int, int, int]]:
    """Position in the window and size of every widget whose place an edit must not change."""
    widgets = {"frames": window.frames, "imagination": window.imagination, "current": window.imagination.current,
               "strip": window.imagination.strip, "kl": window.kl, "critic": window.critic,
               "latents": window.latents, "posterior": window.latents.post, "prior": window.latents.prior,
               "start latent": window.latents.start, "compare": window.latents.compare,
               "caption": window.imagination.caption}
    out = {}
    for name, widget in widgets.items():
        corner = widget.mapTo(window, widget.rect().topLeft())
        out[name] = (corner.x(), corner.y(), widget.width(), widget.height())
    return out


def settled(qtbot, window, predicate) -> None:
    """Waits for `predicate` and for every panel to have drawn what it shows now, then lets the layouts run."""
    qtbot.waitUntil(predicate, timeout=20_000)
    qtbot.waitUntil(lambda: window.up_to_date(), timeout=5_000)
    QApplication.processEvents()


def paused_report(qtbot, make_window, config=None):
    window = make_window(config or debug_config(), paused=True)
    qtbot.waitUntil(lambda: window.worker.info is not None, timeout=30_000)
    fill_and_report(qtbot, window.worker)
    entry, result = wait_report(qtbot, window)
    window.tabs.setCurrentIndex(0)
    return window, entry, result


def test_a_latent_edit_and_reset_move_no_widget(qtbot, make_window):
    window, entry, _ = paused_report(qtbot, make_window)
    settled(qtbot, window, lambda: window.latents.renders > 0 and window.imagination.renders > 0)
    before = geometries(window)
    s = 1
    c = (int(entry.start_stoch[s].argmax()) + 1) % entry.start_stoch.shape[1]
    window.model.edit(s, c)
    settled(qtbot, window, lambda: window.model.current()[1].edits == ((s, c),))
    assert geometries(window) == before
    caption = window.imagination.caption
    assert "1 latent edit(s)" in caption.text()
    assert caption.height() < 2 * caption.fontMetrics().height()  # one line, never wrapped
    window.model.set_t(10**9)  # past the report, with the longest captions
    settled(qtbot, window, lambda: window.frames.drawn_key[2] == window.model.t)
    assert geometries(window) == before
    window.model.reset_edits()
    settled(qtbot, window, lambda: window.model.current()[1].edits == ())
    assert geometries(window) == before
    assert "edited latent" not in " ".join(window.critic.legend.entries)  # no edit: no orange curve to name
    window.model.edit(s, c)
    settled(qtbot, window, lambda: window.model.current()[1].edits == ((s, c),))
    assert "edited latent" in " ".join(window.critic.legend.entries)
    assert geometries(window) == before
    # A caption far wider than its panel is cut, and moves no splitter.
    window.frames.caption.setText("a caption that grows " * 40)
    window.imagination.caption.setText("a caption that grows " * 40)
    QApplication.processEvents()
    assert geometries(window) == before and window.frames.caption.is_elided()


def test_one_counting_past_the_report_and_no_label_over_the_truth_row(qtbot, make_window):
    window, entry, result = paused_report(qtbot, make_window)
    length = window.timeline.slider.maximum() + 1
    real_steps = len(entry.report.rewards)
    assert length > real_steps  # the imagination runs past the report's real frames
    window.model.set_t(length - 1)
    settled(qtbot, window, lambda: window.frames.drawn_key is not None and window.frames.drawn_key[2] == length - 1)
    assert window.timeline.label.text().startswith(f"t {length}/{length}")
    assert window.frames.caption.text().startswith(f"t {length}/{length}")  # the timeline's counting
    assert "past the report" in window.frames.caption.text()
    # The empty truth and open-loop tiles past the report say why they are empty.
    from dreamer_core.image_grid import ImaginationGrid, blank, framed

    grid = ImaginationGrid(entry.report, result.base, result.edited)
    for key in ("truth", "openloop"):
        tile = grid.tile(key, length - 1, scale=2)
        _, color = grid.cell(key, length - 1)
        silent = framed(blank(*(2 * np.asarray(grid.size))), color, 6)
        assert tile.shape == silent.shape and (tile != silent).any()  # text on the tile
    # Nothing drawn on the filmstrip covers its top (truth) row: the context line carries no label.
    assert getattr(window.imagination.ctx_line, "label", None) is None
    assert "dashed line = end of the context" in window.imagination.legend.text()


def test_critic_axis_spans_the_mass_with_a_toggle_for_the_full_range(qtbot):
    plot = HeadPlot("critic", "λ-return")
    qtbot.addWidget(plot)
    bins = np.sign(np.linspace(-20, 20, 255)) * np.expm1(np.abs(np.linspace(-20, 20, 255)))
    probs = np.full(255, 1e-7)
    probs[127], probs[128], probs[129] = 0.5, 0.3, 0.2  # a trained critic: the mass around 0
    probs /= probs.sum()
    plot.draw(bins, probs, 0.3, 0.4, "observed step 1", None)
    lo, hi = plot.viewRange()[0]
    assert lo > symlog(-100) and hi < symlog(100) and lo < symlog(0.3) < hi
    # Half-trained: a third of the mass still spread thinly (below the uniform level) over every bin.
    half = 0.3 / 255 + 0.7 * probs
    plot.draw(bins, half, 0.3, 0.4, "observed step 1", None)
    lo, hi = plot.viewRange()[0]
    assert lo > symlog(-100) and hi < symlog(100)
    plot.full_range = True
    plot.draw(bins, probs, 0.3, 0.4, "observed step 1", None)
    lo, hi = plot.viewRange()[0]
    assert lo <= -20 and hi >= 20  # all 255 bins (±symexp(20))
    assert plot.plotItem.legend is None  # the panel's legend sits above the plots, off the bars


def test_reimagining_an_old_report_uses_the_weights_that_made_it(qtbot, make_window):
    window, entry, first = paused_report(qtbot, make_window)
    window.timeline.follow.setChecked(False)  # keep this report on screen while later ones arrive
    worker = window.worker
    updates = worker.status.get()[1].updates
    for _ in range(70):  # past the 64 steps the debug preset collects before it trains
        worker.send(cmd.Step())
    qtbot.waitUntil(lambda: worker.status.get()[1].updates > updates, timeout=60_000)
    s = 0
    c = (int(entry.start_stoch[s].argmax()) + 1) % entry.start_stoch.shape[1]
    window.model.edit(s, c)
    qtbot.waitUntil(lambda: window.model.current()[1].edits == ((s, c),), timeout=20_000)
    window.model.reset_edits()
    qtbot.waitUntil(lambda: window.model.current()[1].edits == () and window.model.current()[1] is not first,
                    timeout=20_000)
    again = window.model.current()[1]
    # The same future as before the edit, although training has moved the weights on since the report.
    np.testing.assert_array_equal(again.base.frames, first.base.frames)
    np.testing.assert_array_equal(again.base.rewards, first.base.rewards)
    assert first.weights_updates == again.weights_updates == entry.report.updates
    settled(qtbot, window, lambda: window.imagination.drawn_key == (id(entry), id(again), window.model.t))
    assert window.imagination.weights.text() == (f"imagined with the weights at {entry.report.updates:,} "
                                                 "updates (the report's own)")


def test_new_run_form_checks_first_and_keeps_the_runs_settings(qtbot, make_window):
    config = make_config("dummy_disc", "vision", "debug", {"run": {"device": "cpu"}, "train": {"lr": 1e-4}})
    window = make_window(config, paused=True)
    qtbot.waitUntil(lambda: window.worker.info is not None, timeout=30_000)
    panel = window.run_panel
    window.tabs.setCurrentWidget(panel)
    qtbot.waitUntil(lambda: panel.preset.currentText() == "debug", timeout=5_000)  # the current run's preset
    assert panel.task.currentText() == "dummy_disc" and "train.lr=0.0001" in panel.overrides.text()
    assert new_run_config("dummy_disc", "vision", "debug", 0, "cpu", panel.overrides.text()).train.lr == 1e-4
    worker = window.worker
    window.run_panel.start_new.emit("dmc_nope_nope", "vision", "debug", 0, "cpu")  # passes make_config alone
    qtbot.waitUntil(lambda: window.error_box is not None, timeout=10_000)
    assert "unknown dm_control task 'dmc_nope_nope'" in window.errors[-1][1]
    assert window.worker is worker and worker.isRunning() and not worker.stopping  # the run goes on
    # Long status and notice texts share the status bar without running into each other.
    width = window.width()
    window.notify("stopping the current run first " * 20, 10_000)
    window.status_label.setText("a long status line " * 30)
    QApplication.processEvents()
    status, notice = window.status_label.geometry(), window.notice.geometry()
    assert status.right() < notice.left() and window.width() == width
    assert window.status_label.toolTip().startswith("a long status line")


def test_a_file_that_is_not_a_checkpoint_says_so(qtbot, make_window, tmp_path):
    window = make_window(debug_config())
    qtbot.waitUntil(lambda: window.worker.info is not None, timeout=30_000)
    text = tmp_path / "notes.ckpt"
    text.write_text("this is not a checkpoint")
    window.load_checkpoint(text)
    qtbot.waitUntil(lambda: window.error_box is not None, timeout=10_000)
    title, message = window.errors[-1]
    assert title == "Not a checkpoint" and message.startswith(f"{text} is not a Dreamer Studio checkpoint.")
    assert "DREAMER-CKPT" in message and "Unpickl" not in message
    assert not window.worker.status.get()[1].paused  # refused before the trainer was asked
    window.error_box.close()
    other = tmp_path / "someone_elses.ckpt"
    torch.save({"weights": torch.zeros(2)}, other)  # a torch file, but not ours
    window.load_checkpoint(other)
    qtbot.waitUntil(lambda: len(window.errors) == 2, timeout=20_000)
    title, message = window.errors[-1]
    assert title == "Not a checkpoint" and message.startswith(f"{other} is not a Dreamer Studio checkpoint.")
    assert window.worker.isRunning()


def test_start_up_texts_and_help(qtbot, make_window, capsys):
    assert waiting_text(Status()) == "KL curves start once training has begun."  # fill size not known yet
    window = make_window(debug_config(), paused=True)
    qtbot.waitUntil(lambda: window.worker.info is not None, timeout=30_000)
    for _ in range(3):
        window.send(cmd.Step())
    qtbot.waitUntil(lambda: window.worker.status.get()[1].agent_steps == 3, timeout=20_000)
    qtbot.waitUntil(lambda: "collecting the first 64 steps (" in window.kl.placeholder.text()
                    and "(0/64" not in window.kl.placeholder.text(), timeout=10_000)
    assert "first 0" not in window.kl.placeholder.text()
    assert window.timeline.label.text() == "t – · no report yet"
    from dreamer_studio.__main__ import main

    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for flag in ("--task", "--preset", "--open", "--set", "train --headless", "export"):
        assert flag in out


def test_curves_stay_visible_with_legends_and_readouts_outside(qtbot):
    rows = [{"step": 10.0 * i, "train/kl_dyn": 2.0, "train/kl_rep": 2.0, "train/loss/dyn": 2.0,
             "train/loss/rep": 0.2, "train/loss/rec/image": 5.0, "train/loss/rew": 1.0,
             "train/loss/con": 0.1} for i in range(1, 20)]
    rows.append({"step": 200.0, "episode/score": 12.5})  # one finished episode
    view = View(status=Status(), metrics_version=1, metrics=rows)
    kl = KLPanel()
    qtbot.addWidget(kl)
    kl.refresh(view, force=True)
    items = kl.curves.plotItem.listDataItems()
    assert items.index(kl.rep) < items.index(kl.dyn)  # rep under dyn: the coinciding curves both show
    assert kl.rep.opts["pen"].widthF() > kl.dyn.opts["pen"].widthF()
    assert kl.curves.plotItem.legend is None and "dyn 2" in " ".join(kl.readout.entries)
    losses = LossesPanel()
    qtbot.addWidget(losses)
    losses.refresh(view, force=True)
    for plot, _, _ in losses.plots:
        assert plot.plotItem.legend is None
    score = losses.curves[(SCORE_PLOT, "episode/score")]
    assert score.opts["symbol"] is not None  # one point is a visible marker
    assert "score 12.5" in losses.legends[SCORE_PLOT].entries[0]
    world = [losses.curves[(0, k)].opts["pen"].color().getRgb()[:3] for k in
             ("train/loss/dyn", "train/loss/rep", "train/loss/rec/image", "train/loss/rew", "train/loss/con")]
    for a, b in itertools.combinations(world + [theme.rgb(c) for c in theme.PALETTE], 2):
        if a != b:
            assert np.abs(np.subtract(a, b)).sum() > 100, (a, b)  # no two near-identical colours


def test_proprio_view_names_dimensions_and_scales_each(qtbot, make_window):
    window, entry, result = paused_report(qtbot, make_window, debug_config("dummy_cont", "proprio"))
    settled(qtbot, window, lambda: window.imagination.renders > 0)
    plot = window.imagination.vectors.plotItem
    dims = min(6, entry.report.real_vectors.shape[-1])
    assert window.imagination.vec_legend.isVisible() and len(window.imagination.vec_legend.entries) == dims
    assert f"{result.base.vectors.shape[0]} dream(s)" in plot.titleLabel.text
    assert window.imagination.legend.text() == VECTOR_LEGEND
    for item in plot.listDataItems():
        y = item.getData()[1]
        assert np.abs(y).max() < 10  # per-dimension scaling: no dimension dwarfs the others


def test_export_mp4_and_gif_have_one_size_and_say_temperature_and_actions(qtbot, make_window, tmp_path):
    window, entry, _ = paused_report(qtbot, make_window)
    controls = window.imagination.controls
    controls.temperature.setValue(0.7)
    controls.source.setCurrentIndex(1)  # replayed true actions
    qtbot.waitUntil(lambda: window.model.current()[1].settings.source == "replayed"
                    and window.model.current()[1].settings.temperature == 0.7, timeout=20_000)
    job = window.export(tmp_path / "dream")
    with qtbot.waitSignal(job.done, timeout=60_000):
        pass
    job.wait()
    mp4, gif = video.read_video(tmp_path / "dream.mp4"), video.read_video(tmp_path / "dream.gif")
    assert mp4.shape[1:] == gif.shape[1:]
    entry, result = window.model.current()
    _, labels = export_frames(entry, result)
    assert "temp 0.7" in labels[0] and "replayed actions" in labels[0]
