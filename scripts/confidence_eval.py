"""Does the re-encoding KL (dreamer_core.confidence) flag the imagined steps where the open loop is wrong?

Trains a run briefly (no run directory), then makes reports on random replay windows with the final weights and
pools, over every open-loop step of every report, the re-encoding KL and the open-loop pixel error (mean squared
error against the real frame, 0-255 scale). Prints the Pearson and Spearman correlations and, per threshold, the
share of steps flagged, the precision (flagged steps whose error is above the pooled median) and the recall.

    nice -n 19 .venv/bin/python scripts/confidence_eval.py --task dummy_disc --preset debug --updates 300
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from dreamer_core import confidence
from dreamer_core.config import make_config
from dreamer_core.report import make_report
from dreamer_core.run import Trainer


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--task", default="dummy_disc")
    ap.add_argument("--preset", default="debug")
    ap.add_argument("--updates", type=int, default=300)
    ap.add_argument("--max-minutes", type=float, default=12.0)
    ap.add_argument("--reports", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)
    config = make_config(args.task, "vision", args.preset, {"run": {"device": "cpu", "seed": args.seed}})
    trainer = Trainer(config)
    began = time.time()
    while trainer.updates < args.updates and time.time() - began < args.max_minutes * 60:
        trainer.step()
    trained_s = time.time() - began
    length = config.run.report_length + config.train.replay_context
    rng = np.random.default_rng(args.seed)
    rep = trainer.replay
    kls, errs, truth_kls = [], [], []
    for i in range(args.reports):
        worker, start = rep._uniform(1)
        start = np.minimum(start, rep.counts[worker] - length)  # a whole window inside what is stored
        batch = {k: v for k, v in rep._gather(worker, start, length).items() if k != "index"}
        r = make_report(trainer.agent, batch, seed=int(rng.integers(1 << 30)), updates=trainer.updates)
        ctx = r.context_len
        real = r.real[ctx:].astype(np.float32)  # (L - Lc, H, W, 3)
        err = ((r.openloop.astype(np.float32) - real) ** 2).mean((1, 2, 3))  # (L - Lc,)
        kls.append(r.imagined_recheck[0, : len(err)])
        errs.append(err)
    kl, err = np.concatenate(kls), np.concatenate(errs)
    rank = lambda x: np.argsort(np.argsort(x))  # noqa: E731
    high = err > np.median(err)
    rows = []
    for q in (50, 60, 70, 75, 80, 90):
        th = float(np.percentile(kl, q))
        flag = kl > th
        prec = float(high[flag].mean()) if flag.any() else float("nan")
        rec = float(flag[high].mean())
        rows.append(dict(percentile=q, threshold=th, flagged=float(flag.mean()), precision=prec, recall=rec))
    fixed = []
    for th in (1.0, 2.0, 3.0, 5.0):
        flag = kl > th
        fixed.append(dict(threshold=th, flagged=float(flag.mean()),
                          precision=float(high[flag].mean()) if flag.any() else float("nan"),
                          recall=float(flag[high].mean())))
    out = dict(task=args.task, preset=args.preset, updates=trainer.updates, env_frames=trainer.counters.env_frames,
               trained_s=round(trained_s, 1), reports=args.reports, steps=int(len(kl)),
               pearson=confidence.pearson(kl, err), spearman=confidence.pearson(rank(kl), rank(err)),
               kl_mean=float(kl.mean()), kl_median=float(np.median(kl)), err_median=float(np.median(err)),
               percentile_thresholds=rows, fixed_thresholds=fixed)
    print(json.dumps(out, indent=1))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(out, f, indent=1)
    trainer.close()


if __name__ == "__main__":
    main()
