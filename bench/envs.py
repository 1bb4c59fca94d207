"""Env frames/s end to end, `Trainer.step()` with training off, for N envs in process or in worker processes.

    nice -n 19 .venv/bin/python bench/envs.py [--task dmc_cartpole_balance] [--envs 1 2 4 8]
        [--obs proprio vision] [--seconds 10] [--preset size1m]

One `Trainer.step()` is the policy on the N observations at once, the replay insert and one step of every env
(action repeat 2 for dm_control: 2 physics steps, and for vision a rendered 64x64 frame, per agent step). Training
is off (train_fill 10**9): what is timed is the act / store / step loop an env-bound run spends its time in. The
trainer uses 1 torch thread; each config is warmed up for 40 steps (worker start-up and first resets excluded),
then timed for --seconds; in process and parallel alternate in going first. Prints a markdown table (not a test; figures vary by machine and load).
"""

from __future__ import annotations

import argparse
import os
import platform
import time

os.environ.setdefault("MUJOCO_GL", "egl")

import torch

from dreamer_core.config import make_config
from dreamer_core.trainer import Trainer

WARMUP = 40


def measure(task: str, obs: str, preset: str, envs: int, parallel: bool, seconds: float) -> float:
    config = make_config(task, obs, preset, {"run": {
        "steps": 10**9, "train_fill": 10**9, "log_every": 1e9, "report_every": 1e9, "save_every": 1e9,
        "watch_every": 0.0, "replay_size": 20_000, "envs": envs, "parallel": parallel, "threads": 1}})
    trainer = Trainer(config)
    try:
        for _ in range(WARMUP):
            trainer.step()
        assert trainer.updates == 0
        frames0, start = trainer.counters.env_frames, time.perf_counter()
        while time.perf_counter() - start < seconds:
            trainer.step()
        return (trainer.counters.env_frames - frames0) / (time.perf_counter() - start)
    finally:
        trainer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="dmc_cartpole_balance")
    parser.add_argument("--preset", default="size1m")
    parser.add_argument("--envs", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--obs", nargs="+", default=["proprio", "vision"])
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"load average before: {os.getloadavg()[0]:.2f}; {args.task}, preset {args.preset}, "
          f"{args.seconds:.0f} s per config\n")
    print("| obs | N | in process (frames/s) | parallel (frames/s) | parallel / in process |")
    print("|---|---|---|---|---|")
    rows: list[int] = []
    for obs in args.obs:
        for n in args.envs:
            first = bool(len(rows) % 2)  # alternate which goes first, so a warming machine favours neither
            rates = {p: measure(args.task, obs, args.preset, n, p, args.seconds) for p in (first, not first)}
            serial, parallel = rates[False], rates[True]
            rows.append(n)
            print(f"| {obs} | {n} | {serial:,.0f} | {parallel:,.0f} | {parallel / serial:.2f}x |", flush=True)
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
