"""A run directory and a checkpoint are data, never code: task names that would import a module are refused on
every path that reads them (CLI, resume, export, config.json), and a checkpoint's contents are checked in full
before any of it replaces a trainer's state."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from dreamer_core.config import Config, make_config
from dreamer_core.envs import check_task
from dreamer_core.trainer import Trainer

ROOT = Path(__file__).parents[2]
torch.set_num_threads(1)


def plant_module(folder: Path, name: str) -> Path:
    """A module that, if anything ever imports it, leaves a marker file: the proof that code ran."""
    marker = folder / f"{name}.ran"
    (folder / f"{name}.py").write_text(f"open({str(marker)!r}, 'w').write('imported')\n")
    return marker


def hostile_run(folder: Path, task: str) -> Path:
    """A real run directory (config.json + latest.ckpt of a dummy run) whose config.json names `task`."""
    run = folder / "run"
    config = make_config("dummy_disc", "vision", "debug", {"run": {"device": "cpu", "replay_size": 1000}})
    trainer = Trainer(config, run)
    for _ in range(40):
        trainer.step()
    trainer.save()
    trainer.close()
    data = json.loads((run / "config.json").read_text())
    data["env"]["task"] = task
    (run / "config.json").write_text(json.dumps(data))
    return run


def cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    # cwd and PYTHONPATH both hold the planted module: it is importable, so only the code keeps it from running.
    env = {**os.environ, "PYTHONPATH": f"{cwd}{os.pathsep}{ROOT}", "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "dreamer_studio", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def test_export_of_a_run_whose_task_imports_a_module_runs_nothing(tmp_path):
    marker = plant_module(tmp_path, "pwnexport")
    run = hostile_run(tmp_path, "gym_pwnexport:Evil-v0")
    result = cli(["export", "--logdir", str(run), "--out", str(tmp_path / "x.mp4")], tmp_path)
    assert not marker.exists()
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "env.task" in result.stderr
    assert "module:EnvId" in result.stderr and "gym_<EnvId>" in result.stderr


def test_train_and_resume_with_an_importing_task_run_nothing(tmp_path, monkeypatch):
    marker = plant_module(tmp_path, "pwntrain")
    result = cli(["train", "--headless", "--preset", "debug", "--task", "gym_pwntrain:Evil-v0", "--steps", "5",
                  "--logdir", str(tmp_path / "cli")], tmp_path)
    assert not marker.exists() and result.returncode == 2 and "env.task" in result.stderr
    # The library path too (a Trainer given such a config, as the studio's resume builds one): refused in make_env.
    monkeypatch.syspath_prepend(str(tmp_path))
    run = hostile_run(tmp_path, "gym_pwntrain:Evil-v0")
    base = make_config("dummy_disc", "vision", "debug", {"run": {"device": "cpu"}})
    hostile = replace(base, env=replace(base.env, task="gym_pwntrain:Evil-v0"))  # bypasses make_config's check
    with pytest.raises(ValueError, match="env.task"):
        Trainer(hostile, run)
    assert not marker.exists()
    # Reading the run's config.json (studio --open, export) refuses it before any env is built.
    with pytest.raises(ValueError, match="env.task"):
        Config.from_dict(json.loads((run / "config.json").read_text()))
    # A checkpoint whose stored config names it (resume, the studio's Load and watch read that config).
    from dreamer_core import checkpoint
    from dreamer_core.checkpoint import CheckpointError

    state = checkpoint.load(run / "latest.ckpt")
    state["config"] = (run / "config.json").read_text()
    checkpoint.save(run / "latest.ckpt", state)
    trainer = Trainer(base)
    with pytest.raises(CheckpointError, match="stored config is invalid.*env.task"):
        trainer.load(run / "latest.ckpt")
    trainer.close()
    assert not marker.exists()


@pytest.mark.parametrize("task", [
    "gym_os:system", "gym_pwn:Evil-v0", "gym_Unregistered-v0", "dmc_../../etc", "gym_CartPole-v1; rm -rf /",
    "dummy_disc\n", "", 5, None,
])
def test_task_names_that_are_not_plain_registered_names_are_refused(task):
    with pytest.raises(ValueError, match="env.task|gym_<EnvId>"):
        check_task(task)


def test_registered_names_pass():
    for task in ("gym_CartPole-v1", "gym_phys2d/CartPole-v1", "dmc_cartpole_balance", "dummy_disc"):
        check_task(task)


@pytest.mark.parametrize("section, key, value, message", [
    ("env", "task", ["gym_CartPole-v1"], "env.task must be a string"),
    ("run", "device", "cuda; touch x", "run.device"),
    ("env", "size", "64; x", "env.size"),
    ("run", "steps", True, "run.steps"),
    ("preset", None, "../../x", "preset"),
])
def test_every_config_json_field_is_typed_and_checked(section, key, value, message):
    data = json.loads(make_config("dummy_disc", "vision", "debug").to_json())
    if key is None:
        data[section] = value
    else:
        data[section][key] = value
    with pytest.raises(ValueError, match=message):
        Config.from_dict(data)


# --- checkpoints whose tensors are valid but whose contents are wrong -----------------------------------------


def snapshot(trainer: Trainer) -> dict:
    """Every tensor, array and counter of a trainer's state, copied."""
    agent = trainer.agent.state_dict_full()
    replay = trainer.replay
    return clone({"agent": agent, "replay": {k: v.copy() for k, v in replay.data.items()},
                  "counts": replay.counts.copy(), "queue": list(replay.queue), "inserts": replay.inserts,
                  "samples": replay.samples, "replay_rng": replay.rng.bit_generator.state, "online": replay.online,
                  "counters": vars(trainer.counters).copy(), "scores": list(trainer.scores),
                  "torch_rng": torch.get_rng_state(), "gen": trainer.gen.get_state(),
                  "numpy_rng": np.random.get_state(), "obs": trainer.obs,
                  "carry": [trainer.carry.latent.deter, trainer.carry.latent.stoch, trainer.carry.action],
                  "returns": trainer.episode_return, "lengths": trainer.episode_length})


def clone(value):
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, dict):
        return {k: clone(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(clone(v) for v in value)
    return value


def assert_same(a, b, where="state") -> None:
    assert type(a) is type(b), where
    if isinstance(a, torch.Tensor):
        assert a.shape == b.shape and a.dtype == b.dtype and torch.equal(a, b), where
    elif isinstance(a, np.ndarray):
        assert a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b), where
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            assert_same(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


def last_weight(state: dict) -> str:
    return list(state["agent"]["model"])[-1]  # loaded last: a partial load would already have replaced the rest


def _shape(s):
    key = last_weight(s)
    s["agent"]["model"][key] = torch.zeros(*s["agent"]["model"][key].shape, 2)


def _opt_shape(s):
    entry = next(iter(s["agent"]["optimizer"]["state"].values()))
    entry["nu"] = torch.zeros(3)


CORRUPTIONS = {  # name: (mutation of a good checkpoint's state, what the one-line message must name)
    "wrong shape": (_shape, r"agent.model\[.* in the checkpoint but .* its stored config matches"),
    "missing weight": (lambda s: s["agent"]["model"].pop(last_weight(s)), r"agent.model lacks \["),
    "missing replay": (lambda s: s.pop("replay"), "the checkpoint has no 'replay'"),
    "agent a list": (lambda s: s.__setitem__("agent", [1, 2]), "agent is a list, not a dict"),
    "optimizer shape": (_opt_shape, r"agent.optimizer state\[.*\]\['nu'\] is torch.float32 \[3\]"),
    "replay dtype": (lambda s: s["replay"]["data"].__setitem__("reward", s["replay"]["data"]["reward"]
                                                                .astype(np.float64)), r"replay data\['reward'\]"),
    "replay counts": (lambda s: s["replay"].__setitem__("counts", np.array([-4])), "replay counts"),
    "counters type": (lambda s: s["counters"].__setitem__("agent_steps", "many"), r"counters\['agent_steps'\]"),
    "updates nan": (lambda s: s["agent"].__setitem__("updates", float("nan")), "agent.updates is nan"),
    "numpy rng": (lambda s: s["rng"].__setitem__("numpy", np.zeros(3, np.uint32)), r"rng\['numpy'\]"),
    "replay rng": (lambda s: s["replay"].__setitem__("rng", {"bit_generator": "MT19937"}), "replay rng"),
    "scores": (lambda s: s.__setitem__("scores", [["a", 1]]), "scores"),
    "config": (lambda s: s.__setitem__("config", "{not json"), "its stored config is invalid"),
    "episode obs": (lambda s: s["episode"]["obs"].__setitem__("vector", np.zeros((1, 9), np.float32)),
                    r"episode\['obs'\]\['vector'\] is float32 \[1, 9\]"),
    "episode envs": (lambda s: s["episode"].__setitem__("envs", 5), r"episode\['envs'\] is int"),
    "other deter": (lambda s: s.__setitem__("config", s["config"].replace('"deter": 64', '"deter": 128')),
                    "model.deter: checkpoint 128 vs this run 64"),
}


@pytest.fixture(scope="module")
def good_checkpoint(tmp_path_factory):
    from dreamer_core import checkpoint

    # A small replay without frames: the snapshots copy all of it.
    config = make_config("dummy_disc", "proprio", "debug", {"run": {"device": "cpu", "steps": 10_000,
                                                                    "replay_size": 500}, "env": {"log_image": False}})
    trainer = Trainer(config)
    for _ in range(80):
        trainer.step()
    assert trainer.updates > 0 and trainer.agent.optimizer.state  # the optimizer holds state to check
    path = trainer.save(tmp_path_factory.mktemp("good") / "good.ckpt")
    trainer.close()
    return config, checkpoint.load(path)


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_a_wrong_checkpoint_is_one_line_and_loads_nothing(name, good_checkpoint, tmp_path):
    """All or nothing: every tensor and counter of the running trainer is as before the failed load."""
    from dreamer_core import checkpoint
    from dreamer_core.checkpoint import CheckpointError

    config, good = good_checkpoint
    mutate, message = CORRUPTIONS[name]
    state = clone(good)
    mutate(state)
    path = tmp_path / "bad.ckpt"
    checkpoint.save(path, state)
    trainer = Trainer(config)
    for _ in range(30):  # a state of its own that differs from the checkpoint's
        trainer.step()
    before = snapshot(trainer)
    with pytest.raises(CheckpointError, match=message) as error:
        trainer.load(path)
    assert str(path) in str(error.value) and len(str(error.value).splitlines()) == 1
    assert_same(before, snapshot(trainer))
    checkpoint.save(tmp_path / "good.ckpt", good)
    trainer.load(tmp_path / "good.ckpt")
    assert trainer.counters.agent_steps == 80  # the same trainer still loads a good checkpoint
    trainer.close()


def test_a_trainer_checkpoint_in_the_old_format_still_loads(good_checkpoint, tmp_path):
    """Version 1 (no digest; written before `episode` and `env_restarts` existed) passes every check."""
    from dreamer_core import checkpoint

    config, good = good_checkpoint
    state = clone(good)
    state.pop("episode", None)
    state["counters"].pop("env_restarts", None)
    path = tmp_path / "v1.ckpt"
    torch.save({"format": checkpoint.FORMAT, "version": 1, "state": checkpoint._encode(state)}, path)  # old save
    trainer = Trainer(config)
    trainer.load(path)
    assert trainer.counters.agent_steps == 80 and trainer.updates == good["agent"]["updates"]
    trainer.step()
    trainer.close()


def test_an_optional_entry_must_fit_its_template(good_checkpoint):
    """Entries newer code adds (the episode in flight, say) are checked against a template of the live trainer's
    own value when present, and may be absent (older checkpoints)."""
    from dreamer_core import trainer_state
    from dreamer_core.checkpoint import CheckpointError

    config, good = good_checkpoint
    trainer = Trainer(config)
    template = {"obs": trainer.obs, "carry": [trainer.carry.action], "opaque": None, "n": 3}
    state = clone(good)
    state.pop("extra", None)
    trainer_state.check(state, trainer, "x.ckpt", optional={"extra": template})  # absent: fine
    state["extra"] = {**clone(template), "opaque": {"anything": 1}}
    trainer_state.check(state, trainer, "x.ckpt", optional={"extra": template})  # present and fitting
    for broken, message in [({"obs": {**trainer.obs, "vector": np.zeros((1, 9), np.float32)}},
                             r"extra\['obs'\]\['vector'\] is float32 \[1, 9\], this run's float32 \[1, 4\]"),
                            ({"carry": []}, r"extra\['carry'\] is list of 0 entries"),
                            ({"n": "three"}, r"extra\['n'\] is 'three', not of type int"),
                            ({"obs": 5}, r"extra\['obs'\] is a int, not a dict")]:
        state["extra"] = {**clone(template), **broken}
        with pytest.raises(CheckpointError, match=message):
            trainer_state.check(state, trainer, "x.ckpt", optional={"extra": template})
    trainer.close()
