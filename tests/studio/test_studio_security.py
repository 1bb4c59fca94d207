"""The studio's paths into a run directory from elsewhere: opening (watching) it never runs code from it, and a
Load that fails leaves the running session exactly as it was."""

from __future__ import annotations

import json

from .helpers import debug_config


def test_opening_a_run_whose_task_imports_a_module_runs_nothing(qtbot, make_worker, tmp_path, monkeypatch):
    marker = tmp_path / "pwnstudio.ran"
    (tmp_path / "pwnstudio.py").write_text(f"open({str(marker)!r}, 'w').write('imported')\n")
    monkeypatch.syspath_prepend(str(tmp_path))  # importable: only the code keeps it from running
    data = json.loads(debug_config().to_json())
    data["env"]["task"] = "gym_pwnstudio:Evil-v0"
    (tmp_path / "config.json").write_text(json.dumps(data))
    worker = make_worker(watch_dir=tmp_path, device="cpu")  # the path of `dreamer-studio --open DIR`
    with qtbot.waitSignal(worker.errored, timeout=30_000) as blocker:
        worker.start()
    worker.wait(10_000)
    assert not marker.exists()
    assert blocker.args[0] == "Could not start the run" and "env.task" in blocker.args[1]
    assert len(blocker.args[1].splitlines()) == 1


def _state(trainer) -> list:
    """Every weight, optimizer tensor, replay array and counter of a trainer, copied, in a fixed order."""
    import numpy as np
    import torch

    agent = trainer.agent.state_dict_full()
    out = [(k, v.detach().clone()) for k, v in agent["model"].items()]
    out += [(f"opt{i}.{k}", v.clone() if isinstance(v, torch.Tensor) else v)
            for i, entry in agent["optimizer"]["state"].items() for k, v in entry.items()]
    out += [(f"replay.{k}", v.copy()) for k, v in trainer.replay.data.items()]
    out += [("counts", trainer.replay.counts.copy()), ("counters", dict(vars(trainer.counters))),
            ("updates", agent["updates"]), ("retnorm", agent["retnorm"]), ("scores", list(trainer.scores)),
            ("gen", trainer.gen.get_state()), ("numpy", np.random.get_state()[1].copy())]
    return out


def _equal(a, b) -> bool:
    import numpy as np
    import torch

    if isinstance(a, torch.Tensor):
        return torch.equal(a, b)
    if isinstance(a, np.ndarray):
        return np.array_equal(a, b)
    return a == b


def test_a_failed_load_leaves_the_session_exactly_as_it_was(qtbot, make_worker, tmp_path):
    from dreamer_core import checkpoint
    from dreamer_studio import commands as cmd

    worker = make_worker(config=debug_config("dummy_disc", "proprio", replay_size=500), paused=True)
    with qtbot.waitSignal(worker.ready, timeout=30_000):
        worker.start()
    for _ in range(80):
        worker.send(cmd.Step())
    qtbot.waitUntil(lambda: worker.status.get()[1].agent_steps >= 80, timeout=60_000)
    with qtbot.waitSignal(worker.saved, timeout=30_000):
        worker.send(cmd.Save(str(tmp_path / "good.ckpt")))
    state = checkpoint.load(tmp_path / "good.ckpt")
    last = list(state["agent"]["model"])[-1]  # loaded last: a partial load replaces every other weight first
    state["agent"]["model"][last] = state["agent"]["model"][last][..., None].repeat_interleave(2, -1)
    checkpoint.save(tmp_path / "bad.ckpt", state)
    for _ in range(20):  # the session moves on from the checkpoint
        worker.send(cmd.Step())
    qtbot.waitUntil(lambda: worker.status.get()[1].agent_steps >= 100, timeout=60_000)
    qtbot.wait(200)  # the worker is idle (paused) from here on
    before = _state(worker.trainer)
    with qtbot.waitSignal(worker.errored, timeout=30_000) as blocker:
        worker.send(cmd.Load(str(tmp_path / "bad.ckpt")))
    title, message, _ = blocker.args
    assert title == "Load failed" and "bad.ckpt" in message and "Nothing was loaded" in message
    assert len(message.splitlines()) == 1
    after = _state(worker.trainer)
    assert [k for k, _ in before] == [k for k, _ in after]
    assert [k for (k, a), (_, b) in zip(before, after) if not _equal(a, b)] == []
    assert worker.status.get()[1].agent_steps == 100
