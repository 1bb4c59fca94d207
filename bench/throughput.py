"""Prints updates/s and env steps/s of the real trainer pieces at B16 x T64 (not a test; figures vary by machine).

    python bench/throughput.py [--presets size1m] [--obs proprio vision] [--updates 8] [--threads 2]

Updates are timed on batches sampled from a replay filled by the untrained policy; env steps/s is the policy
step plus the env step plus the replay insert, exactly what `Trainer.step()` does without training.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import time

os.environ.setdefault("MUJOCO_GL", "egl")

import torch

from dreamer_core.config import make_config
from dreamer_core.trainer import Trainer


def measure(task: str, obs: str, preset: str, updates: int, env_steps: int, compile_: bool = False,
            overrides: dict[str, dict] | None = None) -> dict[str, float | str]:
    """Updates timed one by one on a replay the untrained policy filled (the first, with any compile, dropped),
    and `env_steps` policy + env + store steps. `overrides`: more config sections ({"run": {...}, "train": {...}},
    e.g. device, precision, batch) over the benchmark's own (a near-zero train ratio, so stepping trains nothing)."""
    run = {"steps": 10**9, "train_ratio": 1e-9, "log_every": 1e9, "compile": compile_}
    sections = {key: dict(value) for key, value in (overrides or {}).items()}
    sections["run"] = {**run, **sections.get("run", {})}
    config = make_config(task, obs, preset, sections)
    trainer = Trainer(config)
    fill = config.train.batch_size * (config.train.batch_length + 1)
    for _ in range(fill):  # collect with the untrained policy; the ratio is ~0 so no update runs
        trainer.step()
    start = time.perf_counter()
    for _ in range(env_steps):
        trainer.step()
    env_rate = env_steps / (time.perf_counter() - start) if env_steps else float("nan")
    t0 = time.perf_counter()
    trainer.train_once()  # warm-up update (and compile), dropped
    compile_s = time.perf_counter() - t0
    times = []
    for _ in range(updates):
        t0 = time.perf_counter()
        trainer.train_once()
        times.append(time.perf_counter() - t0)
    trainer.close()
    times.sort()
    return {"updates_per_s": 1 / statistics.median(times), "s_per_update": statistics.median(times),
            "p90_s": times[math.ceil(0.9 * len(times)) - 1], "env_steps_per_s": env_rate,
            "params": sum(trainer.agent.param_counts().values()), "first_update_s": compile_s,
            "precision": str(trainer.agent.compute_dtype).replace("torch.", "")}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--task", default="dmc_cartpole_balance")
    parser.add_argument("--presets", nargs="+", default=["size1m"])
    parser.add_argument("--obs", nargs="+", default=["proprio", "vision"])
    parser.add_argument("--updates", type=int, default=8)
    parser.add_argument("--env-steps", type=int, default=300)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--compile", action="store_true", help="run.compile=true (first update time reported)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, B16 x T64, task {args.task}, compile {'on' if args.compile else 'off'}")
    print("| preset | obs | params | updates/s | s/update | env steps/s (act + env + store) | first update s |")
    print("|---|---|---|---|---|---|---|")
    for preset in args.presets:
        for obs in args.obs:
            r = measure(args.task, obs, preset, args.updates, args.env_steps, args.compile)
            print(f"| {preset} | {obs} | {r['params']:,} | {r['updates_per_s']:.2f} | {r['s_per_update']:.2f} "
                  f"| {r['env_steps_per_s']:.0f} | {r['first_update_s']:.1f} |", flush=True)


if __name__ == "__main__":
    main()
