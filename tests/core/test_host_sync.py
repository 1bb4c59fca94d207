"""A train step that never waits on the device (issue 17 §3): no tensor value is read on the host inside
`Agent.train_step`, no shape depends on data, and no Python data is uploaded; metrics come back as device tensors.

CUDA's own sync check (`torch.cuda.set_sync_debug_mode`) does not exist on CPU, so the step is instrumented: a
dispatch mode sees every op, from Python or from inside ATen, and the host-side exits that dispatch nothing on
CPU (`tolist`, `numpy`, `cpu`, building a tensor from Python values) are patched.
"""

from __future__ import annotations

import collections
import traceback

import numpy as np
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from dreamer_core.agent import Agent
from dreamer_core.config import make_config
from dreamer_core.envs import Space
from test_agent import FLAGS, SIX_CONTINUOUS, WALKER, batch, small_agent

aten = torch.ops.aten
SCALAR_READS = {aten._local_scalar_dense.default}  # .item(), bool(t), float(t), int(t), `if t:` all end here
DATA_DEPENDENT_SHAPES = {aten.nonzero.default, aten.masked_select.default, aten._unique2.default,
                         aten.unique_dim.default, aten.unique_consecutive.default}
HOST_EXITS = ("tolist", "numpy", "cpu", "__array__")  # Tensor methods that hand data to the host
UPLOADS = ("tensor", "as_tensor")  # torch.* functions that copy Python data to the device (a blocking copy)


def where_called() -> str:
    """The innermost frame of the project's code (or of this test) that led here."""
    frames = [f for f in traceback.extract_stack() if "dreamer_core" in f.filename]
    f = frames[-1] if frames else traceback.extract_stack()[-3]
    return f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno} {f.line}"


class HostSyncCounter(TorchDispatchMode):
    """Counts, by kind and place, every host read of a tensor's value and every data-dependent shape."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: collections.Counter = collections.Counter()  # {(kind, where): count}
        self.active = False  # inside `with counter:`, where the patched host exits report too

    def __enter__(self):
        self.active = True
        return super().__enter__()

    def __exit__(self, *exc):
        self.active = False
        return super().__exit__(*exc)

    def record(self, kind: str) -> None:
        self.seen[(kind, where_called())] += 1

    def kinds(self) -> collections.Counter:
        return collections.Counter(kind for kind, _ in self.seen.elements())

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func in SCALAR_READS:
            self.record("scalar read")
        elif func in DATA_DEPENDENT_SHAPES or (func is aten.index.Tensor and any(
                i is not None and i.dtype == torch.bool for i in args[1])):
            self.record("data-dependent shape")
        return func(*args, **(kwargs or {}))


@pytest.fixture
def counter(monkeypatch):
    """A `HostSyncCounter` with the host exits and uploads patched to report to it; enter it around the code."""
    mode = HostSyncCounter()

    def counting(owner, name, kind):
        original = getattr(owner, name)

        def wrapper(*args, **kwargs):
            if mode.active:
                mode.record(kind)
            return original(*args, **kwargs)
        monkeypatch.setattr(owner, name, wrapper)

    for name in HOST_EXITS:
        counting(torch.Tensor, name, f"Tensor.{name}")
    for name in UPLOADS:
        counting(torch, name, f"torch.{name}")
    return mode


def test_the_counter_sees_every_kind_of_host_sync(counter):
    x = torch.arange(4.0)
    with counter:
        bool(x.sum() > 0), float(x[0]), x.max().item(), x.tolist(), x.numpy(), x.cpu()
        x[x > 1], torch.nonzero(x), torch.tensor([1.0, 2.0])
    assert counter.kinds() == {"scalar read": 3, "data-dependent shape": 2, "Tensor.tolist": 1, "Tensor.numpy": 1,
                     "Tensor.cpu": 1, "torch.tensor": 1}


IMAGE_AND_DISCRETE = ({"image": Space((64, 64, 3), np.uint8), **FLAGS}, Space((3,), np.float32, 0.0, 1.0, discrete=True))


@pytest.mark.parametrize("nan", [False, True], ids=["finite", "skipped"])
@pytest.mark.parametrize("kind", ["vector, continuous", "image, discrete", "bf16"])
def test_a_train_step_reads_nothing_back_from_the_device(counter, nan, kind):
    if kind == "image, discrete":  # the conv encoder and decoder, and one-hot actions
        agent = small_agent(*IMAGE_AND_DISCRETE)
        data = batch(agent, image=True)
        data["action"] = torch.nn.functional.one_hot(torch.randint(0, 3, (3, 9)), 3).float()
    elif kind == "bf16":  # autocast: the same step with bfloat16 activations
        agent = Agent(make_config("dmc_walker_walk", "proprio", "debug", {"run": {"precision": "bf16"}}), WALKER,
                      SIX_CONTINUOUS)
        data = batch(agent)
    else:
        agent = small_agent()
        data = batch(agent)
    agent.train_step(data)  # the first step creates the optimizer state; count a later, ordinary one
    if nan:  # a skipped update takes the same branch-free path
        data["reward"][0, 3] = float("nan")
    with counter:
        agent.train_step(data, torch.Generator().manual_seed(0))
    seen = counter.seen
    assert not seen, "host syncs in train_step:\n" + "\n".join(f"{n} x {k}: {at}" for (k, at), n in seen.items())


def test_metrics_are_device_tensors_read_back_in_one_copy(counter):
    from dreamer_core.agent import read_metrics

    agent = small_agent()
    _, metrics = agent.train_step(batch(agent))
    assert all(torch.is_tensor(v) and v.ndim == 0 and v.device == agent.device for v in metrics.values())
    with counter:
        host = read_metrics(metrics)
    assert counter.kinds() == {"Tensor.cpu": 1, "Tensor.tolist": 1}  # one stacked copy, then plain Python numbers
    assert host.keys() == metrics.keys()
    assert all(isinstance(v, float) for k, v in host.items() if k not in ("updates", "skipped_updates"))
    assert host["updates"] == 1 and host["skipped_updates"] == 0 and isinstance(host["updates"], int)
    assert host["loss_total"] == pytest.approx(float(metrics["loss_total"]))
