"""How soon is the world model competent? Model-only snapshots of a run, then their image errors vs updates.

    # beside a training run: a model-only snapshot each time the run writes a checkpoint
    python scripts/world_model_progress.py watch runs/<run> runs/<run>_snapshots
    # afterwards: reconstruction and open-loop error of every snapshot on fresh real episodes (markdown table)
    python scripts/world_model_progress.py eval runs/<run>_snapshots --run runs/<run> --episodes 3

`eval` measures, per snapshot and averaged over `--episodes` fresh episodes (the env seeded 12345, then its RNG continues): the mean
squared pixel error (0-1 scale) of the report's posterior reconstructions over its 16 context steps, and of the
open-loop prediction over the 16 steps that follow (imagined under the true actions), as `dreamer_core.models
.evaluate` computes for model cards. An untrained agent of the same config is the first row. Wall-clock is the
run's training time at the snapshot (from its metrics.jsonl), so the table says what to expect on this machine.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def watch(run: Path, out: Path, every: float) -> None:
    from dreamer_core import checkpoint, models

    out.mkdir(parents=True, exist_ok=True)
    seen = None
    while True:
        path = run / "latest.ckpt"
        if path.exists() and path.stat().st_mtime != seen:
            seen = path.stat().st_mtime
            try:
                state = models.model_state(checkpoint.load(path))
            except checkpoint.CheckpointError as e:  # caught mid-rename or corrupt: try at the next change
                print(f"skipped: {e}", flush=True)
                continue
            state["saved_at"] = seen
            checkpoint.save(out / f"u{state['agent']['updates']:07d}.ckpt", state)
            print(time.strftime("%H:%M:%S"), "snapshot at", state["agent"]["updates"], "updates", flush=True)
        time.sleep(every)


def training_seconds(run: Path | None, updates: int) -> float | None:
    """Seconds of training wall-clock when the run reached `updates`, summed over its logged rows (a resumed
    run's gaps between sessions are left out: a gap over 120 s between two rows is not counted)."""
    if run is None or not (run / "metrics.jsonl").exists():
        return None
    total, last = 0.0, None
    for line in (run / "metrics.jsonl").read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:  # a torn last line
            continue
        if last is not None and 0 < row["time"] - last < 120:
            total += row["time"] - last
        last = row["time"]
        if row.get("updates", 0) >= updates:
            return total
    return None


def errors(trainer, episodes: int) -> tuple[float, float]:
    from dreamer_core import models

    rec, openloop = [], []
    for _ in range(episodes):
        evaluation = models.evaluate(trainer, steps=models.context_steps(trainer.config))  # enough for a report
        report = evaluation.report
        ctx = report.context_len
        real = report.real[:ctx].astype(np.float32) / 255
        rec.append(float(np.mean((report.decoded[:ctx].astype(np.float32) / 255 - real) ** 2)))
        openloop.append(evaluation.openloop_mse)
    return float(np.mean(rec)), float(np.mean(openloop))


def evaluate(snapshots: Path, run: Path | None, episodes: int) -> None:
    import torch

    from dreamer_core import checkpoint, models
    from dreamer_core.config import Config

    torch.set_num_threads(1)
    files = sorted(snapshots.glob("u*.ckpt"))
    if not files:
        raise SystemExit(f"no snapshots (u*.ckpt) in {snapshots}; write them with the watch command")
    first = checkpoint.load(files[0])
    config = Config.from_dict(json.loads(first["config"]))
    print(f"# {config.env.task} ({config.env.obs}), preset {config.preset}, ratio {config.run.train_ratio:g}, "
          f"{episodes} fresh episodes per row, pixel MSE on a 0-1 scale")
    print("| updates | env frames | training time | reconstruction MSE | open-loop MSE (16 steps) |\n|---|---|---|---|---|")
    rows = [(None, 0, 0)] + [(f, None, None) for f in files]
    for path, _, _ in rows:
        if path is None:
            trainer = models.eval_trainer(config=config)
            updates, frames = 0, 0
        else:
            state = checkpoint.load(path)
            trainer = models.eval_trainer(config=config)
            models.load_into(trainer, state, path)
            updates, frames = state["agent"]["updates"], state["counters"]["env_frames"]
        try:
            rec, openloop = errors(trainer, episodes)
        finally:
            trainer.close()
        seconds = training_seconds(run, updates) if updates else 0.0
        clock = "-" if seconds is None else f"{seconds / 60:.0f} min"
        print(f"| {updates:,} | {frames:,} | {clock} | {rec:.4f} | {openloop:.4f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    w = sub.add_parser("watch", help="write a model-only snapshot each time the run saves")
    w.add_argument("run", type=Path)
    w.add_argument("out", type=Path)
    w.add_argument("--every", type=float, default=30.0, help="seconds between looks at latest.ckpt")
    e = sub.add_parser("eval", help="print the error table of the snapshots")
    e.add_argument("snapshots", type=Path)
    e.add_argument("--run", type=Path, default=None, help="the run directory, for the wall-clock column")
    e.add_argument("--episodes", type=int, default=3)
    args = parser.parse_args()
    if args.command == "watch":
        watch(args.run, args.out, args.every)
    else:
        evaluate(args.snapshots, args.run, args.episodes)


if __name__ == "__main__":
    main()
