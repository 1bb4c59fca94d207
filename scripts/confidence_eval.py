"""Does the re-encoding KL (dreamer_core.confidence) flag the imagined steps where the open loop is wrong?

The model is a model-only checkpoint (`--model`: a snapshot `u*.ckpt`, a `watch.ckpt` or a shipped model
directory), read with dreamer_core.models; it has no replay, so its own policy collects `--episodes` fresh real
episodes (no updates), as the app does for a shipped model. Without `--model` a run of `--task`/`--preset` is
trained briefly from scratch instead (no run directory) and its replay is used.

Reports are made on non-overlapping windows inside episodes (16 context + 16 open-loop steps by default, as a
model card's evaluation). Pooled over every open-loop step of every window: the re-encoding KL of the step and the
open-loop pixel error (mean squared error against the real frame, 0-255 scale). Printed (and written to `--out`,
the arrays to an .npz beside it): Pearson and Spearman correlations; the step-index baseline (error grows with the
horizon), the rank correlation with the step held fixed (partial) and within each step, with 95% intervals from
resampling windows; per threshold the share flagged, precision, recall and F1 for "error above the pooled 75th
percentile"; the rule for THRESHOLD: the threshold that maximises that F1 among those flagging at most as many
steps as are high (25%), and the step index's best under the same rule.

    nice -n 10 .venv/bin/python scripts/confidence_eval.py \\
        --model runs/cartpole_balance_vision_size1m_ratio256_snapshots/u0002856.ckpt --episodes 8 \\
        --out confidence.json
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from dreamer_core import confidence, models
from dreamer_core.config import Config, make_config
from dreamer_core.report import make_report
from dreamer_core.trainer import Trainer

HIGH_PERCENTILE = 75  # "high open-loop error": above this percentile of the pooled error (a useless flag: 0.25)


def model_trainer(path: str, seed: int, report_length: int, replay_size: int) -> Trainer:
    """A trainer without a logdir holding the model-only checkpoint at `path` (a file or a model directory), on the
    CPU, with an empty replay of `replay_size` steps."""
    file = Path(path) if Path(path).is_file() else models.resolve(path) / models.MODEL_FILE
    state = models.read_model(file)
    config = Config.from_dict(json.loads(state["config"]))
    run = replace(config.run, device="cpu", compile=False, seed=seed, report_length=report_length,
                  replay_size=replay_size, envs=1, parallel=False, threads=1)
    trainer = Trainer(replace(config, run=run), None)
    models.load_into(trainer, state, file)
    return trainer


def stream(trainer: Trainer, key: str) -> np.ndarray:
    """`key` over the first env's stream as replay holds it (steps,), from its first step (nothing overwritten)."""
    rep = trainer.replay
    if rep.counts[0] > rep.cap:
        raise ValueError(f"replay overwrote its oldest steps ({rep.counts[0]} > {rep.cap}): raise its size")
    return rep.data[key][: rep.counts[0]]


def collect_episodes(trainer: Trainer, episodes: int, max_steps: int) -> None:
    """The model's policy acts until `episodes` episodes have ended (or `max_steps` steps), storing every step."""
    while len(stream(trainer, "is_last")) < max_steps and int(stream(trainer, "is_last").sum()) < episodes:
        models.collect(trainer, 50)


def window_starts(is_first: np.ndarray, length: int) -> list[int]:
    """Starts of non-overlapping windows of `length` steps, none of whose steps after the first begins an
    episode: `is_first` (steps,) of one worker's stream, from its first step."""
    starts, t = [], 0
    while t + length <= len(is_first):
        crossing = np.flatnonzero(is_first[t + 1 : t + length])
        if crossing.size:
            t += 1 + int(crossing[0])  # the next window begins on the episode's first step
            continue
        starts.append(t)
        t += length
    return starts


def measure(trainer: Trainer, starts: list[int], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A report per window start: the open loop's re-encoding KL and pixel error, each (windows, H)."""
    length = trainer.config.run.report_length + trainer.config.train.replay_context
    signal, error = [], []
    for i, start in enumerate(starts):
        window = trainer.replay._gather(np.array([0]), np.array([start]), length)
        batch = {k: v for k, v in window.items() if k != "index"}
        r = make_report(trainer.agent, batch, seed=seed + i, samples=1, updates=trainer.agent.updates)
        real = r.real[r.context_len :].astype(np.float32)  # (H, h, w, 3)
        error.append(((r.openloop.astype(np.float32) - real) ** 2).mean((1, 2, 3)))  # (H,)
        signal.append(r.imagined_recheck[0, : len(error[-1])])  # (H,)
    return np.stack(signal), np.stack(error)


def summarise(signal: np.ndarray, error: np.ndarray) -> dict:
    """The statistics of signal vs error, both (windows, H): correlations, the step baseline, thresholds."""
    step = np.broadcast_to(np.arange(1, signal.shape[1] + 1), signal.shape)  # (windows, H) imagined step 1..H
    high = error > np.percentile(error, HIGH_PERCENTILE)
    percentiles = [confidence.flag_scores(signal, high, float(np.percentile(signal, q))) | dict(percentile=q)
                   for q in (50, 60, 70, 75, 80, 90, 95)]

    def partial(s: np.ndarray, e: np.ndarray) -> float:
        return confidence.partial_spearman(s, e, step)

    return dict(
        windows=int(signal.shape[0]), horizon=int(signal.shape[1]), steps=int(signal.size),
        pearson=confidence.pearson(signal, error), spearman=confidence.spearman(signal, error),
        spearman_95=confidence.window_interval(confidence.spearman, signal, error),
        partial_95=confidence.window_interval(partial, signal, error),
        within_step_95=confidence.window_interval(confidence.within_step_spearman, signal, error),
        step_spearman_error=confidence.spearman(step, error), step_spearman_signal=confidence.spearman(step, signal),
        partial_spearman_given_step=confidence.partial_spearman(signal, error, step),
        within_step_spearman=confidence.within_step_spearman(signal, error),
        signal_median=float(np.median(signal)), signal_p25_p75=np.percentile(signal, [25, 75]).tolist(),
        error_median=float(np.median(error)), high_error_above=float(np.percentile(error, HIGH_PERCENTILE)),
        per_step=[dict(step=i + 1, signal=float(signal[:, i].mean()), error=float(error[:, i].mean()))
                  for i in range(signal.shape[1])],
        percentile_thresholds=percentiles,
        current_threshold=confidence.flag_scores(signal, high, confidence.THRESHOLD),
        best_f1=confidence.best_f1_threshold(signal, high, max_flagged=float(high.mean())),
        step_baseline_best_f1=confidence.best_f1_threshold(step, high, max_flagged=float(high.mean())))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=None, help="a model-only checkpoint or model directory (else: train one)")
    ap.add_argument("--episodes", type=int, default=3, help="with --model: fresh episodes to collect")
    ap.add_argument("--context", type=int, default=models.EVAL_CONTEXT, help="context steps (= open-loop steps)")
    ap.add_argument("--task", default="dummy_disc")
    ap.add_argument("--preset", default="debug")
    ap.add_argument("--updates", type=int, default=300, help="without --model: updates to train")
    ap.add_argument("--max-minutes", type=float, default=12.0, help="without --model: a cap on training")
    ap.add_argument("--seed", type=int, default=models.EVAL_SEED)
    ap.add_argument("--out", default=None, help="a JSON file for the figures")
    args = ap.parse_args()
    torch.set_num_threads(1)
    began = time.time()
    length = 2 * args.context
    if args.model:
        trainer = model_trainer(args.model, args.seed, length, replay_size=args.episodes * 1000 + 1000)
        collect_episodes(trainer, args.episodes, max_steps=args.episodes * 1000)
        source = dict(model=args.model)
    else:
        config = make_config(args.task, "vision", args.preset,
                             {"run": {"device": "cpu", "seed": args.seed, "report_length": length}})
        trainer = Trainer(config)
        while trainer.updates < args.updates and time.time() - began < args.max_minutes * 60:
            trainer.step()
        source = dict(trained_from_scratch=True)
    prepared_s = time.time() - began
    starts = window_starts(stream(trainer, "is_first"), length + trainer.config.train.replay_context)
    signal, error = measure(trainer, starts, args.seed)
    out = dict(**source, task=trainer.config.env.task, preset=trainer.config.preset, updates=trainer.agent.updates,
               env_frames=trainer.counters.env_frames, episodes=int(stream(trainer, "is_last").sum()),
               real_steps=len(stream(trainer, "is_last")), seed=args.seed, prepared_s=round(prepared_s, 1),
               measured_s=round(time.time() - began - prepared_s, 1), **summarise(signal, error))
    print(json.dumps(out, indent=1))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(out, f, indent=1)
        np.savez_compressed(Path(args.out).with_suffix(".npz"), signal=signal, error=error)  # (windows, H) each
    trainer.close()


if __name__ == "__main__":
    main()
