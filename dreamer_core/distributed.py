"""Multi-process training on torch.distributed, started by `torchrun` (DDP semantics, as sheeprl on Fabric).

Every rank builds the same Trainer: its own envs (seeds offset by rank), its own replay shard, the same model
(rank 0's initial weights broadcast to all). Once per update the ranks average their gradients (`all_reduce_grads`,
right after backward), so every rank applies the same update and the weights stay identical: B per rank on R
ranks is one update at batch R·B (R as in docs/tensor_shapes.md). The return normaliser's percentiles see every rank's returns
(`all_gather_cat`), as a single process with the combined batch would. Rank 0 alone writes the run directory.

Outside torchrun (no WORLD_SIZE in the environment, or 1) nothing here communicates: each helper returns its
input, so a single-process run is unchanged. The backend follows the device: gloo on CPU, NCCL on CUDA.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.distributed as dist

from dreamer_core.config import Config
from dreamer_core.logdir import CHECKPOINT_NAME

if TYPE_CHECKING:
    from dreamer_core.trainer import Trainer


@dataclass(frozen=True)
class World:
    """This process's place in the run: rank r of `size` processes (`local_rank` on its node)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    control: Any = None  # the group for small CPU messages (flags, log rows, shards); None: the default group

    @property
    def is_main(self) -> bool:
        """The rank that writes the run directory, checkpoints and logs."""
        return self.rank == 0


def launched_world() -> World:
    """The world torchrun describes in the environment (RANK, WORLD_SIZE, LOCAL_RANK), or a single process."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World()
    return World(int(os.environ["RANK"]), size, int(os.environ.get("LOCAL_RANK", "0")))


def backend_for(device: torch.device) -> str:
    return "nccl" if device.type == "cuda" else "gloo"


def init(device: torch.device) -> World:
    """Joins torchrun's process group (env:// rendezvous: MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE) once per
    process, with the backend for `device`; a process not started by torchrun stays alone."""
    world = launched_world()
    if world.size > 1 and not dist.is_initialized():
        dist.init_process_group(backend=backend_for(device))
    if world.size > 1 and dist.get_backend() != "gloo":  # NCCL carries CUDA tensors only: CPU messages go by gloo
        world = replace(world, control=dist.new_group(backend="gloo"))
    return world


def leave(world: World, together: bool = True) -> None:
    """Ends this process's part in the process group, while the interpreter is fully alive: a group left to the
    interpreter's exit can abort the process (gloo's threads still hold tensors then). `together` first waits for
    every rank (a barrier), so no rank tears down its connections while another still talks to it; pass False on
    a path that other ranks may not reach (an error on this rank alone), where a barrier would wait forever."""
    if world.size <= 1 or not dist.is_initialized():
        return
    try:
        if together:
            dist.barrier(group=world.control)
    finally:
        dist.destroy_process_group()


def rank_config(config: Config, world: World) -> Config:
    """Rank r's config: its envs take the seeds after rank r-1's (seed + r * run.envs + i), so every env of the
    run has a seed of its own, and so do its replay sampling and policy draws. Rank 0's is `config` itself (the
    one config.json and checkpoints hold); its initial weights are everyone's (`broadcast_module`)."""
    return replace(config, run=replace(config.run, seed=config.run.seed + world.rank * config.run.envs))


def active() -> bool:
    """True inside a process group of more than one rank: only then do the helpers below communicate."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def all_reduce_grads(groups: Iterable[Iterable[torch.Tensor]], loss: torch.Tensor | None = None) -> None:
    """Averages the gradients of every rank in place: one flattened all-reduce per parameter group (a module).

    Call it after backward and before anything reads the gradients (norms, the finite check, clipping), so they
    all see the averaged gradient exactly as one process with the combined batch would. A rank whose `loss` is
    non-finite poisons the average with NaN, so every rank skips that update together rather than diverge.
    Parameters without a gradient are left without one: the graph, and so that set, is the same on all ranks."""
    if not active():
        return
    size = dist.get_world_size()
    poison = None
    if loss is not None:  # 0 when finite, NaN otherwise; summed into every bucket, so NaN reaches all ranks
        poison = torch.where(torch.isfinite(loss.detach()), 0.0, float("nan")).float().reshape(1)
    for group in groups:
        grads = [p.grad for p in group if p.grad is not None]
        if not grads:
            continue
        flat = torch.cat([g.reshape(-1) for g in grads])  # the group's gradients, flattened: one bucket
        if poison is not None:
            flat = torch.cat([flat, poison.to(flat)])  # and the poison last
        dist.all_reduce(flat, op=dist.ReduceOp.SUM)
        flat = flat[:-1] + flat[-1] if poison is not None else flat  # adds 0, or NaN to every entry
        flat /= size
        offset = 0
        for g in grads:
            g.copy_(flat[offset : offset + g.numel()].view_as(g))
            offset += g.numel()


def broadcast_module(module: torch.nn.Module, src: int = 0) -> None:
    """Copies rank `src`'s parameters and buffers to every rank, so all ranks start identical."""
    if not active():
        return
    with torch.no_grad():
        for tensor in module.state_dict().values():  # views of the parameters and buffers themselves
            dist.broadcast(tensor, src)


def all_gather_cat(x: torch.Tensor) -> torch.Tensor:
    """Every rank's `x` (same shape on all ranks) concatenated along dim 0, in rank order: (R·len(x), ...)."""
    if not active():
        return x
    parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, x.contiguous())
    return torch.cat(parts)


def rank0_decides(world: World, *flags: bool) -> tuple[bool, ...]:
    """Rank 0's values of `flags` on every rank: wall-clock cadences (log, save, resume) must fire on all ranks
    together, because what they do communicates."""
    if world.size == 1:
        return flags
    values = torch.tensor([float(f) for f in flags])  # one per flag
    dist.broadcast(values, 0, group=world.control)
    return tuple(bool(v) for v in values.tolist())


def any_rank(world: World, flag: bool) -> bool:
    """True on every rank when `flag` is true on any: a stop (a signal, a failing env) must end all ranks at the
    same step, or the ones left would wait forever in their next collective."""
    if world.size == 1:
        return flag
    value = torch.tensor([float(flag)])
    dist.all_reduce(value, op=dist.ReduceOp.MAX, group=world.control)
    return bool(value.item())


def gather_to_main(world: World, obj: Any) -> list[Any] | None:
    """Every rank's `obj` (picklable) as a list in rank order on rank 0, None on the others."""
    if world.size == 1:
        return [obj]
    out: list[Any] | None = [None] * world.size if world.is_main else None
    dist.gather_object(obj, out, dst=0, group=world.control)
    return out


# -- the Trainer's DDP steps (trainer.py calls these only when world.size > 1) ------------------------------------
SUMMED = ("episodes", "env/restarts")  # per-rank counts; the other counters are the run's on every rank
UNSUMMED_REPLAY = ("replay/bytes_per_step",)  # the other replay stats add up over the shards


def reduce_row(world: World, row: dict[str, float], pending: dict[str, list[float]], scores: list[dict]
               ) -> tuple[dict[str, float] | None, list[dict]]:
    """The run's metrics row on rank 0 (None elsewhere): per-rank counts and replay sizes summed, every metric
    averaged over all ranks' values since the last row (a rank may have none of a key: no episode ended there).
    Also returns every rank's episode-score rows, in step order, for rank 0 to write."""
    gathered = gather_to_main(world, (row, pending, scores))
    if gathered is None:
        return None, []
    rows = [g[0] for g in gathered]
    out = dict(row)
    for key in [*SUMMED, *(k for k in row if k.startswith("replay/") and k not in UNSUMMED_REPLAY)]:
        out[key] = float(sum(r[key] for r in rows))
    merged: dict[str, list[float]] = {}
    for _, values_by_key, _ in gathered:
        for key, values in values_by_key.items():
            merged.setdefault(key, []).extend(values)
    out.update({k: float(np.mean(v)) for k, v in merged.items()})
    return out, sorted((s for g in gathered for s in g[2]), key=lambda s: s["step"])


def gather_rank_parts(world: World, state: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The checkpoint parts of ranks 1..R-1 (trainer_state.RANK_KEYS of each rank's `state`: replay shard,
    counters, envs, RNG) on rank 0, for its one file; None on the other ranks, which write nothing."""
    from dreamer_core.trainer_state import RANK_KEYS

    shards = gather_to_main(world, {k: state[k] for k in RANK_KEYS})
    return shards[1:] if shards else None


def join_run(trainer: Trainer) -> None:
    """A rank other than 0 in a run directory: it resumes when rank 0 does, from the same checkpoint (taking its
    own shard, trainer_state.for_rank), and writes nothing there."""
    (resuming,) = rank0_decides(trainer.world, False)
    if resuming:
        path = trainer.logdir / CHECKPOINT_NAME
        try:
            trainer.load(path)
        except BaseException:
            trainer.close()
            raise
        trainer.resumed_from, trainer.checkpoint_frames = path, trainer.counters.env_frames
