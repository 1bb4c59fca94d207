"""Envs in worker processes (`run.parallel = true`): one process per env, spoken to over a pipe.

`EnvWorker` is a proxy with the `Env` contract (`obs_space`, `act_space`, `step(action, reset)`, `close`,
`get_state` / `set_state`), so the trainer, faults.py and episode.py treat it as any env. The worker builds its
env with `make_env(config, seed)`, the same call and seed as an in-process env, so a parallel run sees the same
observations. Workers are started with the "spawn" method: a MuJoCo / EGL context must never be forked, and spawn
leaves no server process behind (forkserver would), so `close()` leaves no child process.

Errors: an exception the worker's env raises is re-raised here with the same type and message (the worker's
traceback is attached as a note), so faults.py rebuilds the env as it does in process, which starts a new worker.
A worker that dies (killed, out of memory, a segfault in a native library) raises `EnvWorkerDied`, a
RuntimeError, on the next call: an env crash like any other.

Concurrency: `step_async` sends an action and returns, `step_wait` collects the result; `start_step` (used by the
trainer) sends to every worker before it gathers any, so N envs step at once.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import pickle
import signal
import traceback
import weakref
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from ..config import EnvConfig
    from .base import Env

START_METHOD = "spawn"
CLOSE_TIMEOUT = 5.0  # s a worker gets to close its env before it is terminated


class EnvWorkerDied(RuntimeError):
    """The env's worker process is gone (killed, crashed): treated as an env crash."""


def _portable(exc: BaseException) -> BaseException:
    """`exc` itself when it survives pickling with its type and message, else a RuntimeError naming both; with the
    worker's traceback attached as a note."""
    text = "".join(traceback.format_exception(exc)).rstrip()
    try:
        copy = pickle.loads(pickle.dumps(exc))
        if type(copy) is not type(exc) or str(copy) != str(exc):
            raise TypeError("changed by pickling")
    except Exception:  # noqa: BLE001 - an exception type that does not pickle
        copy = RuntimeError(f"{type(exc).__name__}: {exc}")
    copy.__traceback__ = None
    if hasattr(copy, "add_note"):
        copy.add_note(f"raised in env worker process {os.getpid()}:\n{text}")
    return copy


def _work(conn: Any, config: EnvConfig, seed: int) -> None:
    """The worker's loop: build the env, then answer ("step" | "get_state" | "set_state" | "close", args)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the trainer's: it saves, then closes its workers
    from dreamer_core.envs import make_env

    try:
        env = make_env(config, seed)
    except Exception as exc:  # noqa: BLE001 - said in the trainer, as an in-process make_env would
        conn.send(("error", _portable(exc)))
        return
    try:
        conn.send(("ok", (env.obs_space, env.act_space, getattr(env, "note", ""), getattr(env, "name", ""))))
        while True:
            try:
                cmd, args = conn.recv()
            except (EOFError, OSError):  # the trainer is gone
                break
            if cmd == "close":
                break
            try:
                if cmd == "step":
                    result: Any = env.step(args[0], reset=args[1])
                elif cmd == "get_state":
                    result = env.get_state() if hasattr(env, "get_state") else None
                elif cmd == "set_state":
                    result = env.set_state(args[0])
                else:
                    raise ValueError(f"unknown env worker command {cmd!r}")
            except Exception as exc:  # noqa: BLE001 - re-raised in the trainer
                conn.send(("error", _portable(exc)))
            else:
                conn.send(("ok", result))
    finally:
        try:
            env.close()
        finally:
            try:
                conn.send(("ok", None))  # the answer to "close"
            except (OSError, ValueError):
                pass
            conn.close()


class EnvWorker:
    """An env in its own process, behind the `Env` contract. Call `ready()` (or any method) to wait until it is
    built; `make_envs` starts all workers before waiting for any."""

    def __init__(self, config: EnvConfig, seed: int) -> None:
        ctx = mp.get_context(START_METHOD)
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_work, args=(child, config, seed), name=f"dreamer-env-{seed}", daemon=True)
        self._proc.start()
        child.close()  # only the worker holds its end: its death is an EOF here
        self.pid = self._proc.pid
        self._built = False
        self._waiting = False
        self._closed = False
        self.obs_space: dict[str, Any] = {}
        self.act_space: Any = None
        self.note, self.name = "", config.task
        # A worker never closed (a trainer whose construction failed after its envs were built) ends with its proxy.
        self._reaper = weakref.finalize(self, _reap, self._proc, self._conn)

    def ready(self) -> EnvWorker:
        if not self._built:
            self.obs_space, self.act_space, self.note, self.name = self._receive()
            self._built = True
        return self

    # The Env contract.
    def step(self, action: np.ndarray | None, reset: bool) -> dict[str, np.ndarray]:
        self.step_async(action, reset)
        return self.step_wait()

    def step_async(self, action: np.ndarray | None, reset: bool) -> None:
        self.ready()
        self._send("step", (None if action is None else np.asarray(action), bool(reset)))
        self._waiting = True

    def step_wait(self) -> dict[str, np.ndarray]:
        self._waiting = False
        return self._receive()

    def get_state(self) -> dict[str, Any] | None:
        self._call_ready()
        self._send("get_state", ())
        return self._receive()

    def set_state(self, state: dict[str, Any]) -> None:
        self._call_ready()
        self._send("set_state", (state,))
        self._receive()

    def close(self) -> None:
        """Closes the env and ends the process (terminated, then killed, if it does not end in time). Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._reaper.detach()
        try:
            if self._proc.is_alive():
                self._conn.send(("close", ()))
                while self._conn.poll(CLOSE_TIMEOUT):  # a pending step's answer, the close's, then EOF
                    self._conn.recv()
        except (EOFError, OSError):
            pass
        self._proc.join(CLOSE_TIMEOUT)
        if self._proc.is_alive():
            self._proc.terminate()
            self._proc.join(CLOSE_TIMEOUT)
        if self._proc.is_alive():
            self._proc.kill()
            self._proc.join()
        self._conn.close()
        self._proc.close()

    # Plumbing.
    def _call_ready(self) -> None:
        self.ready()
        if self._waiting:  # a step was sent and never collected (its env was rebuilt): drop its answer
            self.step_wait()

    def _died(self) -> EnvWorkerDied:
        self._proc.join(1.0)
        code = self._proc.exitcode
        how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"
        return EnvWorkerDied(f"the env worker process {self.pid} ({self.name}) died ({how})")

    def _send(self, cmd: str, args: tuple) -> None:
        if self._closed:
            raise RuntimeError(f"{self.name}: the env worker is closed")
        try:
            self._conn.send((cmd, args))
        except (OSError, ValueError) as exc:  # BrokenPipeError: the worker is gone
            raise self._died() from exc

    def _receive(self) -> Any:
        if self._closed:
            raise RuntimeError(f"{self.name}: the env worker is closed")
        try:
            while not self._conn.poll(1.0):
                if not self._proc.is_alive() and not self._conn.poll(0):
                    raise EOFError
            status, value = self._conn.recv()
        except (EOFError, OSError) as exc:
            raise self._died() from exc
        if status == "error":
            raise value
        return value


def _reap(proc: Any, conn: Any) -> None:
    conn.close()  # the worker sees EOF, closes its env and exits
    proc.join(CLOSE_TIMEOUT)
    if proc.is_alive():
        proc.kill()
        proc.join()


def make_envs(config: EnvConfig, seeds: Sequence[int]) -> list[EnvWorker]:
    """One worker per seed, all started before any is waited for; a worker that fails to build its env closes the
    others and its exception is raised."""
    workers: list[EnvWorker] = []
    try:
        workers = [EnvWorker(config, seed) for seed in seeds]
        for worker in workers:
            worker.ready()
    except BaseException:
        for worker in workers:
            worker.close()
        raise
    return workers


def start_step(env: Env, action: np.ndarray, reset: bool) -> Callable[[], dict[str, np.ndarray]]:
    """Starts `env.step(action, reset=reset)`: a worker is sent the action now; an in-process env steps when the
    returned function is called (as before). Calling it returns the step's result or raises the env's error."""
    if isinstance(env, EnvWorker):
        try:
            env.step_async(action, reset)
        except Exception as exc:  # noqa: BLE001 - raised when the result is collected, where faults.py handles it
            error = exc

            def fail() -> dict[str, np.ndarray]:
                raise error

            return fail
        return env.step_wait
    return lambda: env.step(action, reset=reset)
