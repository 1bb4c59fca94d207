"""fp32 vs bf16 (`run.precision`): update time, and the loss curves of two runs (docs/results/bf16.md).

    python bench/precision.py speed [--preset cpu] [--obs proprio] [--threads 1] [--rounds 8]
    python bench/precision.py compare NAME=RUN_DIR ... [--bin 100] [--last 200] [--plot out.png]

`speed` times `Agent.train_step` for an fp32 and a bf16 agent with the same weights on one random batch,
alternating between them each round, so both see the same machine load (a busy machine moves both alike).
`compare` averages each run's metrics.jsonl rows over bins of `--bin` updates and prints Markdown tables of the
losses and the episode scores. Not a test: the figures depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")

import numpy as np
import torch

from dreamer_core.agent import Agent
from dreamer_core.config import make_config
from dreamer_core.envs.base import Space, flag_spaces, image_space

LOSSES = ("loss_total", "loss/rec/position", "loss/rec/velocity", "loss/rec/image", "loss/rew", "loss/con",
          "loss/dyn", "loss/policy", "loss/value", "loss/repval")


def random_batch(agent: Agent, rng: np.random.Generator) -> dict[str, torch.Tensor]:
    t, m = agent.config.train, agent.config.model
    b, length = t.batch_size, t.batch_length + t.replay_context
    data = {k: rng.normal(size=(b, length, *s.shape)).astype(np.float32) for k, s in agent.obs_space.items()
            if s.dtype == np.float32 and len(s.shape) == 1}
    for key in agent.image_keys:
        data[key] = rng.integers(0, 255, (b, length, *agent.obs_space[key].shape), dtype=np.uint8)
    data["reward"] = rng.random((b, length), dtype=np.float32)
    for flag in ("is_first", "is_last", "is_terminal"):
        data[flag] = np.zeros((b, length), bool)
    data["action"] = rng.uniform(-1, 1, (b, length, agent.act_space.shape[0])).astype(np.float32)
    data["deter"] = np.zeros((b, length, m.deter), np.float32)
    data["stoch"] = np.zeros((b, length, m.stoch, m.classes), np.float32)
    return agent.to_tensors(data)


def speed(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    spaces = flag_spaces()
    if args.obs == "vision":
        spaces["image"] = image_space(64)
    else:
        spaces["vector"] = Space((5,), np.float32)  # cartpole: position 3 + velocity 2
    act = Space((1,), np.float32, -1.0, 1.0)
    config = make_config("dmc_cartpole_balance", args.obs, args.preset)
    agents = {}
    for precision in ("fp32", "bf16"):
        torch.manual_seed(0)
        agents[precision] = Agent(replace(config, run=replace(config.run, precision=precision)), spaces, act)
    data = random_batch(agents["fp32"], np.random.default_rng(0))
    times: dict[str, list[float]] = {p: [] for p in agents}
    for r in range(args.rounds + 1):
        for precision, agent in agents.items():
            began = time.perf_counter()
            agent.train_step(data)
            if r:  # round 0 warms up (allocations, oneDNN kernel selection)
                times[precision].append(time.perf_counter() - began)
    cpu = platform.processor() or platform.machine()
    print(f"{args.preset} {args.obs}, B{config.train.batch_size} x T{config.train.batch_length}, "
          f"{args.threads} thread(s), torch {torch.__version__}, {cpu}, {args.rounds} rounds")
    for precision, values in times.items():
        print(f"  {precision}: median {statistics.median(values) * 1e3:.0f} ms/update "
              f"(min {min(values) * 1e3:.0f}, max {max(values) * 1e3:.0f})")
    ratio = statistics.median(times["bf16"]) / statistics.median(times["fp32"])
    print(f"  bf16 / fp32 time: {ratio:.2f}")


def binned(run: Path, width: int) -> dict[int, dict[str, float]]:
    """{bin end: mean of each train/ loss over the metrics rows in it}, bins of `width` updates (a row averages the
    updates since the previous row)."""
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    rows = [row for row in rows if "train/loss_total" in row]
    full = max(int(row["updates"]) for row in rows) // width  # a last, partial bin is left out
    bins: dict[int, list[dict]] = {}
    for row in rows:
        if (index := (int(row["updates"]) - 1) // width) < full:
            bins.setdefault(index, []).append(row)
    return {(index + 1) * width: {k: float(np.mean([r[f"train/{k}"] for r in group]))
                                  for k in LOSSES if f"train/{k}" in group[0]}
            for index, group in sorted(bins.items())}


def compare(args: argparse.Namespace) -> None:
    runs = dict(item.split("=", 1) for item in args.runs)  # name -> run directory
    curves = {name: binned(Path(path), args.bin) for name, path in runs.items()}
    names = list(runs)
    keys = [k for k in LOSSES if any(k in v for v in curves[names[0]].values())]
    print(f"loss_total per bin of {args.bin} updates (mean over the bin's metrics rows):\n")
    print("| updates | " + " | ".join(names) + " |\n|---" * 1 + "|---" * len(names) + "|")
    for (end, a), *others in zip(*(c.items() for c in curves.values())):
        print(f"| {end} | " + " | ".join(f"{c[1]['loss_total']:.3f}" for c in [(end, a), *others]) + " |")
    last = args.last // args.bin
    print(f"\nEach loss over the last {args.last} updates:\n")
    print("| loss | " + " | ".join(names) + " |\n" + "|---" * (len(names) + 1) + "|")
    for key in keys:
        means = [np.mean([v[key] for v in list(curves[n].values())[-last:]]) for n in names]
        print(f"| {key.removeprefix('loss/')} | " + " | ".join(f"{m:.3f}" for m in means) + " |")
    for name, path in runs.items():
        scores = [json.loads(line) for line in (Path(path) / "scores.jsonl").read_text().splitlines() if line.strip()]
        print(f"\n{name} episode scores: " + ", ".join(f"{s['episode/score']:.1f} at {s['step']}" for s in scores))
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        cols = (len(keys) + 1) // 2
        fig, axes = plt.subplots(2, cols, figsize=(3.2 * cols, 5.5))
        for ax, key in zip(axes.flat, keys):
            for name, curve in curves.items():
                ends = [e for e in curve if key in curve[e]]
                ax.plot(ends, [curve[e][key] for e in ends], label=name, alpha=0.8,
                        linestyle="--" if "bf16" in name else "-")
            ax.set_title(key.removeprefix("loss/"), fontsize=9)
            ax.tick_params(labelsize=7)
        for ax in list(axes.flat)[len(keys):]:
            ax.set_visible(False)
        axes.flat[0].legend(fontsize=7)
        fig.supxlabel("updates")
        fig.tight_layout()
        fig.savefig(args.plot, dpi=100)
        print(f"\nwrote {args.plot}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("speed")
    s.add_argument("--preset", default="cpu")
    s.add_argument("--obs", default="proprio", choices=("proprio", "vision"))
    s.add_argument("--threads", type=int, default=1)
    s.add_argument("--rounds", type=int, default=8)
    c = sub.add_parser("compare")
    c.add_argument("runs", nargs="+", help="NAME=RUN_DIR, e.g. fp32=runs/a bf16=runs/b")
    c.add_argument("--bin", type=int, default=100)
    c.add_argument("--last", type=int, default=200, help="updates at the end averaged for the per-loss table")
    c.add_argument("--plot", default="")
    args = parser.parse_args()
    speed(args) if args.command == "speed" else compare(args)


if __name__ == "__main__":
    main()
