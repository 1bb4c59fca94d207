"""Derives the official DreamerV3 reference curves (small JSON) from the official repository's `scores/` files.

    python scripts/official_curves.py <danijar/dreamerv3 checkout>/scores dreamer_core/data/official_curves.json \
        --commit <that checkout's commit>

Each `scores/<suite>-dreamerv3.json.gz` is a list of runs {task, method, seed, xs (env frames), ys (episode
return)}. For every task this writes, per bin of `--bin` env frames (an episode counts in the bin its frame
falls in, [start, start + bin)), the mean over seeds of each seed's mean return in the bin, and the min and max
over seeds: the band a run of the same settings lands in. The figures are facts from the official runs; the
source (repository, commit, files) is written beside them.
"""

from __future__ import annotations

import argparse
import gzip
import json
from pathlib import Path

import numpy as np

SUITES = ("dmc_proprio", "dmc_vision")
# The settings the scores were produced with: configs.yaml at 2411f7d ("Update agent and infrastructure",
# 2024-04-15), the commit that last changed scores/. HEAD has since moved dmc to repeat 1 and new ratios (proprio
# size1m at 1024, vision size200m at 256); the scores were not rerun.
SETTINGS = {
    "dmc_proprio": {"obs": "proprio", "action_repeat": 2, "train_ratio": 512, "envs": 16, "preset": "size12m",
                    "config_commit": "2411f7d"},
    "dmc_vision": {"obs": "vision", "action_repeat": 2, "train_ratio": 512, "envs": 16, "preset": "size12m",
                   "config_commit": "2411f7d"},
}


def binned(runs: list[dict], size: int) -> dict[str, list]:
    """Mean, min and max over seeds of the per-seed mean return in each bin of `size` env frames."""
    top = max(max(r["xs"]) for r in runs)
    starts, mean, low, high = [], [], [], []
    for start in range(0, int(top) + 1, size):
        per_seed = []
        for r in runs:
            xs, ys = np.asarray(r["xs"], float), np.asarray(r["ys"], float)
            inside = (xs >= start) & (xs < start + size)
            if inside.any():
                per_seed.append(float(ys[inside].mean()))
        if len(per_seed) == len(runs):  # a bin only where every seed has episodes
            starts.append(start)
            mean.append(round(float(np.mean(per_seed)), 1))
            low.append(round(min(per_seed), 1))
            high.append(round(max(per_seed), 1))
    return {"start": starts, "mean": mean, "min": low, "max": high, "seeds": len(runs)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scores", type=Path, help="the official repository's scores/ folder")
    parser.add_argument("out", type=Path, help="JSON file to write")
    parser.add_argument("--commit", required=True, help="commit of the official checkout the scores come from")
    parser.add_argument("--bin", type=int, default=10_000, help="bin width in env frames")
    args = parser.parse_args()
    out: dict = {"source": {"repository": "https://github.com/danijar/dreamerv3", "commit": args.commit,
                            "files": [], "bin_frames": args.bin,
                            "note": "mean over seeds of each seed's mean training return per bin; min/max over seeds"},
                 "suites": {}}
    for suite in SUITES:
        name = f"{suite}-dreamerv3.json.gz"
        runs = json.loads(gzip.decompress((args.scores / name).read_bytes()))
        out["source"]["files"].append(f"scores/{name}")
        tasks = sorted({r["task"] for r in runs})
        out["suites"][suite] = {"settings": SETTINGS[suite],
                                "tasks": {t: binned([r for r in runs if r["task"] == t], args.bin) for t in tasks}}
        print(f"{suite}: {len(tasks)} tasks, {len(runs)} runs")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, separators=(",", ":")) + "\n")
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} kB)")


if __name__ == "__main__":
    main()
