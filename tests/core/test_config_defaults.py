"""The config defaults are the official HEAD values (`dreamerv3/configs.yaml`) that README's "What is implemented"
cites, and they mean what it says they mean."""

import pytest

from dreamer_core.config import SIZES, Config, ModelConfig, TrainConfig, make_config

# Our field: HEAD's value, as README states it (`horizon: 333` and `imag_length: 15` in configs.yaml, ...).
OFFICIAL_TRAIN = {
    "batch_size": 16,
    "batch_length": 64,
    "replay_context": 1,
    "imag_horizon": 15,
    "lam": 0.95,
    "discount_horizon": 333,
    "free_nats": 1.0,
    "scale_dyn": 1.0,
    "scale_rep": 0.1,
    "scale_repval": 0.3,
    "actent": 3e-4,
    "slowreg": 1.0,
    "slow_rate": 0.02,
    "retnorm_decay": 0.99,
    "retnorm_lo": 5.0,
    "retnorm_hi": 95.0,
    "retnorm_limit": 1.0,
    "lr": 4e-5,
    "eps": 1e-20,
    "beta1": 0.9,
    "beta2": 0.999,
    "agc": 0.3,
    "warmup": 1000,
}
OFFICIAL_MODEL = {"unimix": 0.01, "blocks": 8, "stoch": 32, "bins": 255, "img_layers": 2, "obs_layers": 1,
                  "kernel": 5}


@pytest.mark.parametrize("section, field, official", [("train", k, v) for k, v in OFFICIAL_TRAIN.items()]
                         + [("model", k, v) for k, v in OFFICIAL_MODEL.items()])
def test_defaults_are_the_official_head_values(section, field, official):
    default = getattr({"train": TrainConfig(), "model": ModelConfig()}[section], field)
    assert default == pytest.approx(official), f"{section}.{field} = {default}, HEAD's value is {official}"


def test_the_discount_horizon_gives_the_documented_continue_target():
    """README: the continue head learns 0.997 * (1 - terminal); gamma = 1 - 1/discount_horizon."""
    assert round(1.0 - 1.0 / TrainConfig().discount_horizon, 3) == 0.997


def test_the_model_defaults_are_the_size1m_preset():
    """ModelConfig's docstring: its defaults are size1m; a config built with the size1m preset changes nothing."""
    defaults = ModelConfig()
    assert {k: getattr(defaults, k) for k in SIZES["size1m"]} == SIZES["size1m"]
    built = make_config("dmc_walker_walk", "proprio", "size1m")
    assert built.model == defaults and built.train == Config().train
