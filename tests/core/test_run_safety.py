"""A run directory's safety: one trainer per directory, fresh starts that keep the old run, resumes that honour
the new settings, exports that never touch a live run, signals that save, and `--set` values checked by type."""

import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from run_files import run_files

from dreamer_core import checkpoint, models
from dreamer_core.checkpoint import CheckpointError
from dreamer_core.config import make_config, parse_overrides
from dreamer_core.logdir import CHECKPOINT_NAME, LOCK_NAME
from dreamer_core.trainer import Trainer
from dreamer_studio.cli import main

ROOT = Path(__file__).parents[2]


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def trained(config, logdir: Path, steps: int = 90) -> Trainer:
    trainer = Trainer(config, logdir)
    for _ in range(steps):
        trainer.step()
    return trainer


def test_one_trainer_per_run_directory(tmp_path, capsys):
    config = make_config("dummy_cont", "proprio", "debug")
    first = Trainer(config, tmp_path)
    with pytest.raises(ValueError, match="in use by a running trainer .pid"):
        Trainer(config, tmp_path)
    args = ["train", "--obs", "proprio", "--task", "dummy_cont", "--preset", "debug", "--steps", "20",
            "--logdir", str(tmp_path)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "in use" in err and "--logdir" in err and "Traceback" not in err
    first.close()
    Trainer(config, tmp_path).close()  # free again once the first one is done


def test_export_never_touches_a_live_run(tmp_path):
    """Exporting from a run that is still training: its logs, config and lock stay as they are."""
    config = make_config("dummy_disc", "vision", "debug", {"run": {"steps": 10_000, "log_every": 0.0}})
    live = trained(config, tmp_path / "run")
    live.save()
    for _ in range(40):  # rows past the checkpoint, as a live run has between saves
        live.step()
    before = {name: (tmp_path / "run" / name).read_bytes() for name in ("scores.jsonl", "metrics.jsonl",
                                                                        "config.json")}
    out = tmp_path / "rollout.gif"
    assert main(["export", "--logdir", str(tmp_path / "run"), "--out", str(out), "--samples", "1"]) == 0
    assert out.stat().st_size > 0
    assert before == {name: (tmp_path / "run" / name).read_bytes() for name in before}
    live.step()  # the live run goes on, still holding its directory
    with pytest.raises(ValueError, match="in use"):
        Trainer(config, tmp_path / "run")
    live.close()


def test_export_checks_its_arguments_before_loading(tmp_path, capsys):
    run = trained(make_config("dummy_cont", "proprio", "debug"), tmp_path / "run", steps=10)
    run.save()
    run.close()
    assert main(["export", "--logdir", str(tmp_path / "run"), "--out", str(tmp_path / "x.avi")]) == 2
    assert ".mp4 or .gif" in capsys.readouterr().err
    assert main(["export", "--logdir", str(tmp_path / "run"), "--out", str(tmp_path / "x.mp4")]) == 2
    assert "--obs vision" in capsys.readouterr().err


def test_fresh_start_sets_the_previous_run_aside(tmp_path, capsys):
    args = ["train", "--obs", "proprio", "--task", "dummy_cont", "--preset", "debug", "--steps", "60",
            "--logdir", str(tmp_path)]
    assert main(args) == 0
    old_scores = (tmp_path / "scores.jsonl").read_text()
    assert main(args + ["--fresh"]) == 0
    out = capsys.readouterr().out
    aside = [p for p in tmp_path.iterdir() if p.name.startswith("replaced-")]
    assert len(aside) == 1 and f"moved the previous run's files to {aside[0]}" in out
    assert (aside[0] / "scores.jsonl").read_text() == old_scores and (aside[0] / "latest.ckpt").exists()
    steps = [json.loads(x)["step"] for x in lines(tmp_path / "scores.jsonl")]
    assert steps == sorted(steps)  # one run's curve, not two interleaved


def test_rerunning_a_finished_command_does_nothing(tmp_path, capsys):
    args = ["train", "--obs", "proprio", "--task", "dummy_cont", "--preset", "debug", "--steps", "60",
            "--logdir", str(tmp_path), "--set", "run.log_every=0"]
    assert main(args) == 0
    stamp, rows = (tmp_path / "latest.ckpt").stat().st_mtime_ns, lines(tmp_path / "metrics.jsonl")
    capsys.readouterr()
    assert main(args) == 0
    assert "nothing to do" in capsys.readouterr().out
    assert (tmp_path / "latest.ckpt").stat().st_mtime_ns == stamp and lines(tmp_path / "metrics.jsonl") == rows


def test_resume_trains_with_the_new_optimizer_settings(tmp_path):
    config = make_config("dummy_cont", "proprio", "debug", {"run": {"steps": 10_000}})
    first = trained(config, tmp_path)
    first.save()
    first.close()
    changed = make_config("dummy_cont", "proprio", "debug", {"run": {"steps": 10_000, "online_queue": False},
                                                             "train": {"lr": 1e-5, "agc": 0.5}})
    resumed = Trainer(changed, tmp_path)
    group = resumed.agent.optimizer.param_groups[0]
    assert resumed.resumed_from and group["lr"] == 1e-5 and group["agc"] == 0.5
    assert resumed.replay.online is False
    assert json.loads((tmp_path / "config.json").read_text())["train"]["lr"] == 1e-5
    resumed.close()


def test_resume_with_another_replay_layout_names_the_field(tmp_path):
    config = make_config("dummy_cont", "proprio", "debug")
    first = trained(config, tmp_path, steps=10)
    first.save()
    first.close()
    with pytest.raises(CheckpointError, match=r"run\.envs: checkpoint 1 vs this run 2"):
        Trainer(make_config("dummy_cont", "proprio", "debug", {"run": {"envs": 2}}), tmp_path)
    Trainer(config, tmp_path).close()  # a refused load leaves the directory free


def test_a_refused_start_leaves_the_run_directory_as_it_was(tmp_path):
    """Each way Trainer() refuses a run directory (a checkpoint of another task, of another replay layout, a
    corrupt one, a model directory) changes nothing there, byte for byte: the watch snapshot, config.json, the log
    rows past the checkpoint, the TensorBoard events, a killed save's temp file and the lock file's text."""
    run_overrides = {"steps": 10_000, "log_every": 0.0, "tensorboard": True}
    config = make_config("dummy_cont", "proprio", "debug", {"run": run_overrides})
    run = tmp_path / "run"
    live = trained(config, run, steps=40)
    live.save()
    for _ in range(20):  # rows past the checkpoint, which an accepted resume drops
        live.step()
    live.flush()
    live.save_watch()  # weights past the checkpoint, for watchers
    live.close()
    stale = run / ".latest.ckpt.k3j2h1.tmp"
    stale.write_bytes(b"x" * 100)  # a killed save's leftover, which an accepted start removes
    (run / LOCK_NAME).write_text("pid 4000000000\n")  # as the run's own (exited) process left it
    before = run_files(run)
    assert {CHECKPOINT_NAME, checkpoint.WATCH_NAME, LOCK_NAME, "config.json", "metrics.jsonl"} <= set(before)
    assert any("tfevents" in name for name in before)
    other_task = make_config("dummy_disc", "proprio", "debug", {"run": run_overrides})
    other_layout = make_config("dummy_cont", "proprio", "debug", {"run": {**run_overrides, "envs": 2}})
    for other, match in ((other_task, "different configuration"), (other_layout, r"run\.envs: checkpoint 1")):
        with pytest.raises(CheckpointError, match=match):
            Trainer(other, run)
        assert run_files(run) == before

    corrupt = shutil.copytree(run, tmp_path / "corrupt")
    ckpt = corrupt / CHECKPOINT_NAME
    ckpt.write_bytes(ckpt.read_bytes()[: ckpt.stat().st_size // 2])  # cut short, as a full disk might leave it
    corrupt_before = run_files(corrupt)
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        Trainer(config, corrupt)
    assert run_files(corrupt) == corrupt_before

    model = shutil.copytree(run, tmp_path / "model")
    shutil.copy(run / checkpoint.WATCH_NAME, model / models.MODEL_FILE)  # a model-only state, as a shipped model
    model_before = run_files(model)
    with pytest.raises(ValueError, match="read-only"):
        Trainer(config, model)
    assert run_files(model) == model_before

    resumed = Trainer(config, run)  # accepted: from now on the directory is this run's
    try:
        assert resumed.resumed_from == run / CHECKPOINT_NAME
        assert not (run / checkpoint.WATCH_NAME).exists() and not stale.exists()
        assert len(lines(run / "metrics.jsonl")) < before["metrics.jsonl"].count(b"\n")
        assert (run / LOCK_NAME).read_text() != "pid 4000000000\n"  # it names this process now
    finally:
        resumed.close()


def test_checkpoint_from_another_device_type_loads(tmp_path):
    """A CUDA run's generator state (16 bytes: seed and offset) does not fit a CPU generator; loading such a
    checkpoint on a CPU machine reseeds the generator instead of failing."""
    config = make_config("dummy_cont", "proprio", "debug")
    first = trained(config, tmp_path, steps=10)
    path = first.save()
    first.close()
    state = checkpoint.load(path)
    state["rng"]["gen"] = torch.zeros(16, dtype=torch.uint8)  # the size torch.cuda's Generator.get_state has
    checkpoint.save(path, state)
    resumed = Trainer(config, tmp_path)
    assert resumed.counters.agent_steps == 10
    resumed.step()
    resumed.close()


def test_resume_drops_a_partly_written_log_line(tmp_path):
    config = make_config("dummy_cont", "proprio", "debug", {"run": {"log_every": 0.0}})
    first = trained(config, tmp_path, steps=60)
    first.save()
    first.close()
    with open(tmp_path / "metrics.jsonl", "a") as f:
        f.write('{"step": 12, "train/loss')  # a write cut short by a full disk
    resumed = Trainer(config, tmp_path)
    resumed.step()
    resumed.flush()
    rows = [json.loads(x) for x in lines(tmp_path / "metrics.jsonl")]  # every line parses
    assert rows[-1]["agent_steps"] == 61
    resumed.close()


def test_sigterm_saves_and_prints_the_resume_command(tmp_path):
    logdir = tmp_path / "run"
    cmd = [sys.executable, "-m", "dreamer_studio", "train", "--obs", "proprio", "--task", "dummy_cont", "--preset",
           "debug", "--steps", "1000000", "--logdir", str(logdir)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    try:
        for line in proc.stdout:
            if line.startswith("frames"):  # training is under way
                break
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 143, out  # 128 + SIGTERM, not Ctrl-C's 130
    assert "SIGTERM: saving a checkpoint" in out and f"--logdir {logdir}" in out
    assert checkpoint.load(logdir / "latest.ckpt")["counters"]["agent_steps"] > 0


@pytest.mark.parametrize("item, value", [
    ("env.log_image=False", False), ("run.online_queue=no", False), ("env.shadows=1", True),
    ("run.steps=1_000", 1000), ("run.steps=1e5", 100_000), ("env.size=64.0", 64), ("train.lr=3", 3.0),
    ("run.steps=100000.0", 100_000), ("run.steps=+7", 7),
])
def test_set_values_are_coerced_to_the_field_type(item, value):
    section, rest = item.split(".", 1)
    name = rest.split("=")[0]
    got = getattr(getattr(make_config("dummy_cont", "proprio", "debug", parse_overrides([item])), section), name)
    assert got == value and type(got) is type(value)


@pytest.mark.parametrize("item, message", [
    ("train.lr=1e-4x", "train.lr must be a number"), ("env.log_image=maybe", "env.log_image must be true or false"),
    ("run.steps=12.5", "run.steps must be a whole number"),
    ("run.steps=1e5x", "run.steps must be a whole number"), ("run.device=gpu", "run.device must be auto"),
    ("run.envs=0", "run.envs must be at least 1"), ("train.batch_size=0", "train.batch_size must be at least 1"),
    ("train.imag_horizon=1", "train.imag_horizon must be at least 2"), ("env.task=5", "env.task must be a string"),
])
def test_bad_set_values_name_the_field(item, message, capsys):
    with pytest.raises(ValueError, match=message):
        make_config("dummy_cont", "proprio", "debug", parse_overrides([item]))
    assert main(["train", "--headless", "--task", "dummy_cont", "--preset", "debug", "--set", item]) == 2
    err = capsys.readouterr().err
    assert message.split(" must")[0] in err and "Traceback" not in err


def test_imagination_shorter_than_two_steps_is_refused():
    from dreamer_core.report import imagine_from

    trainer = Trainer(make_config("dummy_cont", "proprio", "debug"))
    start = trainer.agent.rssm.initial(1)
    with pytest.raises(ValueError, match="horizon of at least 2"):
        imagine_from(trainer.agent, start, horizon=1)
    assert imagine_from(trainer.agent, start, horizon=2).rewards.shape[1] == 2
    trainer.close()


def test_gymnasium_errors_are_one_clear_line(tmp_path, capsys):
    args = ["train", "--obs", "proprio", "--preset", "debug", "--logdir", str(tmp_path)]
    assert main(args + ["--task", "gym_Pendulum-v0"]) == 2  # a deprecated version
    err = capsys.readouterr().err
    assert "gymnasium cannot make 'gym_Pendulum-v0'" in err and "v1" in err and "Traceback" not in err
    register_blind_env()
    assert main(args + ["--task", "gym_BlindTest-v0"]) == 2  # a proprio run still renders a display frame
    err = capsys.readouterr().err
    assert "renders no frames" in err and "env.log_image=false" in err and "Traceback" not in err
    assert main(args + ["--task", "gym_BlindTest-v0", "--steps", "5", "--set", "env.log_image=false"]) == 0


def register_blind_env() -> None:
    """A real gymnasium env whose renderer draws nothing (render() returns None), as broken third-party ones do."""
    import gymnasium
    import numpy as np

    class Blind(gymnasium.Env):
        metadata = {"render_modes": ["rgb_array"], "render_fps": 30}
        observation_space = gymnasium.spaces.Box(-1.0, 1.0, (3,), np.float32)
        action_space = gymnasium.spaces.Discrete(2)

        def __init__(self, render_mode=None):
            self.render_mode = render_mode

        def reset(self, seed=None, options=None):
            super().reset(seed=seed)
            return np.zeros(3, np.float32), {}

        def step(self, action):
            return np.zeros(3, np.float32), 0.0, False, False, {}

        def render(self):
            return None

    if "BlindTest-v0" not in gymnasium.registry:
        gymnasium.register(id="BlindTest-v0", entry_point=Blind, max_episode_steps=20)


def test_a_watched_run_adopts_a_directory_of_its_own(tmp_path):
    """Studio's 'train on' for a watched run: the trainer takes a new run directory, with its lock."""
    config = make_config("dummy_cont", "proprio", "debug")
    source = trained(config, tmp_path / "watched", steps=10)
    source.save()
    source.close()
    (tmp_path / "watched" / LOCK_NAME).write_text("pid 4000000000\n")  # as the watched run's process left it
    before = run_files(tmp_path / "watched")
    copy = Trainer(config)
    copy.load(tmp_path / "watched" / "latest.ckpt")
    with pytest.raises(ValueError, match="already holds a run"):
        copy.adopt_logdir(tmp_path / "watched")
    assert run_files(tmp_path / "watched") == before  # refused: the watched run's lock file says what it said
    copy.adopt_logdir(tmp_path / "copy")
    with pytest.raises(ValueError, match="in use"):
        Trainer(config, tmp_path / "copy")
    copy.step()
    assert copy.save() == tmp_path / "copy" / "latest.ckpt" and (tmp_path / "copy" / "config.json").exists()
    copy.close()


def failing_saves(monkeypatch, fail: set[int]) -> list[int]:
    """Makes the listed calls (1-based) of Trainer.save raise "No space left on device"; returns the call log."""
    real_save, calls = Trainer.save, []

    def save(self, path=None):
        calls.append(self.counters.env_frames)
        if len(calls) in fail:
            raise OSError(28, "No space left on device")
        return real_save(self, path)

    monkeypatch.setattr(Trainer, "save", save)
    return calls


def headless(logdir: Path, *extra: str) -> list[str]:
    return ["train", "--obs", "proprio", "--task", "dummy_cont", "--preset", "debug", "--steps", "40",
            "--logdir", str(logdir), *extra]


def test_a_failed_periodic_save_trains_on_and_retries_later(tmp_path, capsys, monkeypatch):
    calls = failing_saves(monkeypatch, fail={1})
    assert main(headless(tmp_path, "--set", "run.save_every=0")) == 0  # a save is due at every step
    out = capsys.readouterr().out
    # One failure, then no retry for 60 s rather than at every step; the final save writes the whole run.
    assert out.count("could not save a checkpoint (") == 1 and "No space left on device" in out
    assert "training on and retrying in 60 s (no earlier checkpoint of this run exists)" in out
    assert len(calls) == 2 and "done: 40 env frames" in out
    assert checkpoint.load(tmp_path / "latest.ckpt")["counters"]["env_frames"] == 40


def test_a_failed_final_save_names_the_checkpoint_that_is_kept(tmp_path, capsys, monkeypatch):
    calls = failing_saves(monkeypatch, fail={2, 3})
    assert main(headless(tmp_path, "--set", "run.save_every=0")) == 1
    captured = capsys.readouterr()
    kept = calls[0]  # the first periodic save went through
    assert checkpoint.load(tmp_path / "latest.ckpt")["counters"]["env_frames"] == kept
    assert "could not save the checkpoint at 40 env frames ([Errno 28] No space left on device)" in captured.err
    assert f"the previous checkpoint, at {kept:,} env frames, is intact; resume from it with: dreamer-studio train" \
        in captured.err
    assert "Traceback" not in captured.err and "done:" not in captured.out
    monkeypatch.undo()  # space freed: the printed command resumes from the kept checkpoint (the lock was released)
    assert main(headless(tmp_path, "--set", "run.save_every=0")) == 0
    assert f"resumed from {tmp_path / 'latest.ckpt'} at {kept:,} env frames" in capsys.readouterr().out


def test_at_a_terminal_a_failed_final_save_can_be_retried(tmp_path, capsys, monkeypatch):
    calls = failing_saves(monkeypatch, fail={1})
    prompts = []
    monkeypatch.setattr("sys.stdin", type("Tty", (), {"isatty": staticmethod(lambda: True)})())
    monkeypatch.setattr("builtins.input", lambda prompt: prompts.append(prompt) or "")
    assert main(headless(tmp_path)) == 0  # save_every 900 s: the only saves are the final one and its retry
    assert len(calls) == 2 and prompts and "Free disk space, then press Enter" in prompts[0]
    assert "no earlier checkpoint of this run exists" in capsys.readouterr().err
    assert checkpoint.load(tmp_path / "latest.ckpt")["counters"]["env_frames"] == 40
