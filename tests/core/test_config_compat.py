"""Config files and checkpoints written before a config field was renamed still load, under the new name."""

import json

import pytest

from dreamer_core import checkpoint
from dreamer_core.config import Config, make_config
from dreamer_core.trainer import Trainer


def old_config_dict(config: Config) -> dict:
    """`config` as a config.json written before `train.horizon` became `train.discount_horizon`."""
    data = json.loads(config.to_json())
    data["train"]["horizon"] = data["train"].pop("discount_horizon")
    return data


def test_an_old_config_json_with_train_horizon_loads_as_discount_horizon():
    config = make_config("dummy_disc", "proprio", "debug", {"train": {"discount_horizon": 200}})
    loaded = Config.from_dict(old_config_dict(config))
    assert loaded.train.discount_horizon == 200 and loaded == config


def test_a_config_with_both_the_old_and_the_new_name_is_refused():
    data = old_config_dict(make_config("dummy_disc", "proprio", "debug"))
    data["train"]["discount_horizon"] = 100
    with pytest.raises(ValueError, match="both 'horizon' and its new name 'discount_horizon'"):
        Config.from_dict(data)


def test_a_checkpoint_that_stores_train_horizon_resumes(tmp_path):
    config = make_config("dummy_cont", "proprio", "debug", {"run": {"steps": 10_000}})
    first = Trainer(config, tmp_path)
    for _ in range(40):
        first.step()
    path = first.save()
    first.close()
    state = checkpoint.load(path)
    state["config"] = json.dumps(old_config_dict(Config.from_dict(json.loads(state["config"]))))
    checkpoint.save(path, state)
    assert '"horizon"' in checkpoint.load(path)["config"]  # really the old key
    resumed = Trainer(config, tmp_path)
    try:
        assert resumed.resumed_from and resumed.counters.agent_steps == 40
    finally:
        resumed.close()
