"""Shipped models (dreamer_core/models.py, scripts/ship_model.py): the model-only checkpoint, its card, the resolver,
and that a wheel carries the models as package data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

import model_helpers
from dreamer_core import checkpoint, models
from dreamer_core.logdir import CHECKPOINT_NAME
from dreamer_core.trainer import Trainer


@pytest.fixture(scope="module")
def shipped_debug(tmp_path_factory):
    """(run directory, model directory) of the tiny debug model."""
    model = model_helpers.shared_debug_model(tmp_path_factory)
    return model.parent.parent / "run", model


def test_ship_model_writes_a_model_only_run_directory(shipped_debug):
    run, model = shipped_debug
    assert sorted(p.name for p in model.iterdir()) == ["README.md", "config.json", models.MODEL_FILE,
                                                       models.PREVIEW_FILE]
    state = models.read_model(model)
    full = checkpoint.load(run / CHECKPOINT_NAME)
    assert state["kind"] == "model" and state["model_version"] == models.MODEL_VERSION
    assert "replay" not in state and "optimizer" not in state["agent"] and "rng" not in state
    assert state["counters"]["env_frames"] == full["counters"]["env_frames"] > 0
    assert state["agent"]["updates"] == full["agent"]["updates"] == model_helpers.UPDATES
    assert json.loads((model / "config.json").read_text()) == json.loads(full["config"])
    assert (model / models.MODEL_FILE).stat().st_size < (run / CHECKPOINT_NAME).stat().st_size / 3
    card = models.read_card(model)
    for key in ("task", "obs", "preset", "env_frames", "updates", "score", "command", "commit", "date",
                "eval_return", "untrained_return"):
        assert card.get(key) is not None, key
    assert card.get("command") == model_helpers.COMMAND and len(card.get("commit")) == 40
    assert card.get("updates") == model_helpers.UPDATES and card.get("task") == "dummy_disc"
    assert "dreamer-studio --open assets/models/debug_dummy" in (model / "README.md").read_text()
    import imageio.v3 as iio

    strip = iio.imread(model / models.PREVIEW_FILE)  # 8 real frames over 8 imagined ones, each framed by 2 px
    assert strip.shape == (2 * (64 + 4), 8 * (64 + 4), 3) and "](preview.png)" in (model / "README.md").read_text()


def test_a_loaded_model_has_the_trained_weights_and_counters(shipped_debug):
    run, model = shipped_debug
    full = checkpoint.load(run / CHECKPOINT_NAME)
    trainer = models.open_model(model, device="cpu")
    try:
        for key, value in full["agent"]["model"].items():
            assert torch.equal(trainer.agent.state_dict()[key], value), key
        assert trainer.updates == model_helpers.UPDATES
        assert trainer.counters.env_frames == full["counters"]["env_frames"]
        assert trainer.logdir is None  # nothing is ever written next to a model
        assert trainer.replay.steps == models.context_steps(trainer.config)  # a fresh real context, no more
        assert trainer.report() is not None
    finally:
        trainer.close()


def test_fp16_halves_the_file_and_loads_into_fp32(shipped_debug, tmp_path):
    run, model = shipped_debug
    out = tmp_path / "half"
    args = [str(run), str(out), "--command", "x", "--fp16", "--world-model-only"]
    assert model_helpers.ship_model_script().main(args) == 0
    assert (out / models.MODEL_FILE).stat().st_size < 0.6 * (model / models.MODEL_FILE).stat().st_size
    trainer = models.open_model(out, device="cpu")
    try:
        assert all(p.dtype == torch.float32 for p in trainer.agent.parameters())
    finally:
        trainer.close()


def test_a_run_begun_from_a_model_ships_with_its_origin_on_the_card(shipped_debug, tmp_path):
    import shutil

    from dreamer_core.logdir import FROM_MODEL_KEPT, write_origin

    run, model = shipped_debug
    continued = tmp_path / "continued"
    shutil.copytree(run, continued, ignore=shutil.ignore_patterns("*.lock"))
    packaged = models.PACKAGE_MODELS / "cartpole_balance_vision" / models.MODEL_FILE  # named as in a clone
    write_origin(continued, packaged, 13_774, 112_246, FROM_MODEL_KEPT)
    out = tmp_path / "out"
    assert model_helpers.ship_model_script().main([str(continued), str(out), "--command", "x",
                                                   "--world-model-only"]) == 0
    card = models.read_card(out)
    assert card.get("began_from") == "assets/models/cartpole_balance_vision/model.ckpt"
    assert card.get("began_at_updates") == 13_774 and card.get("began_at_frames") == 112_246
    text = (out / "README.md").read_text()
    assert "began from the trained model `assets/models/cartpole_balance_vision/model.ckpt` at 13,774 updates" in text
    assert "replay started empty" in text


def test_a_training_checkpoint_or_a_newer_format_is_refused_in_one_line(shipped_debug, tmp_path):
    run, model = shipped_debug
    with pytest.raises(models.ModelError, match="training checkpoint, not a model-only one"):
        models.read_model(run / CHECKPOINT_NAME)
    state = models.read_model(model)
    checkpoint.save(tmp_path / models.MODEL_FILE, {**state, "model_version": models.MODEL_VERSION + 1})
    with pytest.raises(models.ModelError, match="model format version 2"):
        models.read_model(tmp_path)


def test_a_model_does_not_load_into_another_configuration(shipped_debug):
    from dreamer_core.config import make_config

    _, model = shipped_debug
    trainer = Trainer(make_config("dummy_disc", "vision", "debug", {"run": {"device": "cpu"},
                                                                    "model": {"deter": 128}}), None)
    try:
        with pytest.raises(models.ModelError, match="model.deter: model 64 vs this run 128"):
            models.load_into(trainer, models.read_model(model))
    finally:
        trainer.close()


def test_shipped_lists_finished_models_only(shipped_debug, tmp_path):
    import shutil

    _, model = shipped_debug
    shutil.copytree(model, tmp_path / "b_model")
    shutil.copytree(model, tmp_path / ".c_model.staging")  # ship_model is still writing it
    (tmp_path / "a_empty").mkdir()
    assert [card.path.name for card in models.shipped(tmp_path)] == ["b_model"]


def test_resolver_maps_clone_paths_and_names_onto_the_package(monkeypatch, tmp_path):
    (tmp_path / "cartpole").mkdir()
    monkeypatch.setattr(models, "PACKAGE_MODELS", tmp_path)
    monkeypatch.chdir(tmp_path.parent)  # no assets/ here: only the resolver can find it
    assert models.resolve("assets/models/cartpole") == tmp_path / "cartpole"
    assert models.resolve("cartpole") == tmp_path / "cartpole"
    with pytest.raises(models.ModelError, match="not a shipped model"):
        models.resolve("assets/models/nope")
    assert models.locate("some/run/dir") == Path("some/run/dir")  # not a model path: left for the caller to report


def test_card_front_matter_round_trips_and_a_bare_readme_is_refused(tmp_path):
    fields = {"name": "m", "score": 912.5, "updates": 1000, "return_min": None, "command": "a --b 'c'"}
    models.write_card(tmp_path, fields, "# m\n\nprose")
    assert models.read_card(tmp_path).fields == fields
    (tmp_path / "README.md").write_text("# just prose\n")
    with pytest.raises(models.ModelError, match="no front matter"):
        models.read_card(tmp_path)


def test_check_and_thresholds():
    card = models.ModelCard(Path("."), {"openloop_max": 0.01, "return_min": 100.0})
    assert models.check(models.Evaluation(0.005, 150.0), card) == []
    assert len(models.check(models.Evaluation(0.02, 50.0), card)) == 2
    assert len(models.check(models.Evaluation(None, 150.0), card)) == 1  # no frames cannot pass an image check
    picked = models.pick_thresholds(models.Evaluation(0.001, 390.0), models.Evaluation(0.1, 100.0))
    assert picked == {"openloop_max": 0.01, "return_min": 245.0}
    assert models.pick_thresholds(models.Evaluation(0.09, 101.0), models.Evaluation(0.1, 100.0)) == \
        {"openloop_max": None, "return_min": None}  # not clearly better: no check that cannot tell them apart


def test_ship_model_errors_are_one_line(shipped_debug, tmp_path, capsys):
    run, model = shipped_debug
    ship = model_helpers.ship_model_script()
    assert ship.main([str(tmp_path), str(tmp_path / "m"), "--command", "x"]) == 2
    assert ship.main([str(run), str(model), "--command", "x"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"ship_model: error: {tmp_path} holds no checkpoint (*.ckpt); pass the run directory of a "
                   "training run", f"ship_model: error: {model} already holds files; pass --force to replace that "
                   "model"]


def test_a_wheel_carries_the_models_and_an_installed_copy_finds_them(shipped_debug, tmp_path):
    """Builds a wheel from a copy of the project with the debug model packaged, installs it into a target
    directory and resolves the model there from a fresh interpreter (not from this clone)."""
    import shutil

    _, model = shipped_debug
    src = tmp_path / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", ".*")
    for name in ("dreamer_core", "dreamer_studio"):
        shutil.copytree(model_helpers.ROOT / name, src / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(model_helpers.ROOT / name, src / name)
    shutil.copytree(model, src / "dreamer_core" / "assets" / "models" / "debug_dummy")
    wheels, target = tmp_path / "wheels", tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run(pip + ["wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(src)], check=True,
                   cwd=tmp_path)
    (wheel,) = wheels.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    packaged = {f"dreamer_core/assets/models/debug_dummy/{f}"
                for f in ("README.md", "config.json", "model.ckpt", "preview.png")}
    assert packaged <= names, sorted(n for n in names if "assets" in n)
    for path in models.PACKAGE_MODELS.glob("*/*"):  # every model this clone ships is in the wheel too
        assert path.relative_to(models.PACKAGE_MODELS.parent.parent.parent).as_posix() in names
    subprocess.run(pip + ["install", "--no-deps", "--no-compile", "--target", str(target), str(wheel)], check=True)
    probe = ("import dreamer_core.models as m, sys; d = m.resolve('assets/models/debug_dummy'); "
             "print(m.__file__); print(d); print(m.read_card(d).get('task')); print([c.name for c in m.shipped()])")
    env = {**os.environ, "PYTHONPATH": str(target)}
    out = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True, cwd=tmp_path,
                         env=env).stdout.splitlines()
    assert out[0].startswith(str(target)) and out[1].startswith(str(target)), out  # the installed copy, not the clone
    assert out[2] == "dummy_disc" and "debug_dummy" in out[3]


def test_a_fresh_context_is_enough_for_a_report_when_training_windows_are_longer():
    """size1m trains on windows of 65 steps and reports on 33: replay must hold one training window first."""
    from dreamer_core.config import make_config

    config = make_config("dummy_disc", "vision", "debug", {"run": {"device": "cpu"}, "train": {"batch_length": 32}})
    trainer = Trainer(config, None)
    try:
        models.collect(trainer, models.context_steps(config) - 2)
        assert trainer.report() is None
        models.collect(trainer, 2)
        assert trainer.report() is not None and trainer.updates == 0  # collecting never trains
    finally:
        trainer.close()


def test_the_evaluation_return_is_the_first_episodes_not_every_reward_of_the_steps():
    """CartPole pays 1 per step, fall or not: summed over 200 steps of restarts, an untrained policy would score
    ~200. The evaluation's return stops at the first episode's end."""
    from dreamer_core.config import make_config

    config = make_config("gym_CartPole-v1", "proprio", "debug", {"run": {"device": "cpu"},
                                                                 "env": {"log_image": False}})
    trainer = Trainer(config, None)
    try:
        first = models.collect(trainer, 200)
        is_last = np.asarray(trainer.replay.state_dict()["data"]["is_last"]).reshape(-1)[:200]  # (200,), 1 env
        ends = np.flatnonzero(is_last)  # the step index of each episode's last step
        assert len(ends) >= 2  # an untrained policy drops the pole well within 200 steps, more than once
        assert first == float(ends[0])  # reward 1 on each step after the reset, up to and including the fall
    finally:
        trainer.close()


def test_no_trainer_writes_into_a_model_directory(shipped_debug):
    from dreamer_core.config import Config

    _, model = shipped_debug
    before = sorted((p.name, p.stat().st_mtime_ns) for p in model.iterdir())
    config = Config.from_dict(json.loads((model / "config.json").read_text()))
    with pytest.raises(ValueError, match="holds a trained model .* read-only"):
        Trainer(config, model)
    trainer = Trainer(config, None)
    try:
        with pytest.raises(ValueError, match="read-only"):
            trainer.adopt_logdir(model)
    finally:
        trainer.close()
    assert sorted((p.name, p.stat().st_mtime_ns) for p in model.iterdir()) == before  # not even a lock file


def test_a_proprio_model_ships_without_an_image_check(tmp_path, monkeypatch):
    """A vector model imagines no frames: its card has no image threshold, and its preview shows real frames only."""
    import imageio.v3 as iio

    run = model_helpers.train_debug_run(tmp_path / "run", updates=8, obs="proprio")
    out = tmp_path / "proprio"
    assert model_helpers.ship_model_script().main([str(run), str(out), "--command", "x", "--return-min", "1"]) == 0
    card = models.read_card(out)
    assert card.get("obs") == "proprio" and card.get("openloop_mse") is None and card.get("openloop_max") is None
    assert models.thresholds(card) == ["return_min"] and card.get("return_min") == 1.0  # the override wins
    assert iio.imread(out / models.PREVIEW_FILE).shape == (64 + 4, 8 * (64 + 4), 3)  # log/image frames, no dream row
    # The open-loop signal's vector scale is the training replay's (the live ring's, as the run's trainer saw it),
    # not the viewer's own one-context replay, and an opened model's reports use it
    from dreamer_core import confidence
    from dreamer_core.config import Config

    config = Config.from_dict(json.loads((run / "config.json").read_text()))
    resumed = Trainer(config, run)
    try:
        keys = sorted(resumed.agent.vector_dims)
        expected = confidence.replay_vector_scale(resumed.replay, keys)
    finally:
        resumed.close()
    state = models.read_model(out)
    np.testing.assert_allclose(state["vector_scale"], expected, rtol=1e-9)
    viewer = models.open_model(out, device="cpu")
    try:
        np.testing.assert_allclose(viewer.vector_scale, expected, rtol=1e-9)
        own = confidence.replay_vector_scale(viewer.replay, keys)
        assert not np.allclose(own, expected)  # what the viewer's short context alone would have used
        used = []
        real_distance = confidence.openloop_vector_distance
        monkeypatch.setattr(confidence, "openloop_vector_distance",
                            lambda futures, openloop, scale: used.append(scale) or real_distance(futures, openloop,
                                                                                                  scale))
        assert viewer.report().openloop_signal is not None
        assert len(used) == 1
        np.testing.assert_allclose(used[0], expected, rtol=1e-9)
    finally:
        viewer.close()


@pytest.mark.parametrize("damage", ["shape", "missing", "type", "counter"])
def test_a_model_with_wrong_contents_is_one_line_and_loads_nothing(shipped_debug, tmp_path, damage):
    _, model = shipped_debug
    state = models.read_model(model)
    weights = state["agent"]["model"]
    key = sorted(weights)[0]
    if damage == "shape":
        weights[key] = torch.zeros(3, 3)
    elif damage == "missing":
        del weights[key]
    elif damage == "type":
        weights[key] = [1.0, 2.0]
    else:
        state["counters"]["env_frames"] = -5
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("config.json", models.CARD_FILE):
        (broken / name).write_bytes((model / name).read_bytes())
    checkpoint.save(broken / models.MODEL_FILE, state)
    from dreamer_core.config import Config

    config = Config.from_dict(json.loads(state["config"]))
    trainer = Trainer(config, None)
    try:
        before = {k: v.clone() for k, v in trainer.agent.state_dict().items()}
        frames = trainer.counters.env_frames
        with pytest.raises(checkpoint.CheckpointError) as caught:
            models.load_into(trainer, models.read_model(broken), broken / models.MODEL_FILE)
        message = str(caught.value)
        assert "\n" not in message and str(broken / models.MODEL_FILE) in message
        assert (key in message) if damage != "counter" else ("env_frames" in message)
        after = trainer.agent.state_dict()
        assert all(torch.equal(before[k], after[k]) for k in before) and trainer.counters.env_frames == frames
    finally:
        trainer.close()
    if damage != "shape":
        return
    # The CLI's export says the same in one line (exit 2), no traceback.
    out = subprocess.run([sys.executable, "-m", "dreamer_studio", "export", "--logdir", str(broken), "--out",
                          str(tmp_path / "x.mp4")], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "MUJOCO_GL": "egl"})
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr and "cannot be loaded" in out.stderr


def test_a_model_whose_policy_is_untrained_ships_only_as_a_world_model(shipped_debug, tmp_path, capsys):
    """The debug model's few updates teach its decoder, not its policy: without --world-model-only it is refused in
    one line; with it, its card says so in the front matter, the prose and the summary. A proprio model has no image
    check, so it cannot ship as a world model only."""
    run, model = shipped_debug
    ship = model_helpers.ship_model_script()
    assert ship.main([str(run), str(tmp_path / "full"), "--command", "x"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not clearly above an untrained agent's" in err[0] and "--world-model-only" in err[0]
    assert not (tmp_path / "full").exists() and not (tmp_path / ".full.staging").exists()
    card = models.read_card(model)
    assert card.world_model_only and models.required_thresholds(card) == ["openloop_max"] == models.thresholds(card)
    assert "World model only: its policy is not trained yet" in (model / models.CARD_FILE).read_text()
    proprio = model_helpers.train_debug_run(tmp_path / "proprio_run", updates=8, obs="proprio")
    assert ship.main([str(proprio), str(tmp_path / "p"), "--command", "x", "--world-model-only"]) == 2
    assert "its card would check nothing" in capsys.readouterr().err


def test_eval_models_measures_models_and_an_untrained_agent_over_seeds(shipped_debug, capsys):
    _, model = shipped_debug
    script = model_helpers.load_script("scripts/eval_models.py")
    assert script.main([str(model), str(model / models.MODEL_FILE), "--untrained", "--seeds", "2",
                        "--steps", "40"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and lines[2].startswith("untrained agent")
    assert lines[0].split(":", 1)[1] == lines[1].split(":", 1)[1]  # a directory and its file: the same model
    assert all("2 episodes" in line and "open-loop MSE" in line for line in lines)
    assert script.main([str(model.parent.parent / "run" / CHECKPOINT_NAME)]) == 2  # a training checkpoint: one line
    assert "not a model-only one" in capsys.readouterr().err
