"""CPU time of one size1m update, old tree against this checkout, in one process, on a machine other jobs share.

    python bench/ab_update.py paired TREE_A [--obs proprio|vision] [--compile] [--rounds 20]
    python bench/ab_update.py heads TREE_A [--rounds 40]

`paired`: A from TREE_A's `nets.py`, `rssm.py` and `agent.py` (a snapshot, `mkdir /tmp/a && git archive REV
dreamer_core | tar -x -C /tmp/a`; loaded under other names, the other modules are B's, so use it for trees that
differ in those three only) and B the `dreamer_core` that imports (this checkout, or another tree first on
PYTHONPATH), both size1m at 1 torch thread on the same random replay-shaped batch (B16 x T64, H 15), A loading B's
state_dict (strictly: the keys must match). Each round times once on each side, alternating which goes first, the
whole `Agent.train_step`, the world model's forward+backward and the actor-critic losses' forward+backward
(rollout included), as `bench/micro.py` times them, in process CPU time: with one thread it barely moves when other
processes take the cores, and pairing update by update in one process takes out most of the load's drift.
`--compile`: `Agent.compile_hot_loops` (compiled in the warm-up updates, outside the timing).
`heads`: the imagination heads alone, forward and backward on fixed (H+1, N, F) features: A is TREE_A's five heads
one by one (`imag_targets` + `actor_critic_heads`, the code before the shared first layer of 1be536b), B this
checkout's `imagination_heads`; it also prints the largest difference of their outputs and of the actor's and
critic's gradients.
Not a test: the figures depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Callable


def update_pieces(agent_class: type, obs: str, compiled: bool) -> tuple[object, dict[str, Callable[[], object]]]:
    """A size1m agent of `agent_class` on a random batch, warmed up (compiled first if asked), and the three
    timed pieces as functions."""
    import numpy as np
    import torch

    from dreamer_core.config import make_config
    from micro import fake_batch, fake_spaces, world_model_fwd_bwd  # bench/ is on sys.path when run as a script

    torch.set_num_threads(1)
    torch.manual_seed(0)
    config = make_config("dmc_cartpole_swingup", obs, "size1m")
    spaces, act_space = fake_spaces(obs, 1, config.env.size)
    agent = agent_class(config, spaces, act_space)
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

    return agent, {"train_step": lambda: agent.train_step(data, gen),
                   "world model fwd+bwd": lambda: world_model_fwd_bwd(agent, start, prev_action, seq, gen),
                   "actor-critic fwd+bwd": actor_critic}


def tree_agent_class(tree: Path) -> type:
    """`Agent` of `tree`'s agent.py, importing that tree's nets.py and rssm.py; this checkout's modules stay
    loaded under their own names."""
    import importlib.util

    import dreamer_core.agent  # noqa: F401  (this checkout's modules first, so they can be put back)

    current = {name: sys.modules[f"dreamer_core.{name}"] for name in ("nets", "rssm", "agent")}
    try:
        for name in current:  # in import order: each later file's `from dreamer_core.x import` finds the tree's
            spec = importlib.util.spec_from_file_location(f"tree_{name}", tree / "dreamer_core" / f"{name}.py")
            module = importlib.util.module_from_spec(spec)
            sys.modules[f"dreamer_core.{name}"] = sys.modules[f"tree_{name}"] = module  # dataclasses look it up
            spec.loader.exec_module(module)
        return module.Agent
    finally:
        sys.modules.update({f"dreamer_core.{name}": module for name, module in current.items()})


def paired(tree_a: Path, obs: str, compiled: bool, rounds: int) -> None:
    from dreamer_core.agent import Agent

    agent_a, pieces_a = update_pieces(tree_agent_class(tree_a.resolve()), obs, compiled)
    agent_b, pieces_b = update_pieces(Agent, obs, compiled)
    agent_a.load_state_dict(agent_b.state_dict())  # strict: the same keys and shapes
    sides = {"A": pieces_a, "B": pieces_b}
    names = list(pieces_a)
    cpu: dict[str, dict[str, list[float]]] = {side: {n: [] for n in names} for side in sides}
    for i in range(rounds):
        for name in names:
            for side in ("A", "B") if i % 2 == 0 else ("B", "A"):
                c0 = time.process_time()
                sides[side][name]()
                cpu[side][name].append((time.process_time() - c0) * 1000)
    import dreamer_core

    print(f"A = {tree_a.resolve()}, B = {Path(dreamer_core.__file__).parent.parent} (the dreamer_core imported); "
          f"{obs}, {'compiled' if compiled else 'eager'}, 1 thread, one process; process CPU ms, median of {rounds} "
          "rounds")
    for name in names:
        a, b = (statistics.median(cpu[side][name]) for side in ("A", "B"))
        below = sum(tb < ta for ta, tb in zip(cpu["A"][name], cpu["B"][name]))
        print(f"{name}: A {a:.0f}, B {b:.0f}, B/A {b / a:.3f} (B below A in {below} of {rounds} rounds)")


def heads(tree_a: Path, rounds: int) -> None:
    import torch

    from dreamer_core.agent import Agent
    from dreamer_core.config import make_config
    from micro import fake_spaces

    torch.set_num_threads(1)
    config = make_config("dmc_cartpole_swingup", "proprio", "size1m")
    spaces, act_space = fake_spaces("proprio", 1, config.env.size)
    torch.manual_seed(0)
    new = Agent(config, spaces, act_space)
    with torch.no_grad():  # the zero-initialised output layers would make the critic's other gradients zero
        for head in (new.reward, new.critic, new.slow_critic):
            head.out.weight.normal_(0.0, 0.05)
    old = tree_agent_class(tree_a.resolve())(config, spaces, act_space)
    old.load_state_dict(new.state_dict())
    gen = torch.Generator().manual_seed(0)
    h, t = config.train.imag_horizon, config.train.batch_length
    feat = torch.randn(h + 1, config.train.batch_size * t, new.rssm.feat_dim, generator=gen)  # (H+1, N, F)
    post = torch.randn(config.train.batch_size, t, new.rssm.feat_dim, generator=gen)  # (B, T, F)
    actions = torch.rand(h + 1, feat.shape[1], 1, generator=gen) * 2 - 1  # (H+1, N, A)

    def backward(critic_logits, logp, ent):
        (critic_logits.square().mean() + logp.mean() + ent.mean()).backward()

    def run_a():
        old.zero_grad(set_to_none=True)
        with torch.no_grad():
            targets = old.imag_targets(feat, post)
        trained = old.actor_critic_heads(feat, actions)
        backward(*trained)
        return (*targets, *trained)

    def run_b():
        new.zero_grad(set_to_none=True)
        targets, trained = new.imagination_heads(feat, post, actions)
        backward(*trained)
        return (*targets, *trained)

    out_a, out_b = run_a(), run_b()
    worst = max(float((a - b).abs().max() / b.abs().max().clamp_min(1e-30)) for a, b in zip(out_a, out_b))
    grads = [(p.grad, q.grad) for mod in ("actor", "critic")
             for p, q in zip(getattr(old, mod).parameters(), getattr(new, mod).parameters())]
    worst_grad = max(float((a - b).abs().max() / b.abs().max().clamp_min(1e-30)) for a, b in grads)
    print(f"largest difference relative to the tensor's largest magnitude: outputs {worst:.2g}, "
          f"actor and critic gradients {worst_grad:.2g}")
    cpu: dict[str, list[float]] = {"A": [], "B": []}
    for i in range(rounds):
        for side in ("A", "B") if i % 2 == 0 else ("B", "A"):
            c0 = time.process_time()
            (run_a if side == "A" else run_b)()
            cpu[side].append((time.process_time() - c0) * 1000)
    a, b = statistics.median(cpu["A"]), statistics.median(cpu["B"])
    below = sum(tb < ta for ta, tb in zip(cpu["A"], cpu["B"]))
    print(f"imagination heads fwd+bwd, process CPU ms, 1 thread, median of {rounds}: A {a:.1f}, B {b:.1f}, "
          f"B/A {b / a:.3f} (B below A in {below} of {rounds} rounds)")


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("paired", "heads"):
        p = sub.add_parser(name)
        p.add_argument("tree_a", type=Path, help="a directory holding a dreamer_core/ (a snapshot of the old code)")
        p.add_argument("--rounds", type=int, default={"paired": 20, "heads": 40}[name])
        if name == "paired":  # heads: size1m proprio, eager
            p.add_argument("--obs", default="proprio", choices=["proprio", "vision"])
            p.add_argument("--compile", action="store_true", help="Agent.compile_hot_loops (run.compile=true)")
    args = parser.parse_args()
    if args.command == "paired":
        paired(args.tree_a, args.obs, args.compile, args.rounds)
    else:
        heads(args.tree_a, args.rounds)


if __name__ == "__main__":
    main()
