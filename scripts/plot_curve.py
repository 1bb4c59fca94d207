"""Writes a run's learning curve as CSV (env_frames,return) and PNG from its scores.jsonl.

    python scripts/plot_curve.py runs/<run> docs/results/<name> --title "..." [--target 800 --at 100000]
        [--official dmc_cartpole_balance:vision]

With --official, the official DreamerV3 curve of that task (mean over seeds and min-max band per 10k frames,
`dreamer_core.official`) is drawn underneath.

A run that `train --from-model` started continues another run's curve: `--earlier` names where that curve's earlier
episodes are (a CSV this script wrote, or a model directory / model-only file, whose checkpoint keeps the last 100
episodes its run logged). A line marks where the new run took over (its origin.json; `--mark FRAMES` elsewhere):

    python scripts/plot_curve.py runs/<continued> docs/results/<name> --earlier docs/results/<name>.csv \
        --earlier assets/models/<model>
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def read_rows(path: Path) -> list[dict]:
    """The whole rows of a jsonl log: a line torn by a crash or a full disk (older versions) is skipped."""
    rows = []
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict) and "step" in row and "episode/score" in row:
            rows.append(row)
    return rows


def earlier_rows(source: Path) -> list[dict]:
    """Episodes of a curve's earlier part: a CSV of this script's (env_frames,return), or a model's saved scores."""
    if source.suffix == ".csv":
        lines = source.read_text().splitlines()[1:]
        return [{"step": int(x), "episode/score": float(y)} for x, y in (line.split(",") for line in lines if line)]
    from dreamer_core import models

    state = models.read_model(source if source.is_file() else models.resolve(source))
    return [{"step": int(frames), "episode/score": float(score)} for frames, score in state.get("scores", [])]


def joined(parts: list[list[dict]]) -> list[dict]:
    """One curve from its parts in order, each episode once (parts overlap where a model kept episodes that a CSV
    also holds: the same run's rows, keyed by their env frames)."""
    seen, rows = set(), []
    for row in (row for part in parts for row in part):
        if row["step"] not in seen:
            seen.add(row["step"])
            rows.append(row)
    return sorted(rows, key=lambda row: row["step"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("logdir", type=Path)
    parser.add_argument("out", type=Path, help="output path without suffix")
    parser.add_argument("--title", default="")
    parser.add_argument("--target", type=float, default=None)
    parser.add_argument("--at", type=float, default=None)
    parser.add_argument("--bin", type=int, default=10_000, help="print the mean return per this many env frames")
    parser.add_argument("--official", default=None, metavar="TASK:OBS",
                        help="draw the official DreamerV3 curve of this task, e.g. dmc_cartpole_balance:vision")
    parser.add_argument("--earlier", type=Path, action="append", default=[],
                        help="earlier episodes of the same curve (a CSV of this script, or a model directory or "
                             "model-only file: its last 100 logged episodes), before the run's own; repeatable")
    parser.add_argument("--mark", type=float, default=None,
                        help="draw a line at these env frames (default: where the run began from a model, as its "
                             "origin.json says)")
    parser.add_argument("--mark-label", default="", help="the legend's text for --mark")
    args = parser.parse_args()
    from dreamer_core.logdir import read_origin

    origin = read_origin(args.logdir)
    if args.mark is None and origin is not None:
        args.mark = origin["env_frames"]
        args.mark_label = args.mark_label or (f"trained on from {Path(origin['source']).parent.name} "
                                              f"({origin['updates']:,} updates)")
    rows = joined([earlier_rows(source) for source in args.earlier] + [read_rows(args.logdir / "scores.jsonl")])
    frames = np.array([r["step"] for r in rows])
    returns = np.array([np.nan if r["episode/score"] is None else r["episode/score"] for r in rows], float)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out.with_suffix(".csv"), "w") as f:
        f.write("env_frames,return\n")
        f.writelines(f"{x},{y:.2f}\n" for x, y in zip(frames, returns))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    if args.official:
        draw_official(ax, *args.official.split(":"), until=frames.max() if args.at is None else args.at)
    ax.plot(frames, returns, "o", ms=3, alpha=0.5, label="training episode")
    if len(returns) >= 5:
        window = 5
        smooth = np.convolve(returns, np.ones(window) / window, mode="valid")
        ax.plot(frames[window - 1 :], smooth, "-", lw=2, label=f"mean of last {window}")
    if args.target is not None:
        ax.axhline(args.target, color="grey", ls="--", lw=1, label=f"target {args.target:g}")
    if args.at is not None:
        ax.axvline(args.at, color="grey", ls=":", lw=1)
    if args.mark is not None:
        ax.axvline(args.mark, color="tab:red", ls="-.", lw=1, label=args.mark_label or None)
    ax.set_xlabel("env frames")
    ax.set_ylabel("episode return")
    ax.set_title(args.title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)  # curves start low and rise: the upper left stays empty longest
    fig.tight_layout()
    fig.savefig(args.out.with_suffix(".png"))
    print(f"wrote {args.out.with_suffix('.csv')} and .png ({len(rows)} episodes, last {returns[-1]:.1f})")
    if args.mark is not None:
        print(f"marked {args.mark:,.0f} env frames: {args.mark_label}")
    print_bins(frames, returns, args.bin)


def draw_official(ax, task: str, obs: str, until: float) -> None:
    """The official curve's band and mean, each bin drawn at its centre, up to `until` env frames."""
    from dreamer_core.official import missing_reason, official_curve

    curve = official_curve(task, obs)
    if curve is None:
        raise SystemExit(missing_reason(task, obs))
    keep = curve.start < until
    centre = curve.start[keep] + curve.bin_frames / 2
    ax.fill_between(centre, curve.low[keep], curve.high[keep], color="tab:grey", alpha=0.2,
                    label=f"official DreamerV3, min-max of {curve.seeds} seeds")
    settings = curve.settings
    ax.plot(centre, curve.mean[keep], "-", color="tab:grey", lw=1.5,
            label=f"official mean ({settings['preset']}, ratio {settings['train_ratio']}, "
                  f"repeat {settings['action_repeat']})")


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
