"""The Losses page draws the official DreamerV3 curve under the live episode score."""

from dreamer_core.config import make_config
from dreamer_studio.panels.losses import SCORE_PLOT, LossesPanel
from dreamer_studio.session import RunInfo, View


def _view(task: str, obs: str, preset: str, scores: list[tuple[int, float]]) -> View:
    info = RunInfo(config=make_config(task, obs, preset), device="cpu", params={}, logdir=None, resumed_from=None,
                   act_dim=1, discrete=False)
    rows = [{"step": 10.0, "train/loss/dyn": 1.0}] + [{"step": float(f), "episode/score": s} for f, s in scores]
    return View(info=info, metrics=rows, metrics_version=1)


def test_band_and_standing_for_a_task_with_an_official_curve(qtbot):
    panel = LossesPanel()
    qtbot.addWidget(panel)
    panel.refresh(_view("dmc_cartpole_balance", "vision", "size1m", [(52_000, 300.0)] * 5), force=True)
    plot = panel.plots[SCORE_PLOT][0]
    assert panel.official is not None and len(panel._official_items) == 4
    assert all(item in plot.plotItem.items for item in panel._official_items)
    note = panel.official_note.text()
    # The official band over [50k, 60k) is 616-880: 300 is behind it; size1m and ratio 512 vs the official runs.
    assert "is behind" in note and "52,000 frames" in note
    assert "preset size1m (official size12m)" in note and "envs 1 (official 16)" in note


def test_a_task_without_an_official_curve_says_so_and_draws_no_band(qtbot):
    panel = LossesPanel()
    qtbot.addWidget(panel)
    panel.refresh(_view("dmc_cartpole_balance", "vision", "size1m", []), force=True)
    panel.refresh(_view("dummy_disc", "proprio", "debug", [(100, 5.0)]), force=True)
    plot = panel.plots[SCORE_PLOT][0]
    assert panel.official is None and panel._official_items == []
    assert not any(getattr(i, "name", lambda: None)() == "official (10 seeds)" for i in plot.plotItem.items)
    assert panel.official_note.text().startswith("no official DreamerV3 curve for dummy_disc")
