"""The GPU benchmark of issue #17 §3: ms per update at size1m proprio and size12m vision (B16 x T64) on
dm_control walker walk, and the end-to-end env frames/s of a real training loop, naming the device, the precision
and the settings. It runs on any device (a CPU too, as a smoke check); the figures the issue asks for come from a
GPU machine. Not a test: figures vary by machine.

    python bench/gpu.py [--device auto] [--precision auto] [--compile] [--updates 20] [--seconds 60] [--out f.json]

B x T is the peers' 16 x 64 unless --batch / --length say otherwise (a smoke check).

Updates: a trainer with a replay filled by the untrained policy; the first update (compile, cuDNN autotuning) is
timed on its own and dropped, then `--updates` updates are timed one by one to completion (each update's one
metrics copy waits for the device, so the time is the device's, not the launch's): median and 90th percentile.
End-to-end: the same trainer stepping (act, env, store, train at the task's train ratio) for `--seconds` after a
warm-up of as long: env frames/s and updates/s over that window. The peers' figures (issue #17):
the official JAX code 22 ms per size1m update on a GB200, TorchRL 11.3 ms with CUDA graphs; the issue's goals are
<= 10 ms (size1m) and <= 15 ms (size12m vision) on an H100/H200-class GPU.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from dreamer_core.config import make_config  # noqa: E402
from dreamer_core.trainer import Trainer  # noqa: E402

from bench import throughput  # noqa: E402  (bench/ is a namespace package under the repository root)

TASK = "dmc_walker_walk"  # the peers' benchmark task (TorchRL #4216/#4217 and the official timings)
CASES = (("size1m", "proprio"), ("size12m", "vision"))


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        return f"{props.name} ({props.total_memory / 2**30:.0f} GiB), CUDA {torch.version.cuda}"
    cpu = platform.processor() or platform.machine()
    return f"{cpu} CPU, {os.cpu_count()} cores, {torch.get_num_threads()} threads"


def overrides(args) -> dict[str, dict]:
    """The config sections the flags set: device, precision, compile, threads, B and T."""
    run = {"device": args.device, "precision": args.precision, "compile": args.compile, "log_every": 1e9,
           "report_every": 1e9, "save_every": 1e9, "watch_every": 0.0, "steps": 10**9}
    if args.threads:
        run["threads"] = args.threads
    return {"run": run, "train": {"batch_size": args.batch, "batch_length": args.length}}


def make_trainer(preset: str, obs: str, args) -> Trainer:
    """A trainer at the task's own train ratio, with the flags' settings."""
    return Trainer(make_config(args.task, obs, preset, overrides(args)))


def fill(trainer: Trainer) -> None:
    """Steps the untrained policy until replay holds a batch's windows (a near-zero ratio trains nothing)."""
    t = trainer.config.train
    while trainer.replay.stats()["steps"] < t.batch_size * (t.batch_length + t.replay_context + 1):
        trainer.step()


def time_updates(preset: str, obs: str, args) -> dict[str, float | str]:
    """bench/throughput.py's update timing, with the flags' settings."""
    r = throughput.measure(args.task, obs, preset, args.updates, 0, args.compile, overrides(args))
    return {"preset": preset, "obs": obs, "params": r["params"], "precision": r["precision"],
            "ms_median": 1e3 * r["s_per_update"], "ms_p90": 1e3 * r["p90_s"], "first_update_s": r["first_update_s"]}


def end_to_end(preset: str, obs: str, args) -> dict[str, float | str]:
    trainer = make_trainer(preset, obs, args)
    try:
        fill(trainer)
        rates = []
        for _ in range(2):  # a warm-up window (compile, the first updates), then the measured one
            frames, updates, t0 = trainer.counters.env_frames, trainer.updates, time.perf_counter()
            while time.perf_counter() - t0 < args.seconds:
                trainer.step()
            dt = time.perf_counter() - t0
            rates.append(((trainer.counters.env_frames - frames) / dt, (trainer.updates - updates) / dt))
        return {"preset": preset, "obs": obs, "train_ratio": trainer.config.run.train_ratio,
                "envs": trainer.config.run.envs, "env_frames_per_s": rates[-1][0], "updates_per_s": rates[-1][1]}
    finally:
        trainer.close()


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda (run.device)")
    parser.add_argument("--precision", default="auto", help="auto | fp32 | bf16 (run.precision; auto: bf16 on CUDA)")
    parser.add_argument("--compile", action="store_true", help="run.compile=true (the first update compiles)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: run.threads' default)")
    parser.add_argument("--task", default=TASK)
    parser.add_argument("--cases", nargs="+", default=[f"{p}:{o}" for p, o in CASES], help="preset:obs pairs")
    parser.add_argument("--updates", type=int, default=20, help="timed updates per case")
    parser.add_argument("--batch", type=int, default=16, help="B, sequences per update (the peers' 16)")
    parser.add_argument("--length", type=int, default=64, help="T, steps per sequence (the peers' 64)")
    parser.add_argument("--seconds", type=float, default=60.0, help="end-to-end window (after as long a warm-up)")
    parser.add_argument("--out", default=None, help="also write the figures as JSON here")
    args = parser.parse_args(argv)
    cases = [tuple(case.split(":")) for case in args.cases]
    probe = make_trainer(*cases[0], args)
    device = probe.agent.device
    probe.close()
    head = (f"# {device_name(device)}; torch {torch.__version__}; task {args.task}, B{args.batch} x T{args.length}, "
            f"precision {args.precision}, compile {'on' if args.compile else 'off'}")
    print(head, flush=True)
    updates = [time_updates(preset, obs, args) for preset, obs in cases]
    print("| preset | obs | params | precision | ms/update (median) | p90 | first update s |")
    print("|---|---|---|---|---|---|---|")
    for r in updates:
        print(f"| {r['preset']} | {r['obs']} | {r['params']:,} | {r['precision']} | {r['ms_median']:.1f} | "
              f"{r['ms_p90']:.1f} | {r['first_update_s']:.1f} |", flush=True)
    loops = [end_to_end(preset, obs, args) for preset, obs in cases] if args.seconds > 0 else []
    if loops:
        print("| preset | obs | train ratio | envs | env frames/s | updates/s |\n|---|---|---|---|---|---|")
    for r in loops:
        print(f"| {r['preset']} | {r['obs']} | {r['train_ratio']:g} | {r['envs']} | {r['env_frames_per_s']:.0f} | "
              f"{r['updates_per_s']:.2f} |", flush=True)
    figures = {"device": device_name(device), "torch": torch.__version__, "task": args.task, "compile": args.compile,
               "batch": args.batch, "length": args.length, "updates": updates, "end_to_end": loops}
    if args.out:
        Path(args.out).write_text(json.dumps(figures, indent=1))
    return figures


if __name__ == "__main__":
    main()
