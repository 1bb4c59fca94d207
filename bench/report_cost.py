"""Wall time of one `make_report` (what the app pays per report) on model-only checkpoints, 1 torch thread.

    nice -n 10 .venv/bin/python bench/report_cost.py --model runs/.../u0004728.ckpt [--model ...] [--repeats 5]

Each model's own policy collects a window of real steps (no updates); the report is made on it `--repeats` times
after a warm-up, with the app's defaults (K = 3 dreams, horizon = the open loop's). Prints the median and the
spread of the wall times per model as JSON. Not a test: the figures depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")

import torch

from dreamer_core import models
from dreamer_core.report import make_report

ROOT = Path(__file__).resolve().parents[1]


def _confidence_eval():
    """scripts/confidence_eval.py as a module: its `model_trainer` reads a model-only checkpoint onto the CPU."""
    spec = importlib.util.spec_from_file_location("confidence_eval", ROOT / "scripts" / "confidence_eval.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", action="append", required=True, help="a model-only checkpoint or model directory")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--samples", type=int, default=3, help="K dreams (the app's default)")
    ap.add_argument("--length", type=int, default=2 * models.EVAL_CONTEXT, help="report steps T (context + open loop)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    script = _confidence_eval()
    out = {}
    for path in args.model:
        trainer = script.model_trainer(path, seed=0, report_length=args.length, replay_size=1000)
        try:
            window = args.length + trainer.config.train.replay_context
            models.collect(trainer, window + 2)
            batch = trainer.replay.recent(window)
            make_report(trainer.agent, batch, seed=0, samples=args.samples)  # warm-up
            times = []
            for i in range(args.repeats):
                began = time.perf_counter()
                make_report(trainer.agent, batch, seed=i, samples=args.samples)
                times.append(time.perf_counter() - began)
            out[path] = dict(preset=trainer.config.preset, median_s=round(statistics.median(times), 3),
                             min_s=round(min(times), 3), max_s=round(max(times), 3), repeats=args.repeats,
                             samples=args.samples, steps=args.length)
        finally:
            trainer.close()
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
