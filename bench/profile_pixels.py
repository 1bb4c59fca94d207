"""Where a pixel update's time goes, and A/B timings of two source trees of `dreamer_core` (issue #14 §2).

    python bench/profile_pixels.py profile [--threads 1 2] [--rows 20]
    python bench/profile_pixels.py time [--threads 2] [--repeats 5]
    python bench/profile_pixels.py ab TREE_A TREE_B [--rounds 6] [--threads 2]

`profile`: torch.profiler's top ops (self CPU time) of one size1m vision `Agent.train_step` (64x64x3, B16 x T64,
random replay-shaped batch as in bench/micro.py), once per thread count.
`time`: median ms (wall and process CPU time) of the whole update, of the conv stacks alone (encoder forward +
decoder forward and image loss, then their backward, on the update's shapes) and of the world model's forward+backward.
`ab`: alternates `time` runs of two trees, each a directory holding a `dreamer_core/` (`.` for this checkout, or a
snapshot: `mkdir /tmp/base && git archive HEAD~1 dreamer_core | tar -x -C /tmp/base`), each in a fresh process,
A, B, B, A, A, B..., so load from other jobs hits both alike; prints the median of each side's medians. Snapshot
both sides when you edit the checkout meanwhile: every run imports its tree afresh.
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


def _agent_and_batch():
    import numpy as np
    import torch

    from dreamer_core.agent import Agent
    from dreamer_core.config import make_config
    from micro import fake_batch, fake_spaces  # bench/ is on sys.path when run as a script

    torch.manual_seed(0)
    config = make_config("dmc_cartpole_balance", "vision", "size1m")
    spaces, act_space = fake_spaces("vision", 1, config.env.size)
    agent = Agent(config, spaces, act_space)
    return agent, fake_batch(agent, np.random.default_rng(0))


def _median_ms(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Median (wall, process CPU) ms. With 1 thread the CPU time barely moves when other jobs share the cores."""
    fn()  # warm-up: allocator and oneDNN primitive caches
    wall, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return statistics.median(wall) * 1000, statistics.median(cpu) * 1000


def time_pieces(threads: int, repeats: int) -> dict[str, float]:
    import torch
    from micro import world_model_fwd_bwd

    torch.set_num_threads(threads)
    agent, data = _agent_and_batch()
    gen = torch.Generator().manual_seed(0)
    start, prev_action, seq = agent.split_context(data)
    with torch.no_grad():
        _, states, _, _ = agent.observe(start, prev_action, seq, gen)
    images = {k: seq[k] for k in agent.image_keys}

    def conv_stacks():
        agent.zero_grad(set_to_none=True)
        deter = states.deter.detach().requires_grad_()  # so the decoder's input gradient is computed, as in training
        stoch = states.stoch.flatten(-2).detach().requires_grad_()
        tokens = agent.encoder(images)  # (B, T, E)
        recon = agent.decoder(deter, stoch)
        loss = sum((recon[k] - images[k].float() / 255.0).square().sum((-3, -2, -1)).mean() for k in images)
        (loss + tokens.square().mean()).backward()

    def world_model():
        world_model_fwd_bwd(agent, start, prev_action, seq, gen)

    out = {}
    for name, fn in (("conv stacks fwd+bwd", conv_stacks), ("world model fwd+bwd", world_model),
                     ("whole train_step", lambda: agent.train_step(data, gen))):
        out[f"{name} wall"], out[f"{name} cpu"] = _median_ms(fn, repeats)
    return out


def profile(threads_list: list[int], rows: int) -> None:
    import torch
    from torch.profiler import ProfilerActivity, profile as torch_profile

    for threads in threads_list:
        torch.set_num_threads(threads)
        agent, data = _agent_and_batch()
        gen = torch.Generator().manual_seed(2)
        agent.train_step(data, gen)  # warm-up
        with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
            agent.train_step(data, gen)
        events = prof.key_averages()
        total = sum(e.self_cpu_time_total for e in events)
        print(f"\n## {threads} thread(s): one size1m vision train_step, {total / 1e3:.0f} ms self CPU in ops\n")
        print("| op | self ms | % | calls |")
        print("|---|---|---|---|")
        for e in sorted(events, key=lambda e: -e.self_cpu_time_total)[:rows]:
            ms = e.self_cpu_time_total / 1e3
            print(f"| `{e.key}` | {ms:.0f} | {e.self_cpu_time_total / total:.1%} | {e.count} |")


def ab(tree_a: Path, tree_b: Path, rounds: int, threads: int, repeats: int) -> None:
    trees = {f"A ({tree_a})": tree_a.resolve(), f"B ({tree_b})": tree_b.resolve()}
    results: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
    for i in range(rounds):
        order = list(trees) if i % 2 == 0 else list(trees)[::-1]  # alternate which side goes first
        for name in order:
            env = dict(os.environ, PYTHONPATH=f"{trees[name]}{os.pathsep}{REPO / 'bench'}")
            out = subprocess.run([sys.executable, __file__, "time", "--json", "--threads", str(threads),
                                  "--repeats", str(repeats)], env=env, check=True, capture_output=True, text=True)
            results[name].append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(f"round {i + 1} {name}: {results[name][-1]}", flush=True)
    print(f"\nmedian over {rounds} rounds of each run's median of {repeats} (ms, {threads} thread(s)):")
    for piece in results[next(iter(trees))][0]:
        a, b = (statistics.median(r[piece] for r in results[name]) for name in trees)
        print(f"{piece}: A {a:.0f}, B {b:.0f}, A/B {a / b:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("profile")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--rows", type=int, default=20)
    t = sub.add_parser("time")
    t.add_argument("--threads", type=int, default=2)
    t.add_argument("--repeats", type=int, default=5)
    t.add_argument("--json", action="store_true", help="one JSON line (what `ab` reads)")
    a = sub.add_parser("ab")
    a.add_argument("tree_a", type=Path, help="a directory holding a dreamer_core/ ('.' for this checkout)")
    a.add_argument("tree_b", type=Path, help="the other one")
    a.add_argument("--rounds", type=int, default=6)
    a.add_argument("--threads", type=int, default=2)
    a.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if args.command == "profile":
        profile(args.threads, args.rows)
    elif args.command == "time":
        result = time_pieces(args.threads, args.repeats)
        if args.json:
            import dreamer_core

            print(f"# dreamer_core from {Path(dreamer_core.__file__).parent}", file=sys.stderr)
            print(json.dumps({k: round(v, 1) for k, v in result.items()}))
        else:
            for k, v in result.items():
                print(f"{k}: {v:.0f} ms")
    else:
        ab(args.tree_a, args.tree_b, args.rounds, args.threads, args.repeats)


if __name__ == "__main__":
    main()
