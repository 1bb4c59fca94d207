"""Faults a run survives, or stops on with its work saved (issue 18): env crashes, a full disk, torn and NaN log
lines, orphaned temp files, signals mid-update, resumes that continue bit for bit, non-finite updates that leave
every piece of state alone, gym envs that draw no frames and MuJoCo's log file."""

import copy
import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from dreamer_core import checkpoint, faults
from dreamer_core.config import make_config
from dreamer_core.trainer import Trainer
from dreamer_studio.cli import main

ROOT = Path(__file__).parents[2]
FAST = {"train_fill": 64, "log_every": 0.0, "steps": 100_000}


def config(task="dummy_cont", obs="proprio", **run):
    return make_config(task, obs, "debug", {"run": {**FAST, **run}, "env": {"log_image": False}})


def strict_rows(path: Path) -> list[dict]:
    """Every line parses as strict JSON (no bare NaN tokens)."""
    def refuse(token):
        raise AssertionError(f"{path.name} holds a bare {token} token")
    return [json.loads(line, parse_constant=refuse) for line in path.read_text().splitlines()]


# -- env crashes ---------------------------------------------------------------------------------------------
def test_an_env_that_raises_is_rebuilt_its_episode_ended_and_training_goes_on(tmp_path, monkeypatch):
    monkeypatch.setenv("DREAMER_DUMMY_FAULT", "RuntimeError:30")  # every env instance fails on its 30th step
    trainer = Trainer(config(), tmp_path)  # 4 failures: under the default 5 per 1,000 steps
    for _ in range(130):
        trainer.step()
    notes = trainer.take_notes()
    assert len(notes) == 4 and all("RuntimeError: injected fault" in n and "rebuilt" in n for n in notes), notes
    assert trainer.counters.env_restarts == 4
    replay = trainer.replay
    assert replay.counts[0] == 130  # every step stored once: the crashed step is not stored twice
    last, first = replay.data["is_last"][:130], replay.data["is_first"][:130]
    ends = np.flatnonzero(last)  # the broken episodes end in replay, each followed by a new episode
    assert len(ends) == 4 and all(first[e + 1] for e in ends) and not replay.data["is_terminal"][:130].any()
    assert trainer.updates > 0 and trainer.counters.episodes == 0  # a broken episode is not a score
    trainer.flush()
    assert strict_rows(tmp_path / "metrics.jsonl")[-1]["env/restarts"] == 4
    trainer.close()


def test_a_dm_control_physics_error_rebuilds_the_env(tmp_path):
    trainer = Trainer(config("dmc_cartpole_balance"), tmp_path)
    for _ in range(5):
        trainer.step()
    broken = trainer.envs[0]
    broken._env.physics.data.qvel[:] = 1e30  # real MuJoCo instability: dm_control raises PhysicsError
    trainer.step()
    notes = trainer.take_notes()
    assert len(notes) == 1 and "PhysicsError" in notes[0], notes
    assert trainer.envs[0] is not broken and trainer.obs["is_first"][0]
    assert trainer.replay.data["is_last"][5] and trainer.replay.counts[0] == 6
    for _ in range(3):
        trainer.step()  # the rebuilt env steps on
    assert trainer.take_notes() == [] and trainer.counters.env_restarts == 1
    trainer.close()


def test_too_many_env_failures_stop_the_cli_after_a_save_naming_the_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DREAMER_DUMMY_FAULT", "ValueError:10")
    args = ["train", "--obs", "proprio", "--task", "dummy_cont", "--preset", "debug", "--steps", "400",
            "--logdir", str(tmp_path), "--set", "run.train_fill=32"]
    assert main(args) == 1  # not 2: a ValueError from the env is no bad argument
    out, err = capsys.readouterr()
    assert "failed 5 times within 1,000 agent steps" in err and "ValueError: injected fault" in err, err
    assert "Traceback" not in out + err and out.count("warning: the env raised") == 5
    assert "saved" in out and "to resume, run:" in out
    saved = checkpoint.load(tmp_path / "latest.ckpt")
    assert saved["counters"]["env_restarts"] == 5 and saved["counters"]["agent_steps"] >= 45


# -- a full disk and what log readers tolerate ------------------------------------------------------------------
class FullDisk:
    """Writes to *.jsonl files put half the data on disk, then fail as a full disk does."""

    def __init__(self, monkeypatch):
        self.on, real_open = True, open

        def fake_open(path, mode="r", *args, **kwargs):
            f = real_open(path, mode, *args, **kwargs)
            return Torn(f, self) if str(path).endswith(".jsonl") and "a" in mode else f
        monkeypatch.setattr("builtins.open", fake_open)


class Torn:
    def __init__(self, f, disk):
        self._f, self._disk = f, disk

    def write(self, data):
        if not self._disk.on:
            return self._f.write(data)
        self._f.write(data[: len(data) // 2])
        self._f.flush()
        raise OSError(errno.ENOSPC, "No space left on device")

    def __getattr__(self, name):
        return getattr(self._f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._f.close()


def test_a_full_disk_neither_stops_training_nor_tears_a_log_line(tmp_path, monkeypatch):
    monkeypatch.setattr(faults, "RETRY_EVERY", 0.0)  # retry with every row rather than a minute later
    trainer = Trainer(config(), tmp_path)
    for _ in range(20):
        trainer.step()
    disk = FullDisk(monkeypatch)
    for _ in range(50):
        trainer.step()  # metrics.jsonl and scores.jsonl (the first episode ends) cannot be written
    notes = trainer.take_notes()
    assert sorted(n.split(" (")[0] for n in notes) == ["could not write metrics.jsonl",
                                                       "could not write scores.jsonl"]  # each said once
    assert "No space left on device" in notes[0] and "training goes on" in notes[0]
    assert [r["agent_steps"] for r in strict_rows(tmp_path / "metrics.jsonl")] == list(range(1, 21))  # not torn
    disk.on = False  # space freed: the kept rows are written, in order, with the next one
    trainer.step()
    assert [r["agent_steps"] for r in strict_rows(tmp_path / "metrics.jsonl")] == list(range(1, 72))
    assert [r["step"] for r in strict_rows(tmp_path / "scores.jsonl")] == [40]
    assert trainer.take_notes() == ["writing metrics.jsonl again; the rows kept meanwhile are in it",
                                    "writing scores.jsonl again; the rows kept meanwhile are in it"]
    trainer.close()


def test_an_export_onto_a_full_disk_is_one_line_and_leaves_nothing(tmp_path, monkeypatch, capsys):
    from dreamer_core import video

    trainer = Trainer(make_config("dummy_disc", "vision", "debug", {"run": FAST}), tmp_path / "run")
    for _ in range(50):
        trainer.step()
    trainer.save()
    trainer.close()

    def full_disk(path, frames, fps):
        Path(path).write_bytes(b"GIF89a" + b"\0" * 100)  # part of the file, then the disk is full
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(video, "_write_gif", full_disk)
    out = tmp_path / "videos" / "rollout.gif"
    out.parent.mkdir()
    assert main(["export", "--logdir", str(tmp_path / "run"), "--out", str(out), "--samples", "1"]) == 2
    err = capsys.readouterr().err
    assert "No space left on device" in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert list(out.parent.iterdir()) == []  # neither a partial video nor its temp file


def test_readers_and_writers_tolerate_a_torn_last_line_of_an_older_version(tmp_path):
    from dreamer_core.logdir import row_step
    from dreamer_studio.rundir import MetricsTail

    rows = [{"step": 2, "episode/score": 1.5, "episode/length": 40}, {"step": 4, "episode/score": float("nan")}]
    text = "".join(json.dumps(r) + "\n" for r in rows) + '{"step": 6, "episode/sc'  # old: NaN token, torn line
    (tmp_path / "scores.jsonl").write_text(text)
    (tmp_path / "metrics.jsonl").write_text(text)
    assert [row_step(line) for line in text.splitlines()] == [2.0, 4.0, None]
    assert [r["step"] for r in MetricsTail(tmp_path).read_new()] == [2, 4]
    out = subprocess.run([sys.executable, "scripts/plot_curve.py", str(tmp_path),
                          str(tmp_path / "curve")], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    # A run without a checkpoint yet (killed before its first save) appends to the old file: its rows stay whole.
    trainer = Trainer(config(), tmp_path)
    trainer.step()
    trainer.flush()
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert lines[2] == '{"step": 6, "episode/sc' and json.loads(lines[-1])["agent_steps"] == 1
    trainer.close()


def test_metrics_hold_null_where_a_value_is_not_finite(tmp_path, monkeypatch):
    monkeypatch.setenv("DREAMER_DUMMY_FAULT", "nan:70")  # NaN observations and rewards from step 70 on
    trainer = Trainer(config(), tmp_path)  # ~50 skipped updates: under the default limit of 100 in a row
    for _ in range(120):
        trainer.step()
    trainer.flush()
    rows = strict_rows(tmp_path / "metrics.jsonl")
    assert any(r.get("train/loss_total", 0.0) is None for r in rows)
    trainer.close()


# -- orphaned temp files ---------------------------------------------------------------------------------------
def test_taking_the_lock_removes_temp_files_a_killed_save_left(tmp_path):
    stale = [tmp_path / ".latest.ckpt.k3j2h1.tmp", tmp_path / ".copy.ckpt.a1b2.tmp", tmp_path / "metrics.jsonl.tmp"]
    kept = [tmp_path / "notes.tmp", tmp_path / "latest.ckpt.bak"]
    for path in stale + kept:
        path.write_bytes(b"x" * 100)
    Trainer(config(), tmp_path).close()
    assert [p.exists() for p in stale] == [False] * 3 and all(p.exists() for p in kept)


# -- signals ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_mid_update_saves_a_consistent_state(tmp_path, sig, code):
    """Ten updates per step, so a signal nearly always lands inside one; the saved updates must match the credit
    the saved steps earned (before: one short), and SIGTERM must not pose as Ctrl-C."""
    logdir = tmp_path / "run"
    cmd = [sys.executable, "-m", "dreamer_studio", "train", "--obs", "proprio", "--task", "dummy_cont", "--preset",
           "debug", "--steps", "1000000", "--logdir", str(logdir), "--set", "run.train_ratio=640",
           "run.train_fill=64", "run.log_every=0", "run.threads=1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not _has_trained(logdir / "metrics.jsonl"):
            time.sleep(0.1)  # a subprocess, not Qt: poll its log until it trains
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == code, out
    assert "Traceback" not in out and "to resume, run:" in out
    state = checkpoint.load(logdir / "latest.ckpt")
    c, agent = state["counters"], state["agent"]
    earned = (c["agent_steps"] - 64 + 1) * 640 / 64  # steps 64.. each earn 10 updates
    assert agent["updates"] + agent["skipped"] + c["train_credit"] == pytest.approx(earned), out


def _has_trained(path: Path) -> bool:
    try:
        return any(json.loads(line).get("updates", 0) > 20 for line in path.read_text().splitlines()[-3:])
    except (OSError, ValueError):
        return False


# -- resume determinism ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("task, obs", [("dummy_disc", "vision"), ("dmc_cartpole_balance", "proprio")])
def test_a_resumed_run_is_identical_to_an_uninterrupted_one(tmp_path, task, obs):
    cfg = config(task, obs, train_ratio=16.0)  # a quarter update per step: a few dozen updates, seconds not minutes
    a = Trainer(cfg, tmp_path / "a")
    for _ in range(230):  # an episode is in flight at 110 (40-step dummy episodes; 500-step dm_control ones)
        a.step()
    b = Trainer(cfg, tmp_path / "b")
    for _ in range(110):
        b.step()
    b.save()
    b.close()
    b = Trainer(cfg, tmp_path / "b")
    assert b.resumed_from is not None
    for _ in range(120):
        b.step()
    assert a.updates == b.updates > 0
    wa, wb = a.agent.state_dict(), b.agent.state_dict()
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert all(np.array_equal(a.replay.data[k], b.replay.data[k]) for k in a.replay.data)
    a.close()
    b.close()


def test_a_checkpoint_without_the_episode_in_flight_still_resumes(tmp_path):
    first = Trainer(config(), tmp_path)
    for _ in range(70):
        first.step()
    first.save()
    first.close()
    state = checkpoint.load(tmp_path / "latest.ckpt")
    del state["episode"]  # as written before the episode was saved
    del state["counters"]["env_restarts"]
    checkpoint.save(tmp_path / "latest.ckpt", state)
    resumed = Trainer(config(), tmp_path)
    assert resumed.counters.agent_steps == 70 and resumed.obs["is_first"].all()  # the envs start over
    resumed.step()
    assert resumed.counters.agent_steps == 71
    resumed.close()


# -- non-finite updates ----------------------------------------------------------------------------------------
def test_a_skipped_update_leaves_every_piece_of_state_untouched(tmp_path):
    trainer = Trainer(config(), None)
    for _ in range(80):
        trainer.step()
    trainer.replay.data["vector"][:] = np.nan  # every batch is non-finite
    agent = trainer.agent
    before = (copy.deepcopy(agent.state_dict()), copy.deepcopy(agent.optimizer.state_dict()),
              agent.retnorm.state_dict(), agent.updates,
              {k: trainer.replay.data[k].copy() for k in ("deter", "stoch")})
    metrics = trainer.train_once()
    assert metrics["finite"] == 0.0 and agent.skipped_updates == 1
    weights, optim, retnorm, updates, latents = before
    assert all(torch.equal(weights[k], v) for k, v in agent.state_dict().items())  # slow critic included
    after = agent.optimizer.state_dict()["state"]
    assert optim["state"].keys() == after.keys()
    for p, values in optim["state"].items():
        assert all(torch.equal(v, after[p][k]) if torch.is_tensor(v) else v == after[p][k] for k, v in values.items())
    assert agent.retnorm.state_dict() == retnorm and agent.updates == updates
    assert all(np.array_equal(latents[k], trainer.replay.data[k]) for k in latents)  # no NaN written back
    assert agent.nonfinite.startswith("the loss loss/rec/vector")
    trainer.close()


def test_skipped_updates_show_and_a_long_streak_stops_the_cli_with_a_save(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DREAMER_DUMMY_FAULT", "nan:80")
    base = ["train", "--obs", "proprio", "--task", "dummy_cont", "--preset", "debug"]
    limit = ["--set", "run.train_fill=64", "run.nonfinite_limit"]
    assert main(base + ["--steps", "240", "--logdir", str(tmp_path / "a"), *limit[:-1], limit[-1] + "=0"]) == 0
    out = capsys.readouterr().out
    progress = [line for line in out.splitlines() if line.startswith("frames")][-1]
    assert "skipped (non-finite)" in progress, out
    assert "warning: an update was skipped" in out and "is non-finite" in out
    assert main(base + ["--steps", "2000", "--logdir", str(tmp_path / "b"), *limit[:-1], limit[-1] + "=5"]) == 1
    out, err = capsys.readouterr()
    assert "5 updates in a row were non-finite" in err and "the first, at" in err and "loss/" in err, err
    assert "saved" in out
    assert checkpoint.load(tmp_path / "b" / "latest.ckpt")["agent"]["skipped"] >= 5


# -- gym envs without frames, MuJoCo's log file ------------------------------------------------------------------
def _register_no_render_env():
    import gymnasium

    class NoFrames(gymnasium.Env):
        metadata = {"render_modes": []}
        observation_space = gymnasium.spaces.Box(-1.0, 1.0, (3,), np.float32)
        action_space = gymnasium.spaces.Discrete(2)

        def __init__(self, render_mode=None):
            assert render_mode is None or render_mode in self.metadata["render_modes"]

        def reset(self, seed=None, options=None):
            super().reset(seed=seed)
            return np.zeros(3, np.float32), {}

        def step(self, action):
            return np.zeros(3, np.float32), 1.0, False, False, {}

    if "NoFrames-v0" not in gymnasium.registry:
        gymnasium.register("NoFrames-v0", entry_point=NoFrames, max_episode_steps=30)


def test_a_gym_env_without_frames_trains_from_proprio_and_refuses_vision(tmp_path):
    _register_no_render_env()
    trainer = Trainer(make_config("gym_NoFrames-v0", "proprio", "debug", {"run": FAST}), tmp_path)  # log_image on
    assert "log/image" not in trainer.obs
    notes = trainer.take_notes()
    assert len(notes) == 1 and "renders no frames" in notes[0] and "without a display frame" in notes[0]
    for _ in range(70):
        trainer.step()
    assert trainer.updates > 0 and trainer.take_notes() == []  # said once
    trainer.close()
    with pytest.raises(ValueError, match=r"gym_NoFrames-v0 renders no frames .*use --obs proprio"):
        Trainer(make_config("gym_NoFrames-v0", "vision", "debug", {"run": FAST}), None)


def test_a_mujoco_warning_leaves_no_log_file_in_the_working_directory(tmp_path):
    script = (
        "from dreamer_core.config import make_config\n"
        "from dreamer_core.envs import make_env\n"
        "env = make_env(make_config('gym_InvertedPendulum-v5', 'proprio', 'debug', "
        "{'env': {'log_image': False}}).env, 0)\n"
        "env.step(None, reset=True)\n"
        "env._env.unwrapped.data.qvel[:] = 1e30  # MuJoCo warns: huge value in QVEL\n"
        "import numpy as np; env.step(np.zeros(env.act_space.shape), reset=False)\n")
    out = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr
    assert "QVEL" in out.stderr  # the warning still reaches the user
    assert list(tmp_path.iterdir()) == []
