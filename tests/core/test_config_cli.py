"""Config round trips and errors; resuming a Trainer exactly; the Qt-free contract of the core.

The command line's own tests are in tests/studio/test_cli.py."""

import json
import subprocess
import sys

import numpy as np
import pytest

from dreamer_core.config import Config, make_config, parse_overrides


def test_config_round_trip_and_layering():
    config = make_config("dmc_cartpole_balance", "vision", "size12m", {"train": {"lr": 1e-4}})
    assert config.model.deter == 2048 and config.env.obs == "vision" and config.train.lr == 1e-4
    assert Config.from_dict(json.loads(config.to_json())) == config


@pytest.mark.parametrize("kwargs, message", [
    (dict(task="procgen_coinrun"), "unknown task"),
    (dict(preset="size3m"), "unknown preset"),
    (dict(overrides={"train": {"lrr": 1}}), "unknown field"),
    (dict(overrides={"model": {"deter": 100}}), "divisible"),
])
def test_config_errors_name_the_problem(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_config(**kwargs)


@pytest.mark.parametrize("item, message", [
    ("train.lr=nan", "train.lr must be a finite number, got nan"),
    ("train.lr=-1", "train.lr must be > 0, got -1.0"),
    ("train.lr=0", "train.lr must be > 0"),
    ("train.eps=0", "train.eps must be > 0"),
    ("train.beta1=1", r"train.beta1 must be in \[0, 1\)"),
    ("train.beta2=-0.1", "train.beta2 must be in"),
    ("model.unimix=1", r"model.unimix must be in \[0, 1\)"),
    ("train.lam=1.5", r"train.lam must be in \[0, 1\]"),
    ("train.discount_horizon=1", "train.discount_horizon must be > 1"),
    ("train.retnorm_decay=1", "train.retnorm_decay must be in"),
    ("train.scale_rep=-0.1", "train.scale_rep must be at least 0"),
    ("train.free_nats=inf", "train.free_nats must be a finite number"),
    ("train.retnorm_hi=2", "train.retnorm_hi must be above train.retnorm_lo"),
    ("run.train_ratio=inf", "run.train_ratio must be a finite number"),
    ("run.seed=-1", "run.seed must be in"),
    ("model.kernel=4", "model.kernel must be an odd number"),
    ("env.time_limit=-3", "env.time_limit must be at least 0"),
])
def test_numeric_fields_are_checked_at_config_time(item, message):
    """Values that would train nothing (lr=nan turns every weight NaN after one update) are refused up front,
    with one line naming the field, from `--set` and from a config.json alike."""
    with pytest.raises(ValueError, match=message) as error:
        make_config("dummy_disc", "proprio", "debug", parse_overrides([item]))
    assert len(str(error.value).splitlines()) == 1
    section, rest = item.split(".", 1)
    key, raw = rest.split("=")
    data = json.loads(make_config("dummy_disc", "proprio", "debug").to_json())
    data[section][key] = float(raw) if raw not in ("nan", "inf") else raw  # config.json has no nan literal
    with pytest.raises(ValueError, match=message.split(" must")[0]):
        Config.from_dict(data)


@pytest.mark.parametrize("task, family, domain", [
    ("dmc_cartpole_balance", "dmc", "dmc_vision"), ("gym_CartPole-v1", "gym", "gym"), ("dummy_disc", "dummy", "dummy"),
    ("atari_pong", "atari", "atari"), ("atari100k_pong", "atari100k", "atari100k"),
])
def test_one_function_reads_a_task_name(task, family, domain):
    from dreamer_core.config import domain_of
    from dreamer_core.envs import task_family

    assert task_family(task) == family and domain_of(task, "vision") == domain


@pytest.mark.parametrize("task", ["procgen_coinrun", "dmc_", "dmc", "gymCartPole-v1"])
def test_a_name_of_no_family_is_refused_alike_everywhere(task):
    from dreamer_core.config import EnvConfig
    from dreamer_core.envs import check_task, make_env, task_family

    for call in (lambda: task_family(task), lambda: check_task(task), lambda: make_config(task, "proprio", "debug"),
                 lambda: make_env(EnvConfig(task=task), seed=0)):
        with pytest.raises(ValueError, match=f"unknown task '{task}'"):
            call()


def test_parse_overrides():
    assert parse_overrides(["train.lr=1e-4", "env.task=dmc_walker_walk", "run.online_queue=false"]) == {
        "train": {"lr": 1e-4}, "env": {"task": "dmc_walker_walk"}, "run": {"online_queue": False}}
    with pytest.raises(ValueError, match="section.field=value"):
        parse_overrides(["lr=3"])


def test_checkpoint_of_another_config_is_refused(tmp_path):
    from dreamer_core.checkpoint import CheckpointError
    from dreamer_core.trainer import Trainer

    trainer = Trainer(make_config("dummy_cont", "proprio", "debug"), tmp_path)
    trainer.save()
    trainer.close()  # releases the run directory's lock
    other = make_config("dummy_cont", "proprio", "debug", {"model": {"deter": 128}})
    with pytest.raises(CheckpointError, match="model.deter"):
        Trainer(other, tmp_path)


def test_resume_continues_exactly(tmp_path):
    """A run saved and resumed samples the same batches and takes the same updates as one that kept going."""
    from dreamer_core.trainer import Trainer

    config = make_config("dummy_cont", "proprio", "debug", {"run": {"steps": 10_000}})
    a = Trainer(config, tmp_path / "a")
    for _ in range(90):
        a.step()
    a.save()
    a.close()  # releases the run directory's lock; `a` can still train (replay and agent stay)
    b = Trainer(config, tmp_path / "a")  # resumes from a's checkpoint
    ma, mb = a.train_once(), b.train_once()
    assert ma["loss_total"] == pytest.approx(mb["loss_total"], rel=1e-6)
    assert np.array_equal(a.replay.sample(2)["index"], b.replay.sample(2)["index"])


def test_resume_drops_log_rows_past_the_checkpoint(tmp_path):
    """A run killed after its last save redoes those frames on resume; the curve must not count them twice."""
    from dreamer_core.trainer import Trainer

    config = make_config("dummy_cont", "proprio", "debug", {"run": {"steps": 10_000, "log_every": 0.0}})
    a = Trainer(config, tmp_path / "run")
    for _ in range(90):
        a.step()
    a.save()
    saved_at = a.counters.env_frames
    for _ in range(60):  # past the checkpoint: two more episodes and more metric rows, then a "crash"
        a.step()
    scores = [json.loads(x)["step"] for x in (tmp_path / "run" / "scores.jsonl").read_text().splitlines()]
    assert max(scores) > saved_at
    a.close()  # the "crash": its process would release the lock on exit
    b = Trainer(config, tmp_path / "run")
    for name in ("scores.jsonl", "metrics.jsonl"):
        steps = [json.loads(x)["step"] for x in (tmp_path / "run" / name).read_text().splitlines()]
        assert steps and max(steps) <= saved_at
    for _ in range(60):
        b.step()
    steps = [json.loads(x)["step"] for x in (tmp_path / "run" / "scores.jsonl").read_text().splitlines()]
    assert steps == sorted(steps) and len(steps) == len(set(steps))  # one continuous curve


def test_core_never_imports_qt():
    code = ("import sys, dreamer_core.trainer, dreamer_core.report, dreamer_core.export;"
            "bad = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph', 'dreamer_studio')];"
            "print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_import_linter_contract():
    result = subprocess.run([sys.executable, "-c", "from importlinter.cli import lint_imports_command;"
                             "lint_imports_command()"], capture_output=True, text=True)
    assert "KEPT" in result.stdout and "BROKEN" not in result.stdout, result.stdout + result.stderr


def test_reference_script_trains_for_a_few_steps():
    script = __import__("pathlib").Path(__file__).parents[2] / "scripts" / "reference_dreamerv3.py"
    result = subprocess.run([sys.executable, str(script), "--task", "dummy_cont", "--preset", "debug",
                             "--steps", "160", "--train-ratio", "64"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "trainable parameters" in result.stdout and "episode return" in result.stdout
    assert "update    50" in result.stdout


def test_compile_falls_back_to_eager_with_a_clear_note(monkeypatch, tmp_path):
    import torch

    from dreamer_core import trainer as trainer_module

    def broken_compile(*args, **kwargs):
        raise RuntimeError("InvalidCxxCompiler: No working C++ compiler found\nlong traceback text")

    monkeypatch.setattr(torch, "compile", broken_compile)
    config = make_config("dummy_cont", "proprio", "debug", {"run": {"compile": True, "steps": 100}})
    trainer = trainer_module.Trainer(config, tmp_path / "run")
    assert "unavailable" in trainer.compile_note and "No working C++ compiler" in trainer.compile_note
    assert "traceback" not in trainer.compile_note
    assert trainer.agent.rssm._img_fn == trainer.agent.rssm.pure_img_step  # still the eager step functions
    while not trainer.done:
        trainer.step()
    assert trainer.updates > 0
    trainer.close()
