"""Micro-benchmark of one DreamerV3 update, piece by piece, so every optimisation shows where its time went.

    python bench/micro.py [--preset size1m] [--obs proprio] [--threads 2] [--repeats 5] [--profile]

Pieces (median ms over repeats, after a warm-up): encoder, RSSM observe over T, decoder + reconstruction loss,
reward/continue heads, the imagination rollout from all B*T starts, the actor-critic losses on it, the backward
pass of the whole loss, the optimizer step, and the whole `Agent.train_step`. Also the FLOPs of one update
(torch.utils.flop_counter) and the achieved GFLOP/s against a large fp32 matmul measured in the same run.
Not a test: the figures depend on the machine. Batches are random uint8/float data of the right shapes.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from typing import Callable

os.environ.setdefault("MUJOCO_GL", "egl")

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from dreamer_core.agent import Agent
from dreamer_core.config import make_config
from dreamer_core.envs.base import Space, flag_spaces, image_space


def fake_spaces(obs: str, act_dim: int, size: int) -> tuple[dict[str, Space], Space]:
    spaces = flag_spaces()
    if obs == "vision":
        spaces["image"] = image_space(size)
    else:
        spaces["vector"] = Space((5,), np.float32)  # cartpole: position 3 + velocity 2
    return spaces, Space((act_dim,), np.float32, -1.0, 1.0)


def fake_batch(agent: Agent, rng: np.random.Generator) -> dict[str, torch.Tensor]:
    """A replay-shaped batch (B, K+T, ...) with stored latents, as `Replay.sample` returns it."""
    c = agent.config
    b, length = c.train.batch_size, c.train.batch_length + c.train.replay_context
    m = c.model
    data: dict[str, np.ndarray] = {
        "reward": rng.normal(size=(b, length)).astype(np.float32),
        "is_first": np.zeros((b, length), bool), "is_last": np.zeros((b, length), bool),
        "is_terminal": np.zeros((b, length), bool),
        "action": rng.uniform(-1, 1, (b, length, agent.act_space.shape[0])).astype(np.float32),
        "deter": rng.normal(size=(b, length, m.deter)).astype(np.float32),
        "stoch": np.eye(m.classes, dtype=np.float32)[rng.integers(m.classes, size=(b, length, m.stoch))],
    }
    for key, dims in agent.vector_dims.items():
        data[key] = rng.normal(size=(b, length, dims)).astype(np.float32)
    for key in agent.image_keys:
        data[key] = rng.integers(0, 255, (b, length, c.env.size, c.env.size, 3), dtype=np.uint8)
    return agent.to_tensors(data)


def timeit(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def matmul_peak(repeats: int = 5, n: int = 2048) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    ms = timeit(lambda: a @ b, repeats)
    return 2 * n**3 / (ms / 1000) / 1e9


def world_model_fwd_bwd(agent: Agent, start, prev_action, seq: dict[str, torch.Tensor], gen) -> None:
    """The world model's forward and backward on one update's window: observe, reconstruction and reward losses,
    and a squared posterior-prior gap in place of the KL losses (what both benchmarks time as "world model")."""
    agent.zero_grad(set_to_none=True)
    _, st, post, prior = agent.observe(start, prev_action, seq, gen, compiled=True)
    rec = agent.reconstruction_losses(st, seq)
    sum(v.mean() for v in rec.values()).add(agent.head_dist(agent.reward, st.feat()).loss(seq["reward"]).mean()) \
        .add((post - prior).square().mean()).backward()


def pieces(agent: Agent, data: dict[str, torch.Tensor], repeats: int) -> dict[str, float]:
    gen = torch.Generator().manual_seed(0)
    start, prev_action, seq = agent.split_context(data)
    out: dict[str, float] = {}
    with torch.no_grad():
        out["encoder fwd"] = timeit(lambda: agent.encoder(seq), repeats)
        out["observe fwd (T steps)"] = timeit(lambda: agent.observe(start, prev_action, seq, gen, compiled=True), repeats)
        _, states, _, _ = agent.observe(start, prev_action, seq, gen)
        out["decoder + rec loss fwd"] = timeit(lambda: agent.reconstruction_losses(states, seq), repeats)
        feat = states.feat()
        out["reward + cont heads fwd"] = timeit(lambda: (agent.head_dist(agent.reward, feat).loss(seq["reward"]),
                                                         agent.cont(feat)), repeats)
        starts = states.reshape(-1)
        horizon = agent.config.train.imag_horizon
        out["imagine rollout (N starts x H)"] = timeit(
            lambda: agent.rssm.imagine(starts, lambda s: agent.imagine_action(s, gen), horizon, gen, compiled=True), repeats)

    def imag_fwd_bwd():
        agent.zero_grad(set_to_none=True)
        _, imag, _ = agent.actor_critic_losses(states, seq, gen, agent.retnorm)
        (imag["policy"].mean() + imag["value"].mean() + 0.3 * imag["repval"].mean()).backward()

    out["actor-critic losses fwd+bwd (incl. rollout)"] = timeit(imag_fwd_bwd, repeats)

    def wm_fwd_bwd():
        world_model_fwd_bwd(agent, start, prev_action, seq, gen)

    out["world model fwd+bwd"] = timeit(wm_fwd_bwd, repeats)
    agent.zero_grad(set_to_none=True)
    wm_fwd_bwd()
    out["optimizer step (AGC + LaProp)"] = timeit(lambda: agent.optimizer.step(), repeats)
    out["whole train_step"] = timeit(lambda: agent.train_step(data, gen), repeats)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--preset", default="size1m")
    parser.add_argument("--obs", default="proprio", choices=["proprio", "vision"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="also print torch.profiler's top ops of train_step")
    parser.add_argument("--compile", action="store_true", help="torch.compile the hot loops (Agent.compile_hot_loops)")
    parser.add_argument("--check", action="store_true",
                        help="with --compile: one update eager and one compiled from the same state and seed, "
                             "and the largest difference of their losses")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    config = make_config("dmc_cartpole_swingup", args.obs, args.preset)
    spaces, act_space = fake_spaces(args.obs, 1, config.env.size)
    agent = Agent(config, spaces, act_space)
    data = fake_batch(agent, np.random.default_rng(0))
    t = config.train
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; {args.preset} {args.obs}, B{t.batch_size} x T{t.batch_length}, "
          f"H {t.imag_horizon}, {sum(agent.param_counts().values()):,} params")
    peak = matmul_peak()
    with FlopCounterMode(display=False) as counter:  # counted in eager mode: a dispatch mode defeats compiled code
        agent.train_step(data, torch.Generator().manual_seed(1))
    flops = counter.get_total_flops()
    if args.compile and args.check:
        import copy

        eager = copy.deepcopy(agent)
        compiled = copy.deepcopy(agent)
        compiled.compile_hot_loops()
        _, m_eager = eager.train_step(data, torch.Generator().manual_seed(5))
        _, m_comp = compiled.train_step(data, torch.Generator().manual_seed(5))
        worst = max(m_eager, key=lambda k: abs(m_eager[k] - m_comp[k]) / (abs(m_eager[k]) + 1e-6))
        print("eager vs compiled update, same state and seed: " + ", ".join(
            f"{k} {m_eager[k]:.6g} vs {m_comp[k]:.6g}" for k in ("loss/rew", "loss/dyn", "loss/policy",
                                                               "loss/value", "loss/repval", "grad_norm")))
        print(f"largest relative difference: {worst} ({m_eager[worst]:.6g} vs {m_comp[worst]:.6g})")
    if args.compile:
        agent.compile_hot_loops()
        t0 = time.perf_counter()
        agent.train_step(data, torch.Generator().manual_seed(3))
        print(f"compile (first train_step): {time.perf_counter() - t0:.1f} s")
    results = pieces(agent, data, args.repeats)
    print("| piece | ms |")
    print("|---|---|")
    for name, ms in results.items():
        print(f"| {name} | {ms:.1f} |")
    step_s = results["whole train_step"] / 1000
    print(f"\nFLOPs per update (matmuls and convs): {flops / 1e9:.2f} GFLOP; achieved {flops / step_s / 1e9:.1f} "
          f"GFLOP/s = {flops / step_s / 1e9 / peak:.0%} of a 2048^3 fp32 matmul's {peak:.1f} GFLOP/s")
    if args.profile:
        from torch.profiler import ProfilerActivity, profile

        gen = torch.Generator().manual_seed(2)
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(2):
                agent.train_step(data, gen)
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=25))


if __name__ == "__main__":
    main()
