"""The official DreamerV3 reference curves shipped in dreamer_core/data."""

import numpy as np

from dreamer_core.config import make_config
from dreamer_core.official import missing_reason, official_curve


def test_cartpole_balance_from_pixels_has_the_official_figure():
    curve = official_curve("dmc_cartpole_balance", "vision")
    assert curve is not None and curve.seeds == 10
    i = int(np.flatnonzero(curve.start == 90_000)[0])
    # scores/dmc_vision-dreamerv3.json.gz, 10 seeds: 945.6 over [90k, 100k) (948 +- 32 over 90-110k).
    assert abs(curve.mean[i] - 945.6) < 0.05
    assert curve.low[i] <= curve.mean[i] <= curve.high[i]
    assert "danijar/dreamerv3" in curve.source and curve.suite == "dmc_vision"


def test_standing_against_the_band():
    curve = official_curve("dmc_cartpole_balance", "vision")
    i = int(np.flatnonzero(curve.start == 50_000)[0])
    at = 55_000
    assert curve.standing(at, curve.high[i] + 1) == "ahead"
    assert curve.standing(at, curve.low[i] - 1) == "behind"
    assert curve.standing(at, (curve.low[i] + curve.high[i]) / 2) == "within the band"
    assert curve.standing(1e9, 500.0) is None  # past the official runs


def test_differing_settings_are_named():
    curve = official_curve("dmc_cartpole_balance", "proprio")
    same = make_config("dmc_cartpole_balance", "proprio", "size12m", {"run": {"envs": 16, "train_ratio": 512.0}})
    assert curve.differences(same) == []
    ours = make_config("dmc_cartpole_balance", "proprio", "cpu")
    named = " ".join(curve.differences(ours))
    assert "preset cpu (official size12m)" in named and "train_ratio 64 (official 512)" in named


def test_a_task_without_a_reference_says_so():
    assert official_curve("gym_CartPole-v1", "proprio") is None
    assert official_curve("dmc_cartpole_balance_typo", "vision") is None
    assert "no official DreamerV3 curve for gym_CartPole-v1" in missing_reason("gym_CartPole-v1", "proprio")
