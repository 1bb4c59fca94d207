"""Trainer updates/s under CPU contention, per thread setting (issue #17 §4; not a test: figures vary by machine).

    nice -n 5 python bench/contention.py [--preset size1m] [--obs proprio] [--seconds 30 | --updates N]
        [--settings threads=2 threads=2,OMP_WAIT_POLICY=passive threads=1 threads=auto]
        [--against none busy:1 trainer:1] [--rounds 3]

Each measurement is a fresh subprocess running the real headless loop (`Trainer.step()`: policy, env, replay,
updates at the preset's train ratio) from a small replay fill, timed after two warm-up updates for `--seconds`
(or `--updates`). A setting is comma-separated: `threads=1|2|...|auto` (run.threads), `trial_every=N` (auto's
controller times its first trial after N updates and then every N, instead of 20 and 300, so a short cell sees
one), `cpus=0,1` (the trainer's affinity, as taskset), and any NAME=VALUE in capitals is put in the trainer's environment (OMP_WAIT_POLICY,
GOMP_SPINCOUNT, KMP_BLOCKTIME, ...). A scenario is `none`, `busy:N` (N single-threaded pure-Python loops beside
it) or `trainer:N` (N more trainers of the same setting). Settings and scenarios are interleaved round by round
(A, B, A, B, ...), so slow drift of the machine's load hits all of them alike; the table shows medians.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUSY_LOOP = "while True: pass"


def parse_setting(text: str) -> tuple[dict[str, str], dict[str, str]]:
    """'threads=2,OMP_WAIT_POLICY=passive,cpus=0' -> (trainer options, environment variables)."""
    options, environ = {}, {}
    for part in filter(None, text.split(",")):
        key, _, value = part.partition("=")
        if not value:
            raise SystemExit(f"setting part {part!r} must be KEY=VALUE")
        (environ if key.isupper() else options)[key] = value
    unknown = set(options) - {"threads", "trial_every", "cpus"}
    if unknown:
        raise SystemExit(f"unknown setting keys {sorted(unknown)}: use threads=, trial_every=, cpus= or NAME=VALUE "
                         f"in capitals")
    return options, environ


def trainer_command(args: argparse.Namespace, options: dict[str, str], seconds: float, updates: int) -> list[str]:
    command = [sys.executable, str(Path(__file__).resolve()), "_measure", "--preset", args.preset, "--obs", args.obs,
               "--task", args.task, "--threads", options.get("threads", "0"), "--seconds", str(seconds),
               "--updates", str(updates), "--trial-every", options.get("trial_every", "0")]
    if "cpus" in options:
        command = ["taskset", "-c", options["cpus"], *command]
    return command


def measure_once(args: argparse.Namespace, setting: str, scenario: str) -> dict:
    options, environ = parse_setting(setting)
    env = {**os.environ, "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl"), **environ}
    kind, _, count = scenario.partition(":")
    rivals = []
    try:
        for _ in range(int(count or 0)):  # started first, so the measured trainer never runs alone
            if kind == "busy":
                rivals.append(subprocess.Popen([sys.executable, "-c", BUSY_LOOP]))
            elif kind == "trainer":  # runs until killed; the same setting as the measured one
                rivals.append(subprocess.Popen(trainer_command(args, options, 1e9, 10**9), env=env,
                                               stdout=subprocess.DEVNULL))
            else:
                raise SystemExit(f"unknown scenario {scenario!r}: none, busy:N or trainer:N")
        out = subprocess.run(trainer_command(args, options, args.seconds, args.updates), env=env, cwd=ROOT,
                             capture_output=True, text=True, timeout=args.seconds + 600)
    finally:
        for rival in rivals:
            rival.kill()
            rival.wait()
    if out.returncode:
        raise SystemExit(f"measurement {setting} / {scenario} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure_child(args: argparse.Namespace) -> None:
    """One trainer in this process: prints {"updates_per_s", "threads_seen", ...} as the last stdout line."""
    from dreamer_core.config import make_config
    from dreamer_core.threads import parse_setting as parse_threads
    from dreamer_core.threads import ThreadController, prepare_openmp

    threads = parse_threads("--threads", args.threads)
    config = make_config(args.task, args.obs, args.preset,
                         {"run": {"threads": threads, "steps": 10**9, "log_every": 1e9, "report_every": 1e9,
                                  "watch_every": 0.0, "replay_size": 100_000, "train_fill": args.fill}})
    prepare_openmp(threads)  # as the CLI does, before torch loads
    import torch

    from dreamer_core.trainer import Trainer

    trainer = Trainer(config)
    controller = trainer.threads.controller
    if controller and args.trial_every:
        controller = trainer.threads.controller = ThreadController(
            controller.max_threads, controller.current, period=args.trial_every, first_after=args.trial_every)
    while trainer.updates < 2:  # the fill and two warm-up updates, untimed
        trainer.step()
    start, first = time.perf_counter(), trainer.updates
    seen = set()
    while time.perf_counter() - start < args.seconds and trainer.updates - first < args.updates:
        trainer.step()
        seen.add(torch.get_num_threads())
    elapsed = time.perf_counter() - start
    print(json.dumps({"updates_per_s": (trainer.updates - first) / elapsed, "updates": trainer.updates - first,
                      "seconds": elapsed, "threads_seen": sorted(seen),
                      "trials": [f"{count} threads {rate:.3g}/s vs {base:.3g}" for count, base, rate in
                                 (controller.decisions if controller else [])],
                      "wait_policy": os.environ.get("OMP_WAIT_POLICY", "")}))
    trainer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", nargs="?", default="table", choices=["table", "_measure"])
    parser.add_argument("--task", default="dmc_cartpole_balance")
    parser.add_argument("--preset", default="size1m")
    parser.add_argument("--obs", default="proprio", choices=["proprio", "vision"])
    parser.add_argument("--seconds", type=float, default=30.0, help="timed seconds per measurement")
    parser.add_argument("--updates", type=int, default=10**9, help="or stop after this many timed updates")
    parser.add_argument("--fill", type=int, default=200, help="agent steps collected before training")
    parser.add_argument("--threads", default="0", help="(_measure) run.threads")
    parser.add_argument("--trial-every", type=int, default=0, help="(_measure) auto's trial period; 0: its own")
    parser.add_argument("--settings", nargs="+",
                        default=["threads=2", "threads=2,OMP_WAIT_POLICY=passive", "threads=1", "threads=auto"])
    parser.add_argument("--against", nargs="+", default=["none", "busy:1", "trainer:1"])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if args.mode == "_measure":
        return measure_child(args)

    cores = len(os.sched_getaffinity(0))
    print(f"{args.preset} {args.obs} ({args.task}), {os.cpu_count()} CPUs ({cores} usable), load average at start "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}, {args.rounds} rounds of {args.seconds:g} s, "
          f"{time.strftime('%Y-%m-%d %H:%M')}", flush=True)
    rates: dict[tuple[str, str], list[float]] = {}
    for round_index in range(args.rounds):
        for scenario in args.against:
            for setting in args.settings:
                result = measure_once(args, setting, scenario)
                rates.setdefault((setting, scenario), []).append(result["updates_per_s"])
                print(f"  round {round_index + 1}: {setting:<40} vs {scenario:<10} {result['updates_per_s']:.3f} "
                      f"updates/s (threads {result['threads_seen']}, trials {result['trials']})", flush=True)
    width = max(len(s) for s in args.settings)
    columns = [f"vs {s}".ljust(11) for s in args.against]
    print(f"\nmedian updates/s over {args.rounds} rounds:\n")
    print(f"| {'setting':<{width}} | " + " | ".join(columns) + " |")
    print(f"|{'-' * (width + 2)}|" + "|".join("-" * (len(c) + 2) for c in columns) + "|")
    for setting in args.settings:
        cells = [f"{statistics.median(rates[setting, s]):>{len(c)}.3f}" for s, c in zip(args.against, columns)]
        print(f"| {setting:<{width}} | " + " | ".join(cells) + " |")
    print(f"\nload average at the end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
