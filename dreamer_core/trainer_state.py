"""What a trainer checkpoint must hold, checked against the live trainer before any of it is swapped in.

`Trainer.load` is all or nothing: `check` validates every piece of a loaded checkpoint (its stored config, every
weight's name, shape and dtype, the optimizer's state, the replay's layout and contents, counters, scores and
RNG states) and raises a one-line `CheckpointError` naming the file and what does not match; only when it passes
does the trainer replace its state, so a failed load leaves the previous state exactly as it was. The tensors
themselves are trusted once the checkpoint's SHA-256 checked out (see checkpoint.py); their structure is not.
"""

from __future__ import annotations

import json
import math
from dataclasses import fields
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from dreamer_core.checkpoint import CheckpointError
from dreamer_core.config import Config

if TYPE_CHECKING:
    from dreamer_core.distributed import World
    from dreamer_core.trainer import Trainer

COMPARED_SECTIONS = ("model", "env")  # a checkpoint only loads into a run whose model and env match
# Fields outside those sections that fix the replay's layout, so a checkpoint's replay only fits the same values.
COMPARED_FIELDS = ("run.envs", "run.replay_size", "train.batch_length", "train.replay_context")
KEYS = ("config", "agent", "replay", "counters", "scores", "rng")  # `episode` (optional) is checked on restore
# What each DDP rank saves of its own (rank 0's at the top level, rank r's in `ranks[r - 1]`); the rest is shared.
RANK_KEYS = ("replay", "counters", "scores", "rng", "episode")


def config_field(config: Config, name: str) -> Any:
    section, key = name.split(".")
    return getattr(getattr(config, section), key)


def _shape(x: Any) -> tuple[int, ...]:
    return tuple(x.shape)


class _Checker:
    def __init__(self, path: Any) -> None:
        self.path = path

    def fail(self, what: str) -> None:
        raise CheckpointError(f"checkpoint {self.path} cannot be loaded into this run: {what}. Nothing was loaded; "
                              "pick a checkpoint this run wrote, or start a run with the checkpoint's settings.")

    def dict(self, value: Any, name: str, keys: tuple[str, ...] = ()) -> dict:
        if not isinstance(value, dict):
            self.fail(f"{name} is a {type(value).__name__}, not a dict")
        missing = [k for k in keys if k not in value]
        if missing:
            self.fail(f"{name} has no {', '.join(repr(k) for k in missing)} (it holds {sorted(map(str, value))})")
        return value

    def count(self, value: Any, name: str, number: type = int, signed: bool = False) -> Any:
        """A whole number (or, with `number=float`, a finite number), non-negative unless `signed`."""
        kinds = (int, np.integer) if number is int else (int, float, np.integer, np.floating)
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, kinds) or not math.isfinite(value) \
                or (value < 0 and not signed):
            what = "whole number" if number is int else "finite number"
            self.fail(f"{name} is {value!r}, not a {what if signed else 'non-negative ' + what}")
        return number(value)

    def like(self, saved: Any, live: dict[str, Any], name: str) -> None:
        """`saved` has exactly the tensors of `live`, each of the same shape and dtype."""
        self.dict(saved, name)
        missing, extra = [k for k in live if k not in saved], [k for k in saved if k not in live]
        if missing or extra:
            self.fail(f"{name} lacks {missing[:3]} and has unexpected {extra[:3]}" if missing and extra else
                      f"{name} lacks {missing[:3]}" if missing else f"{name} has unexpected entries {extra[:3]}")
        for key, want in live.items():
            got = saved[key]
            if isinstance(want, torch.Tensor):
                if not isinstance(got, torch.Tensor):
                    self.fail(f"{name}[{key!r}] is a {type(got).__name__}, not a tensor")
                if _shape(got) != _shape(want) or got.dtype != want.dtype:
                    self.fail(f"{name}[{key!r}] is {got.dtype} {list(got.shape)} in the checkpoint but "
                              f"{want.dtype} {list(want.shape)} here, although its stored config matches this "
                              "run's: its weights do not fit its own config (the file was edited or mixed up)")
            elif isinstance(want, float):
                self.count(got, f"{name}[{key!r}]", float, signed=True)


def check(state: Any, trainer: Trainer, path: Any, optional: dict[str, Any] | None = None) -> dict[str, Any]:
    """Validates a loaded checkpoint against `trainer`; returns the converted values to swap in. `optional` maps
    entries a checkpoint may lack (older versions) to a template of what they hold when present, e.g. the live
    trainer's own value: a present entry must have the template's structure (see `like_template`)."""
    c = _Checker(path)
    c.dict(state, "the checkpoint", KEYS)
    _check_config(c, state["config"], trainer.config)
    agent = c.dict(state["agent"], "agent", ("model", "optimizer", "retnorm", "updates", "skipped"))
    c.like(agent["model"], trainer.agent.state_dict(), "agent.model")
    _check_optimizer(c, agent["optimizer"], trainer.agent.optimizer)
    c.like(agent["retnorm"], trainer.agent.retnorm.state_dict(), "agent.retnorm")
    c.count(agent["updates"], "agent.updates")
    c.count(agent["skipped"], "agent.skipped")
    _check_replay(c, state["replay"], trainer.replay)
    for key, template in (optional or {}).items():
        if state.get(key) is not None:
            like_template(c, state[key], template, key)
    return {"counters": _check_counters(c, state["counters"], trainer), "scores": _check_scores(c, state["scores"]),
            "rng": _check_rng(c, state["rng"], trainer)}


def for_rank(state: Any, world: World, path: Any, any_world_size: bool = False) -> Any:
    """The checkpoint as rank `world.rank` of `world.size` resumes it: with its own replay shard, counters, scores,
    RNG and episode in flight. A checkpoint resumes only with the world size that wrote it (each rank's shard and
    envs are its own); a checkpoint without `world_size` (older, or single-process) was written by one process.
    `any_world_size`: a viewer (a watching Studio, export) takes rank 0's part of a checkpoint of any world size."""
    if not isinstance(state, dict):
        return state  # check() says what is wrong with it
    c = _Checker(path)
    saved = c.count(state.get("world_size", 1), "world_size")
    if any_world_size and world.size == 1:
        return state
    if saved != world.size:
        raise CheckpointError(f"checkpoint {path} was written by a run of {saved} process(es) (world size {saved}) "
                              f"and cannot resume in one of {world.size}: start it with torchrun "
                              f"--nproc_per_node={saved}" + ("" if saved > 1 else " or without torchrun"))
    if world.rank == 0:
        return state
    ranks = state.get("ranks")
    if not isinstance(ranks, list) or len(ranks) != saved - 1:
        c.fail(f"its per-rank shards are {type(ranks).__name__}, not a list of {saved - 1}")
    return {**state, **c.dict(ranks[world.rank - 1], f"ranks[{world.rank - 1}]", RANK_KEYS)}


def check_model(state: Any, trainer: Trainer, path: Any) -> None:
    """Validates a model-only state (`models.model_state`) against `trainer` before `models.load_into` swaps it in:
    the same weights by name and shape (stored as float32 or float16), the return normaliser and counters."""
    c = _Checker(path)
    c.dict(state, "the model", ("config", "agent", "counters"))
    agent = c.dict(state["agent"], "agent", ("model", "retnorm", "updates", "skipped"))
    weights, live = c.dict(agent["model"], "agent.model"), trainer.agent.state_dict()
    missing, extra = [k for k in live if k not in weights], [k for k in weights if k not in live]
    if missing or extra:
        c.fail(f"agent.model lacks {missing[:3]}" if missing else f"agent.model has unexpected entries {extra[:3]}")
    for key, want in live.items():
        got = weights[key]
        fits = got.dtype == want.dtype or (want.is_floating_point() and got.dtype in (torch.float16, torch.float32)) \
            if isinstance(got, torch.Tensor) else False
        if not isinstance(got, torch.Tensor) or _shape(got) != _shape(want) or not fits:
            got_text = f"{got.dtype} {list(got.shape)}" if isinstance(got, torch.Tensor) else type(got).__name__
            c.fail(f"agent.model[{key!r}] is {got_text} in the model but {want.dtype} {list(want.shape)} here")
    c.like(agent["retnorm"], trainer.agent.retnorm.state_dict(), "agent.retnorm")
    c.count(agent["updates"], "agent.updates")
    c.count(agent["skipped"], "agent.skipped")
    for key, value in c.dict(state["counters"], "counters").items():
        c.count(value, f"counters[{key!r}]", float)


def like_template(c: _Checker, saved: Any, live: Any, name: str) -> None:
    """`saved` has the structure of `live`: the same dict keys, list lengths, tensor and array shapes and dtypes,
    and scalars of the same kind. A None in `live` stands for contents of its own (an env's opaque state)."""
    if live is None:
        return
    if isinstance(live, dict):
        c.dict(saved, name, tuple(live))
        for key, value in live.items():
            like_template(c, saved[key], value, f"{name}[{key!r}]")
    elif isinstance(live, (list, tuple)):
        if not isinstance(saved, (list, tuple)) or len(saved) != len(live):
            c.fail(f"{name} is {type(saved).__name__} of {len(saved) if isinstance(saved, (list, tuple)) else '?'}"
                   f" entries, this run's {len(live)}")
        for i, (got, want) in enumerate(zip(saved, live)):
            like_template(c, got, want, f"{name}[{i}]")
    elif isinstance(live, (torch.Tensor, np.ndarray)):
        if type(saved) is not type(live) or _shape(saved) != _shape(live) or saved.dtype != live.dtype:
            got = f"{saved.dtype} {list(saved.shape)}" if hasattr(saved, "shape") else type(saved).__name__
            c.fail(f"{name} is {got}, this run's {live.dtype} {list(live.shape)}")
    elif isinstance(live, (bool, int, float, str)):
        kinds = (bool,) if isinstance(live, bool) else (str,) if isinstance(live, str) else (int, float, np.number)
        if not isinstance(saved, kinds) or (isinstance(saved, bool) and not isinstance(live, bool)):
            c.fail(f"{name} is {saved!r}, not of type {type(live).__name__}")


def _check_config(c: _Checker, text: Any, config: Config) -> None:
    if not isinstance(text, str):
        c.fail(f"its stored config is a {type(text).__name__}, not JSON text")
    try:
        saved = Config.from_dict(json.loads(text))
    except ValueError as exc:  # json.JSONDecodeError is a ValueError
        c.fail(f"its stored config is invalid ({exc})")
    names = [f"{section}.{k}" for section in COMPARED_SECTIONS for k in vars(getattr(saved, section))]
    diffs = [f"{name}: checkpoint {config_field(saved, name)!r} vs this run {config_field(config, name)!r}"
             for name in names + list(COMPARED_FIELDS) if config_field(saved, name) != config_field(config, name)]
    if diffs:
        raise CheckpointError(f"{c.path} was trained with a different configuration and cannot be loaded into this "
                              f"run ({'; '.join(diffs)}). Start the run with the checkpoint's settings (see its "
                              "config.json).")


def _check_optimizer(c: _Checker, saved: Any, optimizer: torch.optim.Optimizer) -> None:
    c.dict(saved, "agent.optimizer", ("state", "param_groups"))
    groups, live = saved["param_groups"], optimizer.param_groups
    if not isinstance(groups, list) or len(groups) != len(live):
        c.fail(f"agent.optimizer has {len(groups) if isinstance(groups, list) else groups!r} parameter groups, "
               f"this run's optimizer {len(live)}")
    params: dict[Any, torch.Tensor] = {}
    for i, (group, mine) in enumerate(zip(groups, live)):
        ids = c.dict(group, f"agent.optimizer group {i}", ("params",))["params"]
        if not isinstance(ids, list) or len(ids) != len(mine["params"]):
            c.fail(f"agent.optimizer group {i} holds {len(ids) if isinstance(ids, list) else ids!r} parameters, "
                   f"this run's optimizer {len(mine['params'])}")
        for key in mine:
            if key != "params" and key in group and isinstance(mine[key], (int, float)):
                c.count(group[key], f"agent.optimizer group {i} {key!r}", float, signed=True)
        params.update(zip(ids, mine["params"]))  # the saved ids map onto this run's parameters in order
    per_param = c.dict(saved["state"], "agent.optimizer state")
    for pid, entry in per_param.items():
        if pid not in params:
            c.fail(f"agent.optimizer state names parameter {pid!r}, which its parameter groups do not hold")
        for key, value in c.dict(entry, f"agent.optimizer state[{pid!r}]").items():
            name = f"agent.optimizer state[{pid!r}][{key!r}]"
            if isinstance(value, torch.Tensor):
                p = params[pid]
                if value.ndim and (_shape(value) != _shape(p) or value.dtype != p.dtype):
                    c.fail(f"{name} is {value.dtype} {list(value.shape)}, its parameter {p.dtype} {list(p.shape)}")
            else:
                c.count(value, name, float)


def _check_replay(c: _Checker, saved: Any, replay: Any) -> None:
    keys = ("capacity", "length", "workers", "online", "data", "counts", "queue", "inserts", "samples", "rng")
    c.dict(saved, "replay", keys)
    for key in ("capacity", "length", "workers"):
        if saved[key] != getattr(replay, key):
            c.fail(f"replay {key} is {saved[key]!r}, this run's {getattr(replay, key)!r}")
    counts = saved["counts"]
    if not isinstance(counts, np.ndarray) or counts.shape != (replay.workers,) or counts.dtype.kind not in "iu" \
            or (counts < 0).any():
        c.fail(f"replay counts are {counts!r}, not {replay.workers} non-negative whole numbers")
    filled = int(np.minimum(counts, replay.cap).max())
    data = c.dict(saved["data"], "replay data", tuple(replay.spaces))
    for key, (shape, dtype) in replay.spaces.items():
        arr, want = data[key], (replay.workers, filled, *shape)
        if not isinstance(arr, np.ndarray) or arr.shape != want or arr.dtype != dtype:
            got = f"{arr.dtype} {list(arr.shape)}" if isinstance(arr, np.ndarray) else type(arr).__name__
            c.fail(f"replay data[{key!r}] is {got}, this run stores {np.dtype(dtype)} {list(want)}")
    if not isinstance(saved["online"], bool):
        c.fail(f"replay online is {saved['online']!r}, not true or false")
    queue = saved["queue"]
    if not isinstance(queue, list) or not all(
            isinstance(q, (list, tuple)) and len(q) == 2
            and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 0 for v in q)
            and q[0] < replay.workers for q in queue):
        c.fail("replay queue is not a list of (worker, step) pairs of this run's workers")
    c.count(saved["inserts"], "replay inserts")
    c.count(saved["samples"], "replay samples")
    try:  # the real setter validates the state's layout; a scratch generator keeps the replay's own untouched
        type(replay.rng.bit_generator)().state = saved["rng"]
    except (TypeError, ValueError, KeyError) as exc:
        c.fail(f"replay rng is not a {type(replay.rng.bit_generator).__name__} state ({exc})")


def _check_counters(c: _Checker, saved: Any, trainer: Trainer) -> Any:
    known = {f.name: f for f in fields(trainer.counters)}
    c.dict(saved, "counters")
    unknown = [k for k in saved if k not in known]
    if unknown:
        c.fail(f"counters has unknown entries {unknown} (this run counts {sorted(known)})")
    values = {k: c.count(v, f"counters[{k!r}]", type(known[k].default)) for k, v in saved.items()}
    return type(trainer.counters)(**values)  # a field an older checkpoint lacks starts at its default


def _check_scores(c: _Checker, saved: Any) -> list[tuple[int, float]]:
    ok = isinstance(saved, list) and all(
        isinstance(s, (list, tuple)) and len(s) == 2
        and all(isinstance(v, (int, float, np.number)) and not isinstance(v, bool) for v in s) for s in saved)
    if not ok:
        c.fail("scores is not a list of (env frames, return) pairs")
    return [(int(s[0]), float(s[1])) for s in saved]


def _check_rng(c: _Checker, saved: Any, trainer: Trainer) -> dict[str, Any]:
    c.dict(saved, "rng", ("torch", "gen", "numpy", "numpy_pos"))
    for key, want in (("torch", torch.get_rng_state()), ("gen", None)):
        value = saved[key]
        if not isinstance(value, torch.Tensor) or value.dtype != torch.uint8 or value.ndim != 1 or (
                want is not None and value.numel() != want.numel()):
            c.fail(f"rng[{key!r}] is not a {'torch' if want is not None else 'generator'} RNG state")
    numpy_state = saved["numpy"]
    if not isinstance(numpy_state, np.ndarray) or numpy_state.shape != (624,) or numpy_state.dtype.kind not in "iu":
        c.fail(f"rng['numpy'] is {type(numpy_state).__name__} {getattr(numpy_state, 'shape', '')}, not numpy's "
               "624-word MT19937 state")
    pos = c.count(saved["numpy_pos"], "rng['numpy_pos']")
    if pos > 624:
        c.fail(f"rng['numpy_pos'] is {pos}, past the 624 words of the state")
    return {"torch": saved["torch"], "gen": saved["gen"], "numpy": np.asarray(numpy_state, np.uint32),
            "numpy_pos": pos}
