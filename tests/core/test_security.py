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

import pytest
import torch

from dreamer_core.config import Config, make_config
from dreamer_core.envs import check_task
from dreamer_core.run import Trainer

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
    config = make_config("dummy_disc", "vision", "debug", {"run": {"device": "cpu"}})
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
