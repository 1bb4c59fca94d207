"""Replay: items, contiguous windows, uniform coverage, FIFO eviction, online queue, latent updates, resume."""

from __future__ import annotations

import numpy as np
import pytest

from dreamer_core.replay import QUEUE_LIMIT, Replay

SPACES = {
    "step": ((), np.int64),  # stream counter: windows must hold consecutive values
    "image": ((4, 4, 3), np.uint8),
    "deter": ((3,), np.float32),
    "is_first": ((), bool),
}


def make_step(t: int, worker: int = 0) -> dict[str, np.ndarray]:
    return {
        "step": np.int64(t),
        "image": np.full((4, 4, 3), (t + 7 * worker) % 256, np.uint8),
        "deter": np.full(3, worker, np.float32),
        "is_first": np.bool_(t == 0),
    }


def filled(n: int, capacity: int = 100, length: int = 5, workers: int = 1, **kw) -> Replay:
    replay = Replay(SPACES, capacity, length, workers=workers, **kw)
    for t in range(n):
        for w in range(workers):
            replay.add(make_step(t, w), worker=w)
    return replay


def test_items_and_steps_counts():
    replay = filled(0)
    assert len(replay) == 0 and replay.steps == 0
    with pytest.raises(RuntimeError, match="no complete window"):
        replay.sample(1)
    replay = filled(4)
    assert len(replay) == 0
    replay = filled(12)
    assert replay.steps == 12 and len(replay) == 12 - 5 + 1
    replay = filled(250)  # full ring of 100 steps
    assert replay.steps == 100 and len(replay) == 96


def test_sample_shapes_dtypes_and_contiguity():
    replay = filled(60, online=False)
    batch = replay.sample(8)
    assert batch["image"].shape == (8, 5, 4, 4, 3) and batch["image"].dtype == np.uint8
    assert batch["step"].shape == (8, 5) and batch["is_first"].dtype == bool
    assert batch["index"].shape == (8, 5, 2) and batch["index"].dtype == np.int64
    assert (np.diff(batch["step"], axis=1) == 1).all()
    assert (batch["index"][..., 1] == batch["step"]).all()  # index holds absolute stream steps
    assert (batch["image"][:, :, 0, 0, 0] == batch["step"] % 256).all()


def test_add_missing_key_and_bad_shape():
    replay = Replay(SPACES, 20, 3)
    step = make_step(0)
    del step["deter"], step["image"]
    with pytest.raises(KeyError, match="deter.*image|image.*deter"):
        replay.add(step)
    bad = make_step(0)
    bad["deter"] = np.zeros(4, np.float32)
    with pytest.raises(ValueError, match="deter"):
        replay.add(bad)


def test_uniform_sampling_covers_buffer():
    replay = filled(50, capacity=50, length=5, online=False)
    starts = np.concatenate([replay.sample(64)["step"][:, 0] for _ in range(40)])
    counts = np.bincount(starts, minlength=46)
    assert set(np.unique(starts)) == set(range(46))  # every item, nothing past the last full window
    assert counts.min() > 0.4 * counts.mean() and counts.max() < 1.8 * counts.mean()


def test_fifo_eviction():
    replay = filled(130, capacity=50, length=5, online=False)
    assert replay.steps == 50
    steps = replay.sample(256)["step"]
    assert steps.min() >= 80 and steps.max() == 129
    assert (np.diff(steps, axis=1) == 1).all()  # windows across the ring's wrap stay contiguous


def test_online_queue_fresh_windows_first_and_once():
    replay = Replay(SPACES, 1000, 5, online=True)
    for t in range(20):
        replay.add(make_step(t))
    assert replay.stats()["online_queue"] == 4
    batch = replay.sample(3)
    assert batch["step"][:, 0].tolist() == [0, 5, 10]  # queued windows fill the batch in FIFO order
    for t in range(20, 30):
        replay.add(make_step(t))
    batch = replay.sample(6)
    assert batch["step"][:3, 0].tolist() == [15, 20, 25]  # then the rest is uniform
    assert replay.stats()["online_queue"] == 0
    # Every fresh window is sampled at least once when sampling keeps up with adding.
    seen = set()
    for t in range(30, 200):
        replay.add(make_step(t))
        if t % 7 == 0:
            seen |= set(replay.sample(2)["step"][:, 0].tolist())
    seen |= set(replay.sample(64)["step"][:, 0].tolist())
    assert set(range(30, 200, 5)) <= seen


def test_online_queue_drops_overwritten_and_is_bounded():
    replay = Replay(SPACES, 20, 5, online=True)
    for t in range(40):
        replay.add(make_step(t))
    batch = replay.sample(8)
    assert batch["step"].min() >= 20  # stale queued windows 0..15 were dropped
    assert batch["step"][:4, 0].tolist() == [20, 25, 30, 35]
    big = Replay({"step": ((), np.int64)}, 10 * QUEUE_LIMIT, 1, online=True)
    for t in range(QUEUE_LIMIT + 10):
        big.add({"step": np.int64(t)})
    assert len(big.queue) == QUEUE_LIMIT
    assert big.sample(1)["step"][0, 0] == 10  # the oldest entries were dropped


def test_update_writes_back_and_skips_overwritten():
    replay = filled(20, capacity=20, length=5, online=False)
    batch = replay.sample(4)
    replay.update(batch["index"], {"deter": np.full((4, 5, 3), 9.0, np.float32)})
    rows = batch["index"][..., 1].reshape(-1) % replay.cap
    assert (replay.data["deter"][rows] == 9.0).all()
    # Overwrite the whole ring, then a stale update must not touch the new data.
    stale = batch["index"]
    for t in range(20, 40):
        replay.add(make_step(t))
    replay.update(stale, {"deter": np.full((4, 5, 3), -1.0, np.float32)})
    assert (replay.data["deter"] == 0.0).all()
    # Partial staleness: the part of a window still stored is written, the overwritten part skipped.
    index = np.array([[[0, 19], [0, 20], [0, 21]]])  # step 19 is gone, 20 and 21 are live
    replay.update(index, {"deter": np.full((1, 3, 3), 5.0, np.float32)})
    assert (replay.data["deter"][[0, 1]] == 5.0).all() and (replay.data["deter"][2:] == 0.0).all()
    with pytest.raises(KeyError, match="unknown key"):
        replay.update(index, {"nope": np.zeros((1, 3))})


def test_state_dict_round_trip_gives_identical_samples():
    replay = filled(137, capacity=100, length=5, workers=2, seed=3)
    replay.sample(4)
    state = replay.state_dict()
    clone = Replay(SPACES, 100, 5, workers=2, seed=99)
    clone.load_state_dict(state)
    assert len(clone) == len(replay) and clone.stats() == replay.stats()
    for _ in range(3):
        a, b = replay.sample(8), clone.sample(8)
        assert all(np.array_equal(a[k], b[k]) for k in a)
        step = make_step(500)
        replay.add(step, 1), clone.add(step, 1)
    with pytest.raises(ValueError, match="length"):
        Replay(SPACES, 100, 6, workers=2).load_state_dict(state)


def test_state_dict_through_checkpoint(tmp_path):
    from dreamer_core import checkpoint

    replay = filled(30, capacity=40, length=5)
    checkpoint.save(tmp_path / "r.ckpt", {"replay": replay.state_dict()})
    clone = Replay(SPACES, 40, 5)
    clone.load_state_dict(checkpoint.load(tmp_path / "r.ckpt")["replay"])
    a, b = replay.sample(6), clone.sample(6)
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_memory_stats():
    replay = filled(10, capacity=100, length=5)
    stats = replay.stats()
    per_step = 8 + 4 * 4 * 3 + 3 * 4 + 1
    assert stats["bytes_per_step"] == per_step
    assert stats["ram_bytes"] == 10 * per_step and stats["capacity_bytes"] == 100 * per_step
    assert stats["steps"] == 10 and stats["items"] == 6 and stats["inserts"] == 10
    replay.sample(3)
    assert replay.stats()["samples"] == 3


def test_workers_never_mix_streams():
    replay = Replay(SPACES, 90, 5, workers=3, online=True)
    rng = np.random.default_rng(0)
    counters = [0, 0, 0]
    for _ in range(200):  # workers interleave irregularly
        w = int(rng.integers(3))
        replay.add(make_step(counters[w], w), worker=w)
        counters[w] += 1
    batch = replay.sample(128)
    worker = batch["index"][..., 0]
    assert (worker == worker[:, :1]).all()
    assert (batch["deter"][..., 0] == worker).all()  # data really comes from that worker
    assert (np.diff(batch["step"], axis=1) == 1).all()
    assert set(np.unique(worker)) == {0, 1, 2}
    assert len(replay) == sum(max(0, min(c, 30) - 4) for c in counters)


def test_capacity_too_small():
    with pytest.raises(ValueError, match="shorter than"):
        Replay(SPACES, 10, 6, workers=2)
