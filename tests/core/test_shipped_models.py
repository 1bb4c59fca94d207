"""Every model in assets/models is trained: on a fresh real episode it beats the thresholds of its model card, and
an untrained agent of the same config does not.

The checks (dreamer_core.models.evaluate): (a) the open-loop image error, 16 steps imagined under the true actions
after 16 context steps, as the report computes it, below the card's `openloop_max`; (b) the policy's return over
200 steps above the card's `return_min`. scripts/ship_model.py sets both between the trained and an untrained
model; a pixel model shipped as a world model only (its card says its policy is not trained) has check (a) alone. The tiny `debug` model trained here for a few updates runs the same tests, so the mechanism is tested
even where no model is shipped yet (it never enters the package's assets).
"""

from __future__ import annotations

import json

import pytest

import model_helpers
from dreamer_core import models
from dreamer_core.config import Config

DEBUG = "debug-fixture"
CASES = [card.name for card in models.shipped()] + [DEBUG]


@pytest.fixture(scope="module")
def debug_model(tmp_path_factory):
    return model_helpers.shared_debug_model(tmp_path_factory)


@pytest.fixture(scope="module", params=CASES)
def case(request, debug_model):
    """(card, evaluation of the model, evaluation of an untrained agent of its config), once per model."""
    model_dir = debug_model if request.param == DEBUG else models.resolve(request.param)
    card = models.read_card(model_dir)
    config = Config.from_dict(json.loads((model_dir / "config.json").read_text()))
    results = []
    for kwargs in ({"model_dir": model_dir}, {"config": config}):
        trainer = models.eval_trainer(seed=card.get("eval_seed", models.EVAL_SEED), **kwargs)
        try:
            results.append(models.evaluate(trainer, card.get("eval_steps", models.EVAL_STEPS)))
        finally:
            trainer.close()
    return request.param, card, *results


def test_the_card_sets_the_thresholds_it_needs(case):
    name, card, _, _ = case  # its world model where it sees pixels, its policy unless the card says "world model only"
    assert models.thresholds(card) == models.required_thresholds(card), f"{name}: re-ship it with scripts/ship_model.py"
    assert models.required_thresholds(card), f"{name}: a model card with no check proves nothing"
    if name == DEBUG:  # a few updates teach the decoder, not the policy
        assert card.world_model_only and "world model only" in card.summary()


def test_the_model_meets_its_card(case):
    name, card, trained, _ = case
    assert models.check(trained, card) == [], f"{name}: {trained}"


def test_an_untrained_agent_of_the_same_config_fails_every_threshold(case):
    name, card, _, untrained = case
    assert len(models.check(untrained, card)) == len(models.thresholds(card)) > 0, f"{name}: {untrained}"
