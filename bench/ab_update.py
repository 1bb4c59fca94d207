"""CPU time of one size1m update, A/B between two source trees of `dreamer_core`, on a machine other jobs share.

    python bench/ab_update.py time [--obs proprio|vision] [--compile] [--repeats 5] [--json]
    python bench/ab_update.py ab TREE_A TREE_B [--obs proprio] [--compile] [--rounds 6] [--repeats 5]

`time`: median process CPU ms (and wall ms) over `repeats` of the whole `Agent.train_step`, of the world model's
forward+backward and of the actor-critic losses' forward+backward (rollout included), as `bench/micro.py` times
them, at 1 torch thread on a random replay-shaped batch (B16 x T64, H 15). With one thread the CPU time of an
update barely moves when other processes take the cores; wall time does. `--compile`: `Agent.compile_hot_loops`
(the compile happens in the warm-up updates, outside the timing).
`ab`: alternates `time` runs of two trees (each a directory holding a `dreamer_core/`: `.` for this checkout, or a
snapshot, `mkdir /tmp/a && git archive HEAD dreamer_core | tar -x -C /tmp/a`), each in a fresh process, in the
order A B, B A, A B, ..., so the machine's load hits both alike; prints each side's median of the runs' medians
and how many rounds B was below A. Both sides build the same weights and batch from the same seeds.
Not a test: the figures depend on the machine and its load.
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
from typing import Callable

REPO = Path(__file__).resolve().parents[1]


def _median_ms(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Median (process CPU, wall) ms of `fn` over `repeats`, after one untimed call."""
    fn()
    cpu, wall = [], []
    for _ in range(repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - t0)
    return statistics.median(cpu) * 1000, statistics.median(wall) * 1000


def time_update(obs: str, compiled: bool, repeats: int) -> dict[str, float]:
    import numpy as np
    import torch

    from dreamer_core.agent import Agent
    from dreamer_core.config import make_config
    from micro import fake_batch, fake_spaces, world_model_fwd_bwd  # bench/ is on sys.path when run as a script

    torch.set_num_threads(1)
    torch.manual_seed(0)
    config = make_config("dmc_cartpole_swingup", obs, "size1m")
    spaces, act_space = fake_spaces(obs, 1, config.env.size)
    agent = Agent(config, spaces, act_space)
    if compiled:
        agent.compile_hot_loops()
    data = fake_batch(agent, np.random.default_rng(0))
    gen = torch.Generator().manual_seed(0)
    for _ in range(2):  # compiles when compiled; then the allocator and oneDNN caches are warm
        agent.train_step(data, gen)
    start, prev_action, seq = agent.split_context(data)
    with torch.no_grad():
        _, states, _, _ = agent.observe(start, prev_action, seq, gen, compiled=True)

    def actor_critic():
        agent.zero_grad(set_to_none=True)
        _, imag, _ = agent.actor_critic_losses(states, seq, gen, agent.retnorm)
        (imag["policy"].mean() + imag["value"].mean() + 0.3 * imag["repval"].mean()).backward()

    out = {}
    for name, fn in (("train_step", lambda: agent.train_step(data, gen)),
                     ("world model fwd+bwd", lambda: world_model_fwd_bwd(agent, start, prev_action, seq, gen)),
                     ("actor-critic fwd+bwd", actor_critic)):
        out[f"{name} cpu"], out[f"{name} wall"] = _median_ms(fn, repeats)
    return out


def ab(tree_a: Path, tree_b: Path, obs: str, compiled: bool, rounds: int, repeats: int) -> None:
    trees = {"A": tree_a.resolve(), "B": tree_b.resolve()}
    runs: dict[str, list[dict[str, float]]] = {"A": [], "B": []}
    command = [sys.executable, __file__, "time", "--json", "--obs", obs, "--repeats", str(repeats)]
    command += ["--compile"] if compiled else []
    for i in range(rounds):
        for side in ("A", "B") if i % 2 == 0 else ("B", "A"):
            env = dict(os.environ, PYTHONPATH=f"{trees[side]}{os.pathsep}{REPO / 'bench'}", OMP_NUM_THREADS="1")
            out = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
            runs[side].append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(f"round {i + 1} {side}: {runs[side][-1]}", flush=True)
    print(f"\nA = {trees['A']}, B = {trees['B']}; {obs}, {'compiled' if compiled else 'eager'}, 1 thread; "
          f"median over {rounds} rounds of each run's median of {repeats} (ms)")
    for piece in runs["A"][0]:
        a, b = (statistics.median(r[piece] for r in runs[side]) for side in ("A", "B"))
        below = sum(rb[piece] < ra[piece] for ra, rb in zip(runs["A"], runs["B"]))
        print(f"{piece}: A {a:.0f}, B {b:.0f}, B/A {b / a:.3f} (B below A in {below} of {rounds} rounds)")


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("time", "ab"):
        p = sub.add_parser(name)
        p.add_argument("--obs", default="proprio", choices=["proprio", "vision"])
        p.add_argument("--compile", action="store_true", help="Agent.compile_hot_loops (run.compile=true)")
        p.add_argument("--repeats", type=int, default=5)
        if name == "time":
            p.add_argument("--json", action="store_true", help="one JSON line (what `ab` reads)")
        else:
            p.add_argument("tree_a", type=Path, help="a directory holding a dreamer_core/ ('.' for this checkout)")
            p.add_argument("tree_b", type=Path, help="the other one")
            p.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    if args.command == "time":
        result = time_update(args.obs, args.compile, args.repeats)
        if args.json:
            import dreamer_core

            print(f"# dreamer_core from {Path(dreamer_core.__file__).parent}", file=sys.stderr)
            print(json.dumps({k: round(v, 1) for k, v in result.items()}))
        else:
            for k, v in result.items():
                print(f"{k}: {v:.0f} ms")
    else:
        ab(args.tree_a, args.tree_b, args.obs, args.compile, args.rounds, args.repeats)


if __name__ == "__main__":
    main()
