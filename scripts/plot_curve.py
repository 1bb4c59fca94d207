"""Writes a run's learning curve as CSV (env_frames,return) and PNG from its scores.jsonl.

    python scripts/plot_curve.py runs/<run> docs/results/<name> --title "..." [--target 800 --at 100000]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("logdir", type=Path)
    parser.add_argument("out", type=Path, help="output path without suffix")
    parser.add_argument("--title", default="")
    parser.add_argument("--target", type=float, default=None)
    parser.add_argument("--at", type=float, default=None)
    parser.add_argument("--bin", type=int, default=10_000, help="print the mean return per this many env frames")
    args = parser.parse_args()
    rows = [json.loads(line) for line in (args.logdir / "scores.jsonl").read_text().splitlines() if line]
    frames = np.array([r["step"] for r in rows])
    returns = np.array([r["episode/score"] for r in rows])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out.with_suffix(".csv"), "w") as f:
        f.write("env_frames,return\n")
        f.writelines(f"{x},{y:.2f}\n" for x, y in zip(frames, returns))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    ax.plot(frames, returns, "o", ms=3, alpha=0.5, label="training episode")
    if len(returns) >= 5:
        window = 5
        smooth = np.convolve(returns, np.ones(window) / window, mode="valid")
        ax.plot(frames[window - 1 :], smooth, "-", lw=2, label=f"mean of last {window}")
    if args.target is not None:
        ax.axhline(args.target, color="grey", ls="--", lw=1, label=f"target {args.target:g}")
    if args.at is not None:
        ax.axvline(args.at, color="grey", ls=":", lw=1)
    ax.set_xlabel("env frames")
    ax.set_ylabel("episode return")
    ax.set_title(args.title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(args.out.with_suffix(".png"))
    print(f"wrote {args.out.with_suffix('.csv')} and .png ({len(rows)} episodes, last {returns[-1]:.1f})")
    print_bins(frames, returns, args.bin)


def print_bins(frames: np.ndarray, returns: np.ndarray, size: int) -> None:
    """Mean return per `size` env frames, as the tables in docs/results/README.md quote it (an episode counts in
    the bin its last frame falls in)."""
    print("| env frames | mean return | episodes |\n|---|---|---|")
    for start in range(0, int(frames.max()) + 1, size):
        inside = (frames > start) & (frames <= start + size)  # env frames start at 1
        if inside.any():
            print(f"| {start // 1000}–{(start + size) // 1000}k | {returns[inside].mean():.0f} | {inside.sum()} |")


if __name__ == "__main__":
    main()
