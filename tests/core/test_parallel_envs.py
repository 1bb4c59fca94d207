"""Envs in worker processes (run.parallel, issue 17 §1): the same steps as in process, errors re-raised with their
type, crashed and killed workers rebuilt, resumes through the workers, and no child process left after close."""

import dataclasses
import gc
import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from dreamer_core.config import make_config, validate
from dreamer_core.envs import make_env
from dreamer_core.envs.parallel import EnvWorker, EnvWorkerDied
from dreamer_core.trainer import Trainer

FAST = {"train_fill": 64, "log_every": 0.0, "steps": 100_000, "envs": 2, "threads": 1}


def config(task="dummy_cont", obs="proprio", **run):
    return make_config(task, obs, "debug", {"run": {**FAST, **run}, "env": {"log_image": False}})


def children() -> set[int]:
    """Live child processes of this process (zombies included: a child not yet reaped is a leak too)."""
    pids: set[int] = set()
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        text = (task / "children").read_text().split()
        pids.update(int(p) for p in text)
    return pids


def alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "State:\tZ" not in status


@pytest.mark.parametrize("task, obs", [("dummy_disc", "vision"), ("dummy_cont", "proprio"),
                                       ("dmc_cartpole_balance", "proprio")])
def test_parallel_envs_step_exactly_as_in_process(tmp_path, task, obs):
    runs = {}
    for parallel in (False, True):
        trainer = Trainer(config(task, obs, parallel=parallel, train_ratio=16.0), None)
        assert all(isinstance(e, EnvWorker) == parallel for e in trainer.envs)
        seen = []
        for _ in range(100):
            trainer.step()
            seen.append({k: v.copy() for k, v in trainer.obs.items()})
        runs[parallel] = trainer, seen
    (a, seen_a), (b, seen_b) = runs[False], runs[True]
    assert a.updates == b.updates > 0
    for x, y in zip(seen_a, seen_b):
        assert x.keys() == y.keys() and all(np.array_equal(x[k], y[k]) for k in x)
    assert any(s["reward"].any() for s in seen_a)  # rewards compared are not all zero
    flags = {"reward", "is_first", "is_last", "is_terminal"}
    assert any(not np.array_equal(s[k][0], s[k][1]) for s in seen_a for k in s.keys() - flags)  # 2 seeds differ
    assert a.replay.steps == b.replay.steps == 200
    assert all(np.array_equal(a.replay.data[k], b.replay.data[k]) for k in a.replay.data)
    wa, wb = a.agent.state_dict(), b.agent.state_dict()
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    a.close()
    b.close()


def test_a_worker_env_error_is_reraised_with_its_type_and_message(monkeypatch):
    monkeypatch.setenv("DREAMER_DUMMY_FAULT", "ValueError:3")
    env = make_env(config().env, 0, parallel=True)
    try:
        env.step(None, reset=True)
        env.step(np.zeros(2, np.float32), reset=False)
        env.step(np.zeros(2, np.float32), reset=False)
        with pytest.raises(ValueError) as raised:
            env.step(np.zeros(2, np.float32), reset=False)
        assert type(raised.value) is ValueError
        assert str(raised.value) == "injected fault (DREAMER_DUMMY_FAULT) at step 3 of this env"
        assert f"raised in env worker process {env.pid}" in raised.value.__notes__[0]  # the worker's traceback
        with pytest.raises(ValueError, match="action has shape"):  # the base contract's misuse errors too
            env.step(np.zeros(5, np.float32), reset=False)
        assert env.step(np.zeros(2, np.float32), reset=False)["vector"].shape == (4,)  # the worker lives on
    finally:
        env.close()
    with pytest.raises(ValueError, match="unknown observation mode"):
        make_env(dataclasses.replace(config().env, obs="lidar"), 0, parallel=True)


def test_a_worker_env_that_raises_is_rebuilt_in_a_new_worker_and_training_goes_on(monkeypatch):
    monkeypatch.setenv("DREAMER_DUMMY_FAULT", "RuntimeError:30")  # every env instance fails on its 30th step
    trainer = Trainer(config(parallel=True), None)
    pids = [e.pid for e in trainer.envs]
    for _ in range(70):
        trainer.step()
    notes = trainer.take_notes()
    assert trainer.counters.env_restarts == 4  # 2 envs, each failing at its 30th and 60th step
    assert notes and all("RuntimeError: injected fault" in n and "rebuilt" in n for n in notes), notes
    assert all(isinstance(e, EnvWorker) for e in trainer.envs)
    assert not set(pids) & {e.pid for e in trainer.envs} and not any(alive(p) for p in pids)
    assert all(trainer.replay.counts[i] == 70 for i in range(2)) and trainer.updates > 0
    assert int(trainer.replay.data["is_last"].sum()) == 4  # each broken episode ended in replay
    trainer.close()


def test_a_killed_worker_is_detected_and_rebuilt():
    trainer = Trainer(config(parallel=True), None)
    for _ in range(10):
        trainer.step()
    victim = trainer.envs[1].pid
    os.kill(victim, signal.SIGKILL)
    time.sleep(0.2)
    trainer.step()
    assert trainer.counters.env_restarts == 1
    notes = trainer.take_notes()
    assert len(notes) == 1 and "EnvWorkerDied" in notes[0] and "killed by signal 9" in notes[0], notes
    assert trainer.envs[1].pid != victim and trainer.envs[0].pid != victim and not alive(victim)
    for _ in range(20):
        trainer.step()
    assert trainer.counters.env_restarts == 1 and trainer.replay.counts[1] == 31
    trainer.close()


def test_a_dead_worker_raises_env_worker_died_on_every_call():
    env = make_env(config().env, 0, parallel=True)
    env.step(None, reset=True)
    os.kill(env.pid, signal.SIGKILL)
    with pytest.raises(EnvWorkerDied, match=rf"process {env.pid} .* died \(killed by signal 9\)"):
        env.step(np.zeros(2, np.float32), reset=False)
    with pytest.raises(EnvWorkerDied):
        env.get_state()
    env.close()
    assert not alive(env.pid)


def test_close_leaves_no_child_process():
    before = children()
    trainer = Trainer(config("dmc_cartpole_balance", parallel=True, envs=3), None)
    pids = {e.pid for e in trainer.envs}
    assert len(pids) == 3 and pids <= children() - before
    for _ in range(5):
        trainer.step()
    trainer.close()
    assert children() - before == set() and not any(alive(p) for p in pids)


def test_a_worker_never_closed_ends_with_its_proxy():
    env = make_env(config().env, 0, parallel=True)
    pid = env.pid
    assert alive(pid)
    del env
    gc.collect()
    assert not alive(pid) and pid not in children()


def test_a_parallel_run_resumes_through_its_workers_exactly(tmp_path):
    cfg = config("dmc_cartpole_balance", parallel=True, train_ratio=16.0)
    a = Trainer(dataclasses.replace(cfg, run=dataclasses.replace(cfg.run, parallel=False)), tmp_path / "a")
    for _ in range(150):
        a.step()
    b = Trainer(cfg, tmp_path / "b")
    for _ in range(70):  # mid-episode (500-step dm_control episodes): restored through get_state / set_state
        b.step()
    b.save()
    b.close()
    b = Trainer(cfg, tmp_path / "b")
    assert b.resumed_from is not None and all(isinstance(e, EnvWorker) for e in b.envs)
    for _ in range(80):
        b.step()
    assert a.updates == b.updates > 0
    assert all(np.array_equal(a.replay.data[k], b.replay.data[k]) for k in a.replay.data)
    a.close()
    b.close()


def test_run_parallel_defaults_off_and_is_checked():
    cfg = config()
    assert make_config("dummy_cont", "proprio", "debug", {}).run.parallel is False
    validate(dataclasses.replace(cfg, run=dataclasses.replace(cfg.run, parallel=True)))
    for bad in ("yes", 1, None):  # validate's field check: a bool and nothing else
        with pytest.raises(ValueError, match="run.parallel must be a bool"):
            validate(dataclasses.replace(cfg, run=dataclasses.replace(cfg.run, parallel=bad)))
