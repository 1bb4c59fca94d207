"""Checkpoints: round-trip of nested state, atomic writes, helpful errors for bad files."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
import torch

from dreamer_core import checkpoint
from dreamer_core.checkpoint import CheckpointError


def nested_state() -> dict:
    return {
        "model": {"w": torch.randn(3, 4), "b": torch.zeros(4, dtype=torch.bfloat16), "n": torch.tensor(7)},
        "opt": [{"step": 3, "lr": 1e-4}, {"betas": (0.9, 0.999)}],
        "replay": {
            "image": np.arange(2 * 4 * 4 * 3, dtype=np.uint8).reshape(2, 4, 4, 3),
            "is_first": np.array([True, False, True]),
            "reward": np.linspace(-1, 1, 5, dtype=np.float32),
            "counts": np.array([5, 2**40], np.int64),
            "small": np.array([1, 2], np.uint16),
            "empty": np.zeros((0, 3), np.float64),
            "zero_d": np.array(2.5, np.float16),
            "scalar": np.int32(-4),
        },
        "rng": np.random.default_rng(0).bit_generator.state,  # nested dict with 128-bit ints
        "name": "run-1",
        "none": None,
        "flag": True,
    }


def assert_same(a, b) -> None:
    assert type(a) is type(b), (type(a), type(b))
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            assert_same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert_same(x, y)
    elif isinstance(a, torch.Tensor):
        assert a.dtype == b.dtype and torch.equal(a, b)
    elif isinstance(a, (np.ndarray, np.generic)):
        assert a.dtype == b.dtype and np.shape(a) == np.shape(b) and np.array_equal(a, b)
    else:
        assert a == b


def test_round_trip_nested(tmp_path):
    state = nested_state()
    path = tmp_path / "run" / "step_10.ckpt"
    checkpoint.save(path, state)
    loaded = checkpoint.load(path)
    assert_same(state, loaded)
    rng = np.random.default_rng()
    rng.bit_generator.state = loaded["rng"]
    assert rng.integers(1 << 30) == np.random.default_rng(0).integers(1 << 30)
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]  # no leftovers


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        checkpoint.load(tmp_path / "nope.ckpt")


@pytest.mark.parametrize("keep", [0, 0.5, 0.97])
def test_truncated_file(tmp_path, keep):
    path = tmp_path / "a.ckpt"
    checkpoint.save(path, nested_state())
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(CheckpointError) as info:
        checkpoint.load(path)
    message = str(info.value)
    assert str(path) in message and "truncated or corrupt" in message and "Delete it" in message


def test_not_a_checkpoint(tmp_path):
    text = tmp_path / "notes.ckpt"
    text.write_text("hello, this is not a checkpoint\n")
    with pytest.raises(CheckpointError, match="notes.ckpt"):
        checkpoint.load(text)
    plain = tmp_path / "plain.ckpt"
    torch.save({"w": torch.ones(2)}, plain)  # a valid torch file, but not ours
    with pytest.raises(CheckpointError, match="not a dreamer_core checkpoint"):
        checkpoint.load(plain)
    unsafe = tmp_path / "unsafe.ckpt"
    torch.save({"a": np.zeros(2)}, unsafe)  # raw numpy pickles are refused by weights_only
    with pytest.raises(CheckpointError, match="cannot be loaded safely"):
        checkpoint.load(unsafe)
    newer = tmp_path / "newer.ckpt"
    torch.save({"format": checkpoint.FORMAT, "version": checkpoint.VERSION + 1, "state": {}}, newer)
    with pytest.raises(CheckpointError, match="version"):
        checkpoint.load(newer)


def test_previous_checkpoint_survives_failed_save(tmp_path, monkeypatch):
    path = tmp_path / "latest.ckpt"
    checkpoint.save(path, {"version": 1, "w": torch.ones(3)})
    real_save = torch.save

    def crash_midway(obj, f, *args, **kwargs):
        real_save(obj, f, *args, **kwargs)
        f.truncate(f.tell() // 2)  # leave a half-written file behind, then "crash"
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash_midway)
    with pytest.raises(OSError, match="disk full"):
        checkpoint.save(path, {"version": 2, "w": torch.zeros(3)})
    monkeypatch.undo()
    assert checkpoint.load(path)["version"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest.ckpt"]  # temp file cleaned up


def test_unsupported_value_type(tmp_path):
    with pytest.raises(CheckpointError, match="set"):
        checkpoint.save(tmp_path / "x.ckpt", {"s": {1, 2}})
    with pytest.raises(CheckpointError, match="object"):
        checkpoint.save(tmp_path / "x.ckpt", {"a": np.array([None, 1], dtype=object)})
    assert not (tmp_path / "x.ckpt").exists()


def test_latest(tmp_path):
    assert checkpoint.latest(tmp_path) is None
    assert checkpoint.latest(tmp_path / "missing") is None
    for i, name in enumerate(["b.ckpt", "a.ckpt", "c.ckpt"]):
        checkpoint.save(tmp_path / name, {"i": i})
        stamp = time.time() - 100 + i
        os.utime(tmp_path / name, (stamp, stamp))
    (tmp_path / "other.txt").write_text("x")
    (tmp_path / ".c.ckpt.abc.tmp").write_bytes(b"partial")
    assert checkpoint.latest(tmp_path).name == "c.ckpt"
    os.utime(tmp_path / "a.ckpt", None)  # touched now: newest
    assert checkpoint.latest(str(tmp_path)).name == "a.ckpt"


def test_loaded_tensors_go_to_the_requested_device(tmp_path):
    """`map_location` places every tensor, however deeply nested, on that device. The 'meta' device stands for a
    second device on a CPU-only machine: ignoring `map_location` would leave these tensors on the CPU."""
    state = {"model": {"w": torch.randn(3, 4), "b": torch.zeros(4, dtype=torch.bfloat16)}, "opt": [torch.tensor(7)]}
    checkpoint.save(tmp_path / "m.ckpt", state)
    placed = checkpoint.load(tmp_path / "m.ckpt", map_location=torch.device("meta"))
    tensors = [placed["model"]["w"], placed["model"]["b"], placed["opt"][0]]
    assert all(t.device.type == "meta" for t in tensors)
    assert [(t.shape, t.dtype) for t in tensors] == [((3, 4), torch.float32), ((4,), torch.bfloat16), ((), torch.int64)]
    default = checkpoint.load(tmp_path / "m.ckpt")
    assert default["model"]["w"].device.type == "cpu" and torch.equal(default["model"]["w"], state["model"]["w"])



def test_numpy_arrays_stay_numpy_whatever_the_device(tmp_path):
    """A checkpoint mixes tensors and numpy arrays (the replay, RNG states): with another `map_location` the
    tensors go there and the arrays come back whole, their values and dtypes unchanged."""
    replay = np.arange(12, dtype=np.float16).reshape(3, 4)
    state = {"w": torch.ones(2), "replay": {"obs": replay, "pos": np.int64(5)}}
    checkpoint.save(tmp_path / "m.ckpt", state)
    placed = checkpoint.load(tmp_path / "m.ckpt", map_location="meta")
    assert placed["w"].device.type == "meta"
    assert placed["replay"]["obs"].dtype == np.float16 and np.array_equal(placed["replay"]["obs"], replay)
    assert isinstance(placed["replay"]["pos"], np.int64) and placed["replay"]["pos"] == 5

def write_version_1(path, state) -> None:
    """A checkpoint as the code before format version 2 wrote it (`git show 17a3dbb:dreamer_core/checkpoint.py`):
    the bare torch.save zip of the marked payload, without a header or digest."""
    torch.save({"format": checkpoint.FORMAT, "version": 1, "state": checkpoint._encode(state)}, path)


def test_version_1_files_still_load(tmp_path):
    path, state = tmp_path / "old.ckpt", nested_state()
    write_version_1(path, state)
    assert path.read_bytes()[:4] == b"PK\x03\x04"  # really the old layout
    assert_same(state, checkpoint.load(path))


def test_a_flipped_byte_is_refused(tmp_path):
    path = tmp_path / "a.ckpt"
    pattern = bytes(range(256)) * 64  # a tensor whose bytes are easy to find in the file
    checkpoint.save(path, {"w": torch.frombuffer(bytearray(pattern), dtype=torch.uint8), "n": 3})
    data = bytearray(path.read_bytes())
    assert data.startswith(checkpoint.MAGIC)
    where = data.index(pattern) + 1000
    data[where] ^= 0x01  # one bit inside the tensor's bytes: torch itself would load this without a word
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"a.ckpt is corrupt: its contents do not match the SHA-256") as info:
        checkpoint.load(path)
    assert "Delete it or pick another checkpoint" in str(info.value) and len(str(info.value).splitlines()) == 1
    data[where] ^= 0x01
    path.write_bytes(bytes(data))
    assert checkpoint.load(path)["n"] == 3  # the same file, unflipped, loads


SAVER = """
import sys, torch
from dreamer_core import checkpoint
torch.set_num_threads(1)
state = {"w": torch.randn(256, 1024), "i": 0}
checkpoint.save(sys.argv[1], state)  # one complete file first: on a loaded machine a save outlasts the kill delay
print("ready", flush=True)
while True:
    state["i"] += 1
    checkpoint.save(sys.argv[1], state)
"""


def test_kill_9_during_saves_never_leaves_a_file_that_fails_its_check(tmp_path):
    """A 1 MB checkpoint rewritten in a loop and killed at random moments: what is at the path always verifies."""
    import random
    import signal
    import subprocess
    import sys

    path = tmp_path / "latest.ckpt"
    rng = random.Random(0)
    for _ in range(8):
        proc = subprocess.Popen([sys.executable, "-c", SAVER, str(path)], stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.05, 0.4))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        if path.exists():
            assert checkpoint.load(path)["w"].shape == (256, 1024)
    assert path.exists()
