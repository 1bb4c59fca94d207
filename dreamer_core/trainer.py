"""The act / store / train loop as small steps a caller drives (the headless CLI, the Studio worker, tests).

One `Trainer.step()` = one policy step in every env, the step stored in replay, and as many updates as the train
ratio has earned (replayed steps per agent step; updates per agent step = train_ratio / (B*T), as officially).
Nothing here blocks on a GUI or sleeps; cadences (logging, reports, checkpoints) are wall-clock and cheap to check.
"""

from __future__ import annotations

import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dreamer_core import checkpoint, confidence, distributed, env_steps, episode, threads
from dreamer_core.agent import Agent, read_metrics
from dreamer_core.config import Config
from dreamer_core.envs import is_log_key, make_envs
from dreamer_core.logdir import CHECKPOINT_NAME, LogdirLock, set_aside, truncate_logs
from dreamer_core.paths import writable_dir
from dreamer_core.faults import EnvFailures, EnvRestarts, JsonlWriter, RunStopped, count_skip
from dreamer_core.models import model_state, refuse_model_dir
from dreamer_core.replay import Replay
from dreamer_core.report import Report, make_report
from dreamer_core.tensorboard_log import TensorBoardLog, summary_writer_class


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("run.device is 'cuda' but torch sees no CUDA device; use run.device=cpu or auto")
    return torch.device(name)


@dataclass
class Counters:
    agent_steps: int = 0  # policy steps summed over envs
    env_frames: int = 0  # agent steps times action repeat (the x-axis of published curves)
    episodes: int = 0
    train_credit: float = 0.0
    env_restarts: int = 0  # envs rebuilt after raising; also picks a rebuilt env's seed, so resumes agree


@dataclass
class StepInfo:
    """What one `Trainer.step()` did, for progress lines and the GUI's live scalars (the counters are on the
    trainer)."""

    trained: int  # updates done in this step
    scores: list[float] = field(default_factory=list)  # returns of episodes that ended in this step
    train_metrics: dict[str, float] | None = None


def enable_compile(agent: Agent) -> str:
    """Compiles the agent's hot loops if torch.compile works here (a tiny probe compiles first, so a missing C++
    compiler shows up now rather than mid-run). Returns a one-line note for the user."""
    try:
        probe = torch.compile(lambda x: torch.sigmoid(x) * 2.0 - 1.0, dynamic=False)
        probe(torch.zeros(4, device=agent.device))
    except Exception as exc:  # noqa: BLE001 - any backend failure means "train eagerly"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"torch.compile is unavailable here ({first[:160]}); training without it"
    agent.compile_hot_loops()
    return "torch.compile on: the first update compiles the RSSM and imagination steps (20-90 s)"


class Trainer:
    def __init__(self, config: Config, logdir: str | Path | None = None, resume: bool = True):
        if logdir:  # a bad --logdir is one line now, not a traceback after the envs and model are built
            refuse_model_dir(Path(logdir))
            writable_dir(logdir, "run directory", "pass another --logdir")
        self.config = config
        run = config.run
        if run.tensorboard:
            summary_writer_class()  # missing tensorboard: one line saying how to install it, before anything runs
        self.threads = threads.ThreadTuner(run.threads)  # a fixed count, or "auto" re-timed as it trains
        self.device = pick_device(run.device)
        self.world = distributed.init(self.device)  # torchrun's rank and world size; a lone process is rank 0 of 1
        if self.world.size > 1:
            config = self.config = distributed.rank_config(config, self.world)  # this rank's seeds (see there)
            run = config.run
            if self.device.type == "cuda":
                self.device = torch.device("cuda", self.world.local_rank)  # one GPU per rank, as torchrun assigns
        random.seed(run.seed)
        np.random.seed(run.seed)
        torch.manual_seed(run.seed)
        self.gen = torch.Generator(self.device).manual_seed(run.seed)
        self.envs = make_envs(config.env, [run.seed + i for i in range(run.envs)], parallel=run.parallel)
        env = self.envs[0]
        self.agent = Agent(config, env.obs_space, env.act_space, self.device)
        distributed.broadcast_module(self.agent)  # DDP: every rank starts from rank 0's weights
        self.compile_note = ""
        if run.compile:
            self.compile_note = enable_compile(self.agent)
        t = config.train
        self.window = t.batch_length + t.replay_context
        spaces = {k: (s.shape, s.dtype) for k, s in env.obs_space.items()}
        spaces["action"] = (env.act_space.shape, np.float32)
        spaces["deter"] = ((config.model.deter,), np.float32)
        spaces["stoch"] = ((config.model.stoch, config.model.classes), np.float32)
        self.replay = Replay(spaces, run.replay_size, self.window, workers=run.envs, online=run.online_queue,
                             seed=run.seed)
        self.counters = Counters()
        # (V,) the open-loop signal's vector scale when it must not come from this replay: a shipped model's, from
        # its training replay (a viewer's replay holds one short fresh context; models.load_into sets it)
        self.vector_scale: np.ndarray | None = None
        self.carry = self.agent.initial_carry(run.envs)
        self.obs = env_steps.stack([e.step(None, reset=True) for e in self.envs])
        self.episode_return = np.zeros(run.envs)
        self.episode_length = np.zeros(run.envs, np.int64)
        self.scores: deque[tuple[int, float]] = deque(maxlen=10_000)  # (env_frames, return)
        self.row_listeners: list[Callable[[dict[str, float]], None]] = []  # each called with every row as it is logged
        self._pending: dict[str, list[float]] = {}
        self._rank_scores: list[dict[str, Any]] = []  # DDP: this rank's scores.jsonl rows until the next log
        self._last_log = self._last_save = self._last_watch = time.time()
        self._watch_updates = 0  # updates in the last watch snapshot: none is written before training starts
        self._reports_made = 0  # picks the env whose window the next report shows (run.report_batch)
        self._rate_mark = (time.time(), 0, 0)  # (time, agent_steps, updates) for fps figures
        self.rates = {"fps/policy": 0.0, "fps/updates": 0.0}
        self.notes: list[str] = list(dict.fromkeys(n for e in self.envs if (n := getattr(e, "note", ""))))
        # ^ warnings for the caller to show once (see take_notes); an env's own note first
        self._writers: dict[str, JsonlWriter] = {}
        self.env_failures = EnvRestarts(run.env_failures, run.env_failure_window)
        self.skip_streak = 0  # non-finite (skipped) updates in a row
        self._first_skip: tuple[int, str] | None = None  # (env frames, what went non-finite) of this streak
        self._stop: RunStopped | None = None  # found mid-step, raised once the step is complete
        self._broken: EnvFailures | None = None  # an env could not be rebuilt: every later step raises this
        self.logdir = Path(logdir) if logdir else None
        self.resumed_from: Path | None = None
        self.checkpoint_frames: int | None = None  # env frames in the logdir's latest.ckpt (None: none written)
        self.set_aside_to: Path | None = None  # where a fresh start moved the previous run's files
        self._lock: LogdirLock | None = None
        self._tb: TensorBoardLog | None = None  # run.tensorboard: events beside metrics.jsonl
        if self.logdir and not self.world.is_main:  # DDP: rank 0 owns the run directory; the others only resume
            distributed.join_run(self)
        elif self.logdir:
            refuse_model_dir(self.logdir)  # a trained model's directory is read-only
            self.logdir.mkdir(parents=True, exist_ok=True)
            self._lock = LogdirLock(self.logdir, claim=False)  # claimed once the start is accepted
            accepted = False
            try:
                ckpt = self.logdir / CHECKPOINT_NAME
                (resuming,) = distributed.rank0_decides(self.world, resume and ckpt.exists())  # DDP: all or none
                if resuming:  # a refusal (another world size, task or shape) raises here, before any write
                    self.load(ckpt)
                accepted = True
                self._lock.claim()
                # A previous process's watch snapshot may be past the checkpoint resumed below, or of a replaced run
                (self.logdir / checkpoint.WATCH_NAME).unlink(missing_ok=True)
                if resuming:
                    self.resumed_from = ckpt
                    self.checkpoint_frames = self.counters.env_frames
                    truncate_logs(self.logdir, self.counters.env_frames)  # the run redoes the frames past it
                elif not resume:
                    self.set_aside_to = set_aside(self.logdir)
                (self.logdir / "config.json").write_text(config.to_json())
                self._open_tensorboard()
            except BaseException:
                if not accepted:  # a refused start leaves the run directory as it was, the lock file's text too
                    self._lock.release(restore=True)
                self.close()
                raise

    def adopt_logdir(self, logdir: str | Path) -> None:
        """Gives a trainer built without a logdir (a watched run, a loaded checkpoint) one from now on: it locks
        the directory, writes config.json there and saves and logs there. The directory must not hold a run."""
        if self.logdir is not None:
            raise ValueError(f"this trainer already writes {self.logdir}")
        logdir = Path(logdir)
        refuse_model_dir(logdir)
        writable_dir(logdir, "run directory", "pick another directory")
        lock = LogdirLock(logdir, claim=False)
        if (logdir / CHECKPOINT_NAME).exists():
            lock.release(restore=True)  # refused: that run's directory stays as it was
            raise ValueError(f"{logdir} already holds a run ({CHECKPOINT_NAME}); pick an empty directory")
        lock.claim()
        self._lock, self.logdir = lock, logdir
        (logdir / "config.json").write_text(self.config.to_json())
        self._open_tensorboard()

    def _open_tensorboard(self) -> None:
        if self.config.run.tensorboard:  # a resume hides the events past its checkpoint, as truncate_logs does
            self._tb = TensorBoardLog(self.logdir, self.config, self.counters.env_frames if self.resumed_from else None)

    # -- properties ----------------------------------------------------------------------------------------------
    @property
    def updates(self) -> int:
        return self.agent.updates

    @property
    def train_fill(self) -> int:
        t = self.config.train
        return self.config.run.train_fill or t.batch_size * t.batch_length

    @property
    def done(self) -> bool:
        return self.counters.agent_steps >= self.config.run.steps

    # -- the loop ------------------------------------------------------------------------------------------------
    def take_notes(self) -> list[str]:
        """Warnings since the last call (an env rebuilt, a log file that cannot be written), each said once."""
        notes = list(self.notes)
        self.notes.clear()  # in place: the log writers hold self.notes.append
        return notes

    def step(self) -> StepInfo:
        """One policy step in every env, stored, plus the updates the train ratio has earned.

        An env that raises is rebuilt and its episode ended (see faults.py). Raises `RunStopped` after a complete,
        consistent step when the run cannot usefully go on (too many env failures or non-finite updates): the
        caller saves and says why."""
        if self._broken is not None:  # an env that could not be rebuilt: stepping on would store steps twice
            raise self._broken
        action_np = env_steps.act_and_store(self)  # (B, A)
        scores = env_steps.track_episodes(self)
        env_steps.step_envs(self, action_np)
        n = len(self.envs)
        self.counters.agent_steps += n * self.world.size  # the run's totals: under DDP every rank steps n envs
        self.counters.env_frames += n * self.world.size * self.config.env.action_repeat

        trained, metrics = 0, None
        if self.replay.steps >= self.train_fill:
            t = self.config.train
            self.counters.train_credit += n * self.config.run.train_ratio / (t.batch_size * t.batch_length)
            while self.counters.train_credit >= 1.0:
                metrics = self.train_once()
                self.counters.train_credit -= 1.0  # spent only once the update is done
                trained += 1
        self._update_rates()
        self._maybe_log()
        self._maybe_watch_snapshot()
        if distributed.any_rank(self.world, self._stop is not None):  # DDP: one rank's stop stops them all
            stop = self._stop or RunStopped("another rank of this run had to stop; its output says why")
            self._stop = None
            raise stop
        return StepInfo(trained, scores, metrics)

    def train_once(self) -> dict[str, float]:
        """One update on a replay batch; refreshed latents go back into replay. A skipped (non-finite) update
        writes nothing back: its latents may be NaN."""
        t = self.config.train
        batch = self.replay.sample(t.batch_size)
        index = batch.pop("index")  # (B, K+T, 2)
        data = self.agent.to_tensors({k: v for k, v in batch.items() if not is_log_key(k)})
        states, metrics = self.agent.train_step(data, self.gen)
        metrics = read_metrics(metrics)  # the update's one wait for the device: every metric in one copy
        self.threads.after_update()
        if metrics["finite"]:
            self.skip_streak, self._first_skip = 0, None
            self.replay.update(index[:, t.replay_context :], {"deter": states.deter.cpu().numpy(),
                                                               "stoch": states.stoch.cpu().numpy()})
        else:
            count_skip(self)
        for key, value in metrics.items():
            self._pending.setdefault("train/" + key, []).append(value)
        return metrics

    # -- logging -------------------------------------------------------------------------------------------------
    def _update_rates(self) -> None:
        """Refreshes `rates` (agent steps/s, updates/s) about once a second."""
        now = time.time()
        then, steps, updates = self._rate_mark
        if now - then >= 1.0:
            self.rates = {"fps/policy": (self.counters.agent_steps - steps) / (now - then),
                          "fps/updates": (self.updates - updates) / (now - then)}
            self._rate_mark = (now, self.counters.agent_steps, self.updates)

    def restart_rates(self, forget: bool = False) -> None:
        """Measures `rates` from now on, so none spans a pause or a jump of the counters (a load); `forget` also
        zeroes the figures shown until the next one is measured."""
        self._rate_mark = (time.time(), self.counters.agent_steps, self.updates)
        self.threads.forget_window()
        if forget:
            self.rates = dict.fromkeys(self.rates, 0.0)

    def _maybe_log(self, force: bool = False) -> dict[str, float] | None:
        now = time.time()
        due = force or now - self._last_log >= self.config.run.log_every
        if not force:  # DDP: rank 0's clock decides for all, as the row gathers every rank's values
            (due,) = distributed.rank0_decides(self.world, due)
        if not due:
            return None
        self._last_log = now
        self._update_rates()
        row: dict[str, float] = {"step": self.counters.env_frames, "agent_steps": self.counters.agent_steps,
                                 "updates": self.updates, "episodes": self.counters.episodes, "time": now,
                                 "env/restarts": self.counters.env_restarts}
        row.update(self.rates)
        row.update({k: float(np.mean(v)) for k, v in self._pending.items()})
        stats = self.replay.stats()
        row.update({f"replay/{k}": float(v) for k, v in stats.items()})
        if self.world.size > 1:  # DDP: the run's row (over all ranks) on rank 0, none elsewhere; every rank's scores
            row, scores = distributed.reduce_row(self.world, row, self._pending, self._rank_scores)
            self._rank_scores.clear()
            for score in scores:
                self._append_jsonl("scores.jsonl", score, gathered=True)
        self._pending.clear()
        if row is None:
            return None
        for listener in self.row_listeners:
            listener(row)
        for writer in self._writers.values():  # rows a full disk held back
            writer.retry()
        self._append_jsonl("metrics.jsonl", row)
        if self._tb is not None:
            self._tensorboard(row)
        return row

    def _append_jsonl(self, name: str, row: dict[str, Any], gathered: bool = False) -> None:
        """Whole lines or nothing; a full disk is said once and retried while training goes on (faults.py).
        Under DDP only rank 0 writes: score rows wait for the next metrics row, which gathers them (`gathered`)."""
        if self.world.size > 1 and name == "scores.jsonl" and not gathered:
            self._rank_scores.append(row)
        elif self.logdir and self.world.is_main:
            if name not in self._writers:
                self._writers[name] = JsonlWriter(self.logdir / name, self.notes.append)
            self._writers[name].append(row)

    def flush(self) -> None:
        self._maybe_log(force=True)

    # -- reports -------------------------------------------------------------------------------------------------
    def report(self, seed: int | None = None, samples: int | None = None, horizon: int | None = None,
               temperature: float = 1.0) -> Report | None:
        """A `Report` on a fresh replay window (None until replay holds one): the newest window of one env, taking
        the first `run.report_batch` envs in turn, so a run of several envs shows each of them."""
        run = self.config.run
        length = run.report_length + self.config.train.replay_context
        if self.replay.steps < length + 1 or len(self.replay) == 0:
            return None
        worker = self._reports_made % min(run.report_batch, run.envs)
        self._reports_made += 1
        batch = self.replay.recent(length, worker)  # the newest window: shows what the agent does now
        began = time.perf_counter()
        report = make_report(self.agent, batch, seed=run.seed if seed is None else seed,
                             samples=run.report_samples if samples is None else samples,
                             horizon=horizon, temperature=temperature, updates=self.updates,
                             env_frames=self.counters.env_frames, vector_scale=self.vector_scale_now())
        if self._tb is not None:
            self._tb.report(report, time.perf_counter() - began, run.report_every)
        return report

    def _tensorboard(self, row: dict[str, float]) -> None:
        """A metrics row to TensorBoard, and, when one is due, a report for its image: the headless CLI makes no
        reports of its own (the app's reports land there too)."""
        self._tb.scalars(row)
        if self._tb.report_due():
            self.report()

    # -- checkpoints ---------------------------------------------------------------------------------------------
    def save(self, path: str | Path | None = None) -> Path:
        if path is None:
            if not self.logdir:
                raise ValueError("save() needs a path when the trainer has no logdir")
            path = self.logdir / CHECKPOINT_NAME
        state = {
            "config": self.config.to_json(),
            "agent": self.agent.state_dict_full(),
            "replay": self.replay.state_dict(),
            "counters": vars(self.counters).copy(),
            "scores": [list(s) for s in self.scores],
            "rng": {"torch": torch.get_rng_state(), "gen": self.gen.get_state(),
                    "numpy": np.random.get_state()[1], "numpy_pos": int(np.random.get_state()[2])},
            "episode": episode.capture(self),  # the episode in flight: a resume continues it exactly
            "world_size": self.world.size,  # a resume needs as many processes (trainer_state.for_rank)
        }
        if self.world.size > 1:  # DDP: rank 0 saves every rank's own part (replay shard, envs, RNG) in one file
            state["ranks"] = distributed.gather_rank_parts(self.world, state)
        if self.world.is_main:
            checkpoint.save(path, state)
        self._last_save = time.time()
        if self.logdir and Path(path) == self.logdir / CHECKPOINT_NAME:
            self.checkpoint_frames = self.counters.env_frames
        return Path(path)

    def intact_checkpoint(self) -> str:
        """What a failed save leaves behind, for its error message."""
        if self.checkpoint_frames is None:
            return "no earlier checkpoint of this run exists"
        return f"the previous checkpoint, at {self.checkpoint_frames:,} env frames, is intact"

    def save_due(self) -> bool:
        due = self.logdir is not None and time.time() - self._last_save >= self.config.run.save_every
        return distributed.rank0_decides(self.world, due)[0]  # DDP: a save gathers every rank's shard

    def vector_scale_now(self) -> np.ndarray | None:
        """(V,) the open-loop signal's vector scale: a loaded model's (`vector_scale`), else this replay's."""
        if self.vector_scale is not None:
            return self.vector_scale
        return confidence.replay_vector_scale(self.replay, sorted(self.agent.vector_dims))

    def save_watch(self) -> None:
        """`<logdir>/watch.ckpt` for a watching Studio between checkpoints: weights, return normaliser and counters
        (models.model_state; no replay or optimizer, ~3 MB at size1m). Resume never reads it."""
        a = self.agent
        agent = {"model": a.state_dict(), "retnorm": a.retnorm.state_dict(), "updates": a.updates,
                 "skipped": a.skipped_updates}
        full = {"config": self.config.to_json(), "agent": agent, "counters": vars(self.counters), "scores": self.scores}
        state = model_state(full, vector_scale=self.vector_scale_now())  # a watcher's replay is one short context
        checkpoint.save(self.logdir / checkpoint.WATCH_NAME, {**state, "saved_at": time.time()})
        self._watch_updates = a.updates

    def _maybe_watch_snapshot(self) -> None:
        every = self.config.run.watch_every
        if self.logdir and self.world.is_main and every and self.updates != self._watch_updates \
                and time.time() - self._last_watch >= every:  # DDP: rank 0 alone writes the run directory
            self._last_watch = time.time()
            try:
                self.save_watch()
            except checkpoint.SAVE_ERRORS as exc:  # a full disk: watchers see older weights, training goes on
                self.notes.append(f"could not write {checkpoint.WATCH_NAME} for watchers ({exc}); retrying in "
                                  f"{every:g} s")

    def postpone_save(self, seconds: float) -> None:
        """After a failed periodic save (disk full, say): try again in `seconds` rather than every step."""
        self._last_save = time.time() - self.config.run.save_every + seconds

    def load(self, path: str | Path, any_world_size: bool = False) -> None:
        """Swaps in a checkpoint's state, all or nothing (trainer_state.check). A checkpoint of a DDP run resumes
        only with as many processes; `any_world_size` (viewers: a watching Studio, export) takes its rank 0 part."""
        # Everything loads to the CPU first: parameters and optimizer state are copied onto the device by
        # load_state_dict, and the replay (gigabytes) stays in host memory where it lives.
        from dreamer_core import trainer_state

        state = checkpoint.load(path, map_location="cpu")
        state = trainer_state.for_rank(state, self.world, path, any_world_size)  # DDP: this rank's shard
        # The episode in flight must fit too (its envs' states are opaque: a misfit there resets the envs).
        in_flight = {**episode.capture(self), "envs": [None] * len(self.envs)}
        checked = trainer_state.check(state, self, path, optional={"episode": in_flight})  # all, before any swap
        self.agent.load_state_dict_full(state["agent"])
        self.agent.apply_optimizer_config()  # this run's train.lr etc., not the values saved with the optimizer
        self.replay.load_state_dict(state["replay"])
        self.replay.online = self.config.run.online_queue
        for key, value in vars(checked["counters"]).items():
            setattr(self.counters, key, value)
        self.scores = deque(checked["scores"], maxlen=self.scores.maxlen)
        rng = checked["rng"]
        torch.set_rng_state(rng["torch"])
        if rng["gen"].numel() == self.gen.get_state().numel():
            self.gen.set_state(rng["gen"])
        else:  # saved on another device type (a CUDA run opened on a CPU machine): its state does not fit here
            self.gen.manual_seed(int(torch.randint(2**62, (1,)).item()))
        np.random.set_state(("MT19937", np.asarray(rng["numpy"], np.uint32), int(rng["numpy_pos"]), 0, 0.0))
        episode.restore(self, state.get("episode"))  # or, from an older checkpoint, reset the envs
        self.restart_rates()  # no rate across the jump

    def close(self) -> None:
        for env in self.envs:
            env.close()
        self.envs = []
        if self._tb is not None:
            self._tb.close()
            self._tb = None
        if self._lock is not None:
            self._lock.release()
