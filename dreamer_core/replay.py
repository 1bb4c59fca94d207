"""DreamerV3 replay: FIFO ring buffers per worker, uniform sampling plus an online queue, stored latents.

Layout. Every key gets one preallocated array of shape (W * cap, *shape) where cap = capacity // W workers;
worker w owns rows [w * cap, (w + 1) * cap) as its own ring buffer, so a window never mixes two workers'
streams and a whole batch is gathered with one fancy-indexing call per key. Images stay uint8. Shape comments
use the legend in docs/tensor_shapes.md.

Addressing. Each worker counts the steps it has added; its t-th step (t = 0, 1, ...) lives in ring slot
t % cap and stays stored while t >= count - cap. `sample` returns `index` of shape (B, L, 2) holding
(worker, t) for every step, i.e. the *absolute stream step*, not the ring slot. The slot is t % cap, and
because t only ever grows, `update` knows a slot was overwritten since sampling exactly when
t < count[worker] - cap; those entries are skipped. No per-slot generation array is needed.

Items. A window start t is sampleable when the `length` steps t .. t+length-1 are all still stored, so a
worker with n stored steps contributes max(0, n - length + 1) items. Windows may span episode boundaries
(`is_first` marks them, as in DreamerV3).

Online queue. Every `length` new steps of a worker, its newest window is queued; `sample` first pops queued
windows in FIFO order (oldest fresh window first) and fills the rest of the batch uniformly, so every fresh
window is trained on at least once unless it was evicted or the bounded queue overflowed.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass
from typing import Any

import numpy as np

Spaces = dict[str, tuple[tuple[int, ...], Any]]

QUEUE_LIMIT = 1024  # oldest queued windows are dropped beyond this, keeping memory bounded


class Replay:
    def __init__(
        self,
        spaces: Spaces,
        capacity: int,
        length: int,
        workers: int = 1,
        online: bool = True,
        seed: int = 0,
    ) -> None:
        if not spaces:
            raise ValueError("Replay needs at least one key in `spaces`")
        if workers < 1 or length < 1:
            raise ValueError(f"workers ({workers}) and length ({length}) must be >= 1")
        cap = capacity // workers
        if cap < length:
            raise ValueError(
                f"capacity // workers = {capacity} // {workers} = {cap} steps per worker is shorter than "
                f"one window of length {length}; raise the capacity or lower the length"
            )
        self.spaces = {k: (tuple(int(d) for d in shape), np.dtype(dt)) for k, (shape, dt) in spaces.items()}
        self.capacity = capacity
        self.length = length
        self.workers = workers
        self.online = online
        self.cap = cap
        self.rng = np.random.default_rng(seed)
        # (W * cap, ...) per key. np.zeros is lazily committed by the OS, so an unfilled buffer costs (almost) no RAM.
        self.data = {k: np.zeros((workers * cap, *shape), dt) for k, (shape, dt) in self.spaces.items()}
        self.counts = np.zeros(workers, np.int64)  # (W,) steps ever added per worker
        self.queue: collections.deque[tuple[int, int]] = collections.deque(maxlen=QUEUE_LIMIT)
        self.inserts = 0
        self.samples = 0  # windows handed out

    # ------------------------------------------------------------------ writing

    def add(self, step: dict[str, np.ndarray], worker: int = 0) -> None:
        """Append one step of `worker`'s stream. Keys not in `spaces` are ignored."""
        missing = [k for k in self.spaces if k not in step]
        if missing:
            raise KeyError(f"Replay.add: step is missing keys {missing} (expected {sorted(self.spaces)})")
        if not 0 <= worker < self.workers:
            raise IndexError(f"Replay.add: worker {worker} out of range [0, {self.workers})")
        t = int(self.counts[worker])
        row = worker * self.cap + t % self.cap
        for key, (shape, _) in self.spaces.items():
            value = np.asarray(step[key])
            if value.shape != shape:
                raise ValueError(f"Replay.add: '{key}' has shape {value.shape}, expected {shape}")
            self.data[key][row] = value
        self.counts[worker] = t + 1
        self.inserts += 1
        if self.online and (t + 1) % self.length == 0:
            self.queue.append((worker, t + 1 - self.length))

    def end_episode(self, worker: int = 0) -> None:
        """Marks `worker`'s newest step `is_last` (not terminal): its env failed and was replaced, so the stored
        episode ends there and the next step added starts a new one."""
        if self.counts[worker] > 0 and "is_last" in self.data:
            self.data["is_last"][worker * self.cap + (int(self.counts[worker]) - 1) % self.cap] = True

    def update(self, index: np.ndarray, values: dict[str, np.ndarray]) -> None:
        """Write `values[key]` (B, T, *shape) back at `index` (B, T, 2) (any part of sampled windows, such as the T
        steps after their context), skipping overwritten slots."""
        index = np.asarray(index, np.int64)
        worker, t = index[..., 0], index[..., 1]  # (B, T) each
        live = (t >= self.counts[worker] - self.cap) & (t < self.counts[worker])  # (B, T)
        if not live.any():
            return
        rows = worker[live] * self.cap + t[live] % self.cap  # (live,)
        for key, value in values.items():
            if key not in self.data:
                raise KeyError(f"Replay.update: unknown key '{key}' (stored keys: {sorted(self.data)})")
            value = np.asarray(value)
            if value.shape[: index.ndim - 1] != index.shape[:-1]:
                raise ValueError(f"Replay.update: '{key}' has shape {value.shape}, index has {index.shape}")
            self.data[key][rows] = value[live]

    # ------------------------------------------------------------------ reading

    def _stored(self) -> np.ndarray:
        return np.minimum(self.counts, self.cap)  # (W,)

    def _items(self) -> np.ndarray:
        return np.maximum(self._stored() - self.length + 1, 0)  # (W,)

    def __len__(self) -> int:
        return int(self._items().sum())

    @property
    def steps(self) -> int:
        return int(self._stored().sum())

    def _pop_online(self, limit: int) -> list[tuple[int, int]]:
        """Up to `limit` queued windows, oldest first, dropping those partly overwritten since queued."""
        out: list[tuple[int, int]] = []
        while self.queue and len(out) < limit:
            worker, start = self.queue.popleft()
            if start >= self.counts[worker] - self.cap:
                out.append((worker, start))
        return out

    def _uniform(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """n window starts drawn uniformly over all items of all workers."""
        items = self._items()  # (W,)
        k = self.rng.integers(0, items.sum(), size=n)  # (n,) flat item ids
        worker = np.searchsorted(np.cumsum(items), k, side="right")  # (n,)
        offset = k - (np.cumsum(items) - items)[worker]  # (n,)
        oldest = self.counts - self._stored()  # (W,) first stored stream step
        return worker, oldest[worker] + offset  # (n,) each

    def sample(self, batch: int) -> dict[str, np.ndarray]:
        """A batch of windows: every key as (B, L, *shape) plus `index` (B, L, 2) = (worker, stream step)."""
        if len(self) < 1:
            raise RuntimeError(
                f"Replay.sample: no complete window yet ({self.steps} steps stored, each worker needs "
                f"{self.length}); add more steps before sampling"
            )
        fresh = self._pop_online(batch) if self.online else []
        worker, start = self._uniform(batch - len(fresh))
        if fresh:
            worker = np.concatenate([np.array([w for w, _ in fresh]), worker])
            start = np.concatenate([np.array([s for _, s in fresh]), start])
        out = self._gather(worker, start, self.length)
        self.samples += batch
        return out

    def _gather(self, worker: np.ndarray, start: np.ndarray, length: int) -> dict[str, np.ndarray]:
        t = start[:, None] + np.arange(length)  # (B, L) stream steps
        worker = np.broadcast_to(worker[:, None], t.shape)  # (B, L)
        rows = (worker * self.cap + t % self.cap).reshape(-1)  # (B*L,)
        out = {k: v[rows].reshape(len(start), length, *v.shape[1:]) for k, v in self.data.items()}  # (B, L, ...)
        out["index"] = np.stack([worker, t], -1).astype(np.int64)  # (B, L, 2)
        return out

    def recent(self, length: int | None = None, worker: int = 0) -> dict[str, np.ndarray]:
        """The newest `length` steps of one worker as a batch of one window (1, L, ...); not counted as a sample."""
        length = length or self.length
        if self._stored()[worker] < length:
            raise RuntimeError(f"Replay.recent: worker {worker} holds {self._stored()[worker]} steps, "
                               f"fewer than the {length} requested")
        start = np.array([self.counts[worker] - length])
        return self._gather(np.array([worker]), start, length)

    # ------------------------------------------------------------------ bookkeeping

    def stats(self) -> dict[str, float]:
        per_step = sum(int(np.prod(shape)) * dt.itemsize for shape, dt in self.spaces.values())
        return {
            "items": float(len(self)),
            "steps": float(self.steps),
            "ram_bytes": float(per_step * self.steps),  # touched pages; unfilled zeros are not resident
            "capacity_bytes": float(per_step * self.workers * self.cap),
            "bytes_per_step": float(per_step),
            "inserts": float(self.inserts),
            "samples": float(self.samples),
            "online_queue": float(len(self.queue)),
        }

    def state_dict(self) -> dict:
        # Only the filled prefix of the ring is saved: a worker's slots in use are < min(count, cap).
        # The arrays are views into the live buffer (no multi-GB copy), like torch's state_dict:
        # save them before adding more steps.
        filled = int(self._stored().max())
        data = {k: v.reshape(self.workers, self.cap, *v.shape[1:])[:, :filled] for k, v in self.data.items()}
        return {
            "capacity": self.capacity,
            "length": self.length,
            "workers": self.workers,
            "online": self.online,
            "data": data,
            "counts": self.counts.copy(),
            "queue": [list(q) for q in self.queue],
            "inserts": self.inserts,
            "samples": self.samples,
            "rng": self.rng.bit_generator.state,  # nested dict of plain (big) ints and strings
        }

    def load_state_dict(self, state: dict) -> None:
        for name in ("capacity", "length", "workers"):
            if state[name] != getattr(self, name):
                raise ValueError(f"Replay.load_state_dict: {name} is {state[name]} in the state, "
                                 f"{getattr(self, name)} here; build the replay with the saved settings")
        missing = set(self.spaces) - set(state["data"])
        if missing:
            raise KeyError(f"Replay.load_state_dict: state lacks keys {sorted(missing)}")
        for key, arr in self.data.items():
            saved = np.asarray(state["data"][key])
            ring = arr.reshape(self.workers, self.cap, *arr.shape[1:])  # view into self.data
            # Slots past the saved prefix are unreachable until rewritten, so they need no clearing.
            ring[:, : saved.shape[1]] = saved
        self.online = bool(state["online"])
        self.counts = np.asarray(state["counts"], np.int64).copy()
        self.queue = collections.deque((tuple(map(int, q)) for q in state["queue"]), maxlen=QUEUE_LIMIT)
        self.inserts = int(state["inserts"])
        self.samples = int(state["samples"])
        self.rng.bit_generator.state = state["rng"]


# ---------------------------------------------------------------------------------------- browsing (the app's)


@dataclass(frozen=True)
class EpisodeInfo:
    """One episode (or the stored part of one) in replay: worker `worker`'s stream steps start .. start+length-1."""

    worker: int
    start: int  # absolute stream step of its first stored step
    length: int  # stored steps
    ret: float  # sum of the stored rewards
    end_frames: int  # env frames when its last stored step was collected
    whole_start: bool  # it begins with is_first (False: its beginning was overwritten, or it began before replay)
    ended: bool  # its last step is is_last (False: the episode in flight)


def replay_episodes(replay: Replay, env_frames: int = 0, frames_per_step: int = 1) -> list[EpisodeInfo]:
    """The episodes replay holds, oldest first per worker, from `is_first` / `is_last` and `reward`. `env_frames`:
    the run's env frames now (after the newest stored step); `frames_per_step`: env frames per stream step
    (envs * action_repeat), so each episode's end is dated in env frames."""
    out: list[EpisodeInfo] = []
    stored = replay._stored()  # (W,)
    for w in range(replay.workers):
        n = int(stored[w])
        if n == 0:
            continue
        t = np.arange(int(replay.counts[w]) - n, int(replay.counts[w]))  # (n,) stream steps, oldest first
        rows = w * replay.cap + t % replay.cap  # (n,)
        first = replay.data["is_first"][rows].astype(bool)  # (n,)
        last = replay.data["is_last"][rows].astype(bool) if "is_last" in replay.data else np.zeros(n, bool)  # (n,)
        # A step after an is_last starts a new episode too (the env was reset), whether or not it says so.
        begins = first.copy()  # (n,)
        begins[0] = True
        begins[1:] |= last[:-1]
        starts = np.flatnonzero(begins)  # (episodes,)
        ends = np.append(starts[1:], n) - 1  # (episodes,) inclusive
        reward = replay.data["reward"][rows].astype(np.float64) if "reward" in replay.data else np.zeros(n)  # (n,)
        returns = np.add.reduceat(reward, starts)  # (episodes,)
        for s, e, r in zip(starts, ends, returns):
            end_frames = env_frames - (int(replay.counts[w]) - int(t[e])) * frames_per_step
            out.append(EpisodeInfo(w, int(t[s]), int(e - s + 1), float(r), max(0, end_frames), bool(first[s]),
                                   bool(last[e])))
    return out


def episode_window(replay: Replay, worker: int, start: int, length: int, context: int) -> dict[str, np.ndarray]:
    """A report batch (1, K + T, ...) of `length` = K + T steps whose steps after the first `context` (K) begin at
    stream step `start` of `worker` (an episode's first step), moved as little as needed to lie within what replay
    holds; an episode with fewer than K stored steps before it (the stream's first) repeats its first step as the
    context, which its is_first makes unread."""
    stored = int(replay._stored()[worker])
    if stored < length:
        raise RuntimeError(f"episode_window: worker {worker} holds {stored} steps, fewer than the {length} of a "
                           "report window")
    oldest = int(replay.counts[worker]) - stored
    if not oldest <= start < int(replay.counts[worker]):
        raise ValueError(f"episode_window: stream step {start} of worker {worker} is no longer in replay "
                         f"(it holds steps {oldest} .. {int(replay.counts[worker]) - 1})")
    body = length - context  # T
    row = worker * replay.cap + start % replay.cap
    if start - context < oldest and start + body <= int(replay.counts[worker]) and replay.data["is_first"][row]:
        # No K steps precede it (e.g. the stream's first episode): is_first resets the carry and the action before
        # it, so the context is never read; repeating the first step keeps the T steps at the episode's start.
        steps = replay._gather(np.array([worker]), np.array([start]), body)  # (1, T, ...)
        return {k: np.concatenate([np.repeat(v[:, :1], context, 1), v], 1) for k, v in steps.items()}  # (1, K+T)
    begin = min(max(start - context, oldest), int(replay.counts[worker]) - length)
    return replay._gather(np.array([worker]), np.array([begin]), length)


def report_from_episode(trainer, worker: int, start: int, **kwargs):
    """`Trainer.report`'s report, on the window of the replay episode that starts at `start` (stream step) of
    `worker` instead of the newest one (None when that step has left replay); `kwargs` as for make_report (seed,
    samples, horizon, temperature)."""
    from dreamer_core.report import make_report

    run = trainer.config.run
    k = trainer.config.train.replay_context
    replay = trainer.replay
    if not int(replay.counts[worker]) - int(replay._stored()[worker]) <= start < int(replay.counts[worker]):
        return None  # the episode has left replay since it was listed
    batch = episode_window(trainer.replay, worker, start, run.report_length + k, k)
    kwargs.setdefault("seed", run.seed)
    kwargs["samples"] = kwargs.get("samples") or run.report_samples
    report = make_report(trainer.agent, batch, updates=trainer.updates, env_frames=trainer.counters.env_frames,
                         vector_scale=trainer.vector_scale_now(), **kwargs)
    report.episode = (int(worker), int(start))
    return report
