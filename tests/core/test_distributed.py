"""Multi-process training on torch.distributed (issue #17 §2): real gloo process groups of 2 CPU ranks, spawned
as torchrun would start them (RANK, WORLD_SIZE, MASTER_ADDR/PORT in the environment), debug preset."""

from __future__ import annotations

import faulthandler
import json
import os
import shutil
import socket
import tempfile
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from run_files import run_files

from dreamer_core import checkpoint, distributed, models
from dreamer_core.agent import read_metrics
from dreamer_core.config import make_config
from dreamer_core.faults import RunStopped
from dreamer_core.logdir import CHECKPOINT_NAME
from dreamer_core.trainer import Trainer

WORLD = 2


def debug_config(**run):
    # One torch thread per rank, fixed: two ranks share this machine's cores, and "auto" re-times its count
    return make_config("dummy_cont", "proprio", "debug",
                       {"run": {"steps": 10_000, "log_every": 0.0, "threads": 1, **run}})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank_main(rank: int, port: int, logs, task, args) -> None:
    """One rank's process: torchrun's environment, one torch thread, the task, then leave the group. Its stderr
    goes to a file of its own (with faulthandler's traceback if it dies of a signal) for `spawn` to show."""
    err = open(logs / f"rank{rank}.err", "w", buffering=1)  # noqa: SIM115 - open for the process's lifetime
    os.dup2(err.fileno(), 2)
    faulthandler.enable(file=err, all_threads=True)
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(WORLD), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    torch.set_num_threads(1)
    try:
        task(rank, *args)
    except BaseException:
        distributed.leave(distributed.launched_world(), together=False)  # the other rank may never get here
        raise
    distributed.leave(distributed.launched_world())  # as the CLI does: a barrier, then the group destroyed


def spawn(task, *args) -> None:
    """Runs `task(rank, *args)` on WORLD ranks; a failing rank fails the test with every rank's stderr."""
    with tempfile.TemporaryDirectory() as tmp:
        logs = Path(tmp)
        try:
            mp.spawn(_rank_main, args=(free_port(), logs, task, args), nprocs=WORLD, join=True)
        except (mp.ProcessRaisedException, mp.ProcessExitedException) as exc:
            tails = [f"--- rank {r} stderr ---\n{(logs / f'rank{r}.err').read_text(errors='replace')[-4000:]}"
                     for r in range(WORLD) if (logs / f"rank{r}.err").exists()]
            raise AssertionError("\n".join([str(exc), *tails])) from exc


def step_until_updates(trainer: Trainer, updates: int, limit: int = 500) -> None:
    for _ in range(limit):
        if trainer.updates >= updates:
            return
        trainer.step()
    raise AssertionError(f"{trainer.updates} updates after {limit} steps")


# -- a 2-rank run that trains, saves, resumes and trains on: (a), (b) and (d) read it ------------------------------
def _train_save(rank: int, logdir, updates: int) -> None:
    trainer = Trainer(debug_config(watch_every=1e-6), logdir)
    try:
        initial = {k: v.clone() for k, v in trainer.agent.state_dict().items()}
        step_until_updates(trainer, updates)
        trainer.flush()
        trainer.save()
        torch.save({"counters": vars(trainer.counters), "updates": trainer.updates,
                    "replay_steps": trainer.replay.steps, "obs": trainer.obs["vector"],
                    "initial": initial, "final": trainer.agent.state_dict(), "seed": trainer.config.run.seed,
                    "replay_obs": torch.as_tensor(trainer.replay.state_dict()["data"]["vector"])},
                   logdir.parent / f"saved{rank}.pt")
    finally:
        trainer.close()


def _resume_and_step(rank: int, logdir) -> None:
    trainer = Trainer(debug_config(watch_every=1e-6), logdir)
    try:
        saved = torch.load(logdir.parent / f"saved{rank}.pt", weights_only=False)
        assert trainer.resumed_from == logdir / CHECKPOINT_NAME
        assert vars(trainer.counters) == saved["counters"]  # this rank's own counters, not rank 0's
        assert (trainer.updates, trainer.replay.steps) == (saved["updates"], saved["replay_steps"])
        assert (trainer.obs["vector"] == saved["obs"]).all()  # its own envs' episode in flight continues
        before = trainer.counters.agent_steps
        step_until_updates(trainer, saved["updates"] + 2)
        assert trainer.counters.agent_steps > before
        trainer.flush()
    finally:
        trainer.close()


@pytest.fixture(scope="module")
def two_rank_run(tmp_path_factory):
    """A run directory written by a 2-rank run that trained, saved, resumed and trained on."""
    logdir = tmp_path_factory.mktemp("ddp") / "run"
    spawn(_train_save, logdir, 3)
    spawn(_resume_and_step, logdir)
    return logdir


# -- (a) the ranks stay identical; (b) resume with the same world size, refuse another ------------------------------
def test_ranks_start_and_stay_identical_with_their_own_envs(two_rank_run):
    r0, r1 = (torch.load(two_rank_run.parent / f"saved{r}.pt", weights_only=False) for r in range(WORLD))
    for key in r0["final"]:
        assert torch.equal(r0["initial"][key], r1["initial"][key]), f"{key} differs at the start"
        assert torch.equal(r0["final"][key], r1["final"][key]), f"{key} differs after 3 updates"
    assert any(not torch.equal(r0["initial"][k], r0["final"][k]) for k in r0["final"])  # they did train
    assert (r0["seed"], r1["seed"]) == (0, 1)  # seed + rank * run.envs
    assert not torch.equal(r0["replay_obs"], r1["replay_obs"])  # each rank's replay shard holds its own envs' steps
    # The counters are the run's: both ranks' envs together
    assert r0["counters"]["agent_steps"] == r1["counters"]["agent_steps"] and r0["counters"]["agent_steps"] % 2 == 0


def test_a_two_rank_checkpoint_resumes_in_two_ranks_and_is_refused_in_one(two_rank_run, tmp_path):
    state = checkpoint.load(two_rank_run / CHECKPOINT_NAME)
    assert state["world_size"] == 2 and len(state["ranks"]) == 1  # rank 1's shard rides in rank 0's file
    assert sorted(p.name for p in two_rank_run.glob("*.ckpt")) == [CHECKPOINT_NAME, checkpoint.WATCH_NAME]
    copy = shutil.copytree(two_rank_run, tmp_path / "run")
    before = run_files(copy)
    with pytest.raises(checkpoint.CheckpointError) as refused:
        Trainer(debug_config(), copy)
    message = str(refused.value)
    assert "\n" not in message and "world size 2" in message and "one of 1" in message
    assert "--nproc_per_node=2" in message
    assert run_files(copy) == before  # the run it refused is as it was: its watch snapshot, logs and lock file


def test_an_older_checkpoint_without_a_world_size_still_resumes(tmp_path):
    trainer = Trainer(debug_config(), tmp_path)
    try:
        step_until_updates(trainer, 1)
        trainer.save()
    finally:
        trainer.close()
    state = checkpoint.load(tmp_path / CHECKPOINT_NAME)
    assert state.pop("world_size") == 1
    checkpoint.save(tmp_path / CHECKPOINT_NAME, state)  # as written before DDP
    resumed = Trainer(debug_config(), tmp_path)
    try:
        assert resumed.resumed_from is not None and resumed.updates == 1
    finally:
        resumed.close()


def _stop_on_rank1(rank: int, out) -> None:
    if rank == 1:  # only rank 1's env fails, and one failure stops a run
        os.environ["DREAMER_DUMMY_FAULT"] = "ValueError:20"
    trainer = Trainer(debug_config(env_failures=1))
    try:
        with pytest.raises(RunStopped) as stopped:
            for _ in range(200):
                trainer.step()
        torch.save({"steps": trainer.counters.agent_steps, "why": str(stopped.value)}, out / f"stop{rank}.pt")
    finally:
        trainer.close()


def test_a_rank_that_must_stop_stops_every_rank_at_the_same_step(tmp_path):
    spawn(_stop_on_rank1, tmp_path)
    r0, r1 = (torch.load(tmp_path / f"stop{r}.pt") for r in range(WORLD))
    assert r0["steps"] == r1["steps"] < 200 * WORLD
    assert "ValueError" in r1["why"] and "another rank" in r0["why"]


# -- (d) the Studio watches a DDP run directory like any other ----------------------------------------------------
def test_a_two_rank_run_directory_is_watched_like_any_other(two_rank_run):
    from dreamer_studio.rundir import RunWatch  # Qt-free: how the Studio's watcher reads a run directory

    watch = RunWatch(two_rank_run)
    rows = watch.read_rows()
    repeat = debug_config().env.action_repeat
    assert rows and all(r["step"] == r["agent_steps"] * repeat for r in rows)
    assert {r["agent_steps"] % 2 for r in rows} == {0}  # both ranks' env steps: the run's count
    steps = [r["step"] for r in rows]
    assert steps == sorted(steps)  # the resume continued the curve, no rows of the redone frames
    scores = [json.loads(line) for line in (two_rank_run / "scores.jsonl").read_text().splitlines()]
    assert scores and [s["step"] for s in scores] == sorted(s["step"] for s in scores)
    assert json.loads((two_rank_run / "config.json").read_text())["run"]["seed"] == 0  # rank 0's, the run's
    viewer = Trainer(debug_config())  # a single process, as the Studio's
    try:
        due = watch.due(force=True)
        assert due == [CHECKPOINT_NAME, checkpoint.WATCH_NAME]  # the resumed run's snapshot is the newer
        watch.load(viewer, CHECKPOINT_NAME)  # the checkpoint's weights and rank 0's replay shard
        assert viewer.replay.steps > 0 and viewer.report() is not None
        watch.load(viewer, checkpoint.WATCH_NAME)
        assert viewer.updates == models.read_model(two_rank_run / checkpoint.WATCH_NAME)["agent"]["updates"] > 3
    finally:
        viewer.close()


# -- (c) B per rank on 2 ranks is one update at 2B ------------------------------------------------------------
def _fixed_noise(value: float):
    """torch.rand / randn drawing `value` everywhere: the sampled latents and actions then depend on the data
    alone, not on how a batch is split over ranks (each rank's generator would draw other noise)."""

    def draw(*size, generator=None, device=None, dtype=None, **_):  # noqa: ARG001 - torch's signature
        shape = size[0] if len(size) == 1 and isinstance(size[0], (tuple, list, torch.Size)) else size
        return torch.full(tuple(shape), value, device=device, dtype=dtype or torch.float32)

    return draw


def _one_update(agent, batch, gen=None) -> dict:
    torch.rand, torch.randn = _fixed_noise(0.5), _fixed_noise(0.0)
    _, metrics = agent.train_step(agent.to_tensors(batch), gen)
    grads = {n: p.grad.clone() for n, p in agent.named_parameters() if p.grad is not None}
    return {"grads": grads, "metrics": read_metrics(metrics), "retnorm": agent.retnorm.state_dict()}


def _agent(start):
    from dreamer_core.agent import Agent

    agent = Agent(start["config"], start["obs_space"], start["act_space"])
    agent.load_state_dict(start["model"])
    return agent


def _half_update(rank: int, out) -> None:
    distributed.init(torch.device("cpu"))
    start = torch.load(out / "start.pt", weights_only=False)
    half = {k: v[rank * 4 : (rank + 1) * 4] for k, v in start["batch"].items()}  # B = 4 of the 2B = 8
    agent = _agent(start)
    result = _one_update(agent, half)
    if rank == 1:  # then a non-finite loss on rank 1 alone: both ranks must skip that update
        half["reward"] = half["reward"] * float("nan")
    before = {k: v.clone() for k, v in agent.state_dict().items()}
    poisoned = _one_update(agent, half)
    result["poisoned"] = {"finite": poisoned["metrics"]["finite"], "skipped": agent.skipped_updates,
                          "unchanged": all(torch.equal(v, agent.state_dict()[k]) for k, v in before.items())}
    torch.save(result, out / f"half{rank}.pt")


def test_two_ranks_at_batch_b_make_the_update_of_one_at_2b(tmp_path):
    config = debug_config()
    filler = Trainer(config)
    try:
        for _ in range(80):
            filler.step()  # replay only: no update before train_fill
        batch = filler.replay.sample(8)
        batch.pop("index")
        env = filler.envs[0]
        start = {"config": config, "obs_space": env.obs_space, "act_space": env.act_space,
                 "model": filler.agent.state_dict(), "batch": {k: v for k, v in batch.items() if "/" not in k}}
    finally:
        filler.close()
    torch.save(start, tmp_path / "start.pt")
    spawn(_half_update, tmp_path)
    rand, randn = torch.rand, torch.randn
    try:
        whole = _one_update(_agent(start), start["batch"])
    finally:
        torch.rand, torch.randn = rand, randn
    halves = [torch.load(tmp_path / f"half{r}.pt", weights_only=False) for r in range(WORLD)]
    for half in halves:  # every rank holds the averaged, clipped gradient of the whole batch
        assert half["grads"].keys() == whole["grads"].keys()
        for name, grad in whole["grads"].items():
            torch.testing.assert_close(half["grads"][name], grad, rtol=1e-4, atol=1e-6 * float(grad.abs().max()) + 1e-9,
                                       msg=lambda m, name=name: f"{name}: {m}")
        assert half["retnorm"] == pytest.approx(whole["retnorm"], rel=1e-5)  # the percentiles of all returns
        assert half["metrics"]["grad_norm"] == pytest.approx(whole["metrics"]["grad_norm"], rel=1e-4)
    mean = {k: sum(h["metrics"][k] for h in halves) / WORLD for k in ("loss/rew", "loss/dyn", "loss/policy")}
    assert mean == pytest.approx({k: whole["metrics"][k] for k in mean}, rel=1e-4)  # the ranks' losses average
    assert [h["poisoned"] for h in halves] == [{"finite": 0.0, "skipped": 1, "unchanged": True}] * WORLD
