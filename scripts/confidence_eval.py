"""Which per-step signal flags the imagined steps where the open loop is wrong (dreamer_core.confidence)?

The model is a model-only checkpoint (`--model`: a snapshot `u*.ckpt`, a `watch.ckpt` or a shipped model
directory), read with dreamer_core.models; it has no replay, so its own policy collects `--episodes` fresh real
episodes (no updates), as the app does for a shipped model. The collected stream is cached under `--cache` (keyed
by the model file, seed and episode count), so the candidates can be measured again without collecting. Without
`--model` a run of `--task`/`--preset` is trained briefly from scratch instead (no run directory, no cache).

Reports are made on non-overlapping windows inside episodes (16 context + 16 open-loop steps by default, as a
model card's evaluation). For every open-loop step of every window: the open-loop pixel error (mean squared error
against the real frame, 0-255 scale) and each candidate signal of `CANDIDATES`. Per candidate, pooled over the
steps (written to `--out`, the arrays to an .npz beside it): Pearson and Spearman correlations; the step-index
baseline (error grows with the horizon), the rank correlation with the step held fixed (partial) and within each
step, with 95% intervals from resampling windows; per threshold the share flagged, precision, recall and F1 for
"error above the pooled 75th percentile"; the rule for THRESHOLD: the threshold that maximises that F1 among those
flagging at most as many steps as are high (25%), and the step index's best under the same rule. A vector (proprio)
model decodes no frames: its error is the open-loop vector's squared error, each dimension scaled by the real vector's
spread over the report (confidence.vector_error; with `--stream-scale` over every real vector replay holds, the
fixed scale the app's reports use), and `VECTOR_CANDIDATES` replace the pixel ones. The open loop's extra futures
and its distance to them come from the core (report.openloop_ensemble, report.openloop_signal), so the candidate
`ensemble_dist_to_openloop` (`ensemble_vector_dist_to_openloop` on vectors) is checked to be the app's
Report.openloop_signal wherever the report carries one.

    nice -n 10 .venv/bin/python scripts/confidence_eval.py \\
        --model runs/cartpole_balance_vision_size1m_ratio256_snapshots/u0002856.ckpt --episodes 8 \\
        --out confidence.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from dreamer_core import confidence, models
from dreamer_core.config import Config, make_config
from dreamer_core.report import imagine_from, make_report, openloop_ensemble, openloop_signal
from dreamer_core.rssm import Latent
from dreamer_core.trainer import Trainer

HIGH_PERCENTILE = 75  # "high open-loop error": above this percentile of the pooled error (a useless flag: 0.25)
STRIP_SIGNAL = "dream_pixel_var"  # the dreams' signal the strip shows (confidence.spread)
VECTOR_SIGNAL = "dream_vector_var"  # its counterpart for a vector model (confidence.vector_spread), not shown
OPENLOOP_SIGNAL = "ensemble_dist_to_openloop"  # the open loop's signal the strip shows (Report.openloop_signal)
OPENLOOP_VECTOR_SIGNAL = "ensemble_vector_dist_to_openloop"  # on vectors: shown on the replay's scale
# The candidates the strip shows, scored at the threshold it flags them over (the JSON's `current_threshold`).
SHOWN = {STRIP_SIGNAL: confidence.THRESHOLD, OPENLOOP_SIGNAL: confidence.OPENLOOP_THRESHOLD,
         OPENLOOP_VECTOR_SIGNAL: confidence.OPENLOOP_VECTOR_THRESHOLD}

CANDIDATES = {  # name -> what it is, per open-loop step (the JSON carries these descriptions)
    "recheck_kl": "re-encoding KL[q(z | h, enc(dec(h, z))) || p(z | h)] of the open-loop step, nats (the strip's "
                  "signal before this measurement)",
    "recheck_kl_per_context_kl": "recheck_kl divided by the window's mean observed KL over its context steps (the "
                                 "model's own scale)",
    "context_kl": "the window's mean observed KL over its context steps, nats (one value per window)",
    "prior_entropy": "entropy of the prior p(z | h) at the open-loop step, nats summed over latents",
    "ensemble_pixel_var": "K more futures under the true actions from the same start: variance of their decoded "
                          "frames across the K, mean over pixels (0-255 scale)",
    "ensemble_dist_to_openloop": "mean squared distance of those K frames to the open-loop frame (0-255 scale)",
    "ensemble_feature_var": "variance of those K futures' features (deter ++ stoch) across the K, mean over F",
    "ensemble_reward_std": "standard deviation of those K futures' predicted rewards",
    "dream_pixel_var": "the report's K policy-sampled dreams from the same start (the strip's dreams): variance "
                       "of their decoded frames across the K, mean over pixels (0-255 scale)",
    "reencode_pixel_error": "decode, encode, decode the posterior's mode: mean squared difference of the two "
                            "decoded frames (0-255 scale)",
}
# A vector model decodes no frames: these replace the four pixel candidates (scaled as confidence.vector_spread).
VECTOR_CANDIDATES = {
    "ensemble_vector_var": "K more futures under the true actions from the same start: variance of their decoded "
                           "vectors across the K, per dimension over the real vector's variance, mean over V",
    "ensemble_vector_dist_to_openloop": "mean normalised squared distance of those K vectors to the open loop's",
    "dream_vector_var": "the report's K policy-sampled dreams from the same start: confidence.vector_spread",
}


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


def cache_file(cache: str, model: str, seed: int, episodes: int) -> Path:
    """Where the stream collected by `model` (its bytes' hash) with `seed` for `episodes` episodes is cached."""
    file = Path(model) if Path(model).is_file() else models.resolve(model) / models.MODEL_FILE
    digest = hashlib.sha256(file.read_bytes()).hexdigest()[:16]
    return Path(cache) / f"{file.stem}_{digest}_seed{seed}_ep{episodes}.npz"


def save_stream(trainer: Trainer, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **{k: stream(trainer, k) for k in trainer.replay.data})
    tmp.rename(path)


def load_stream(trainer: Trainer, path: Path) -> None:
    """Fills the trainer's empty replay with a cached stream (every key replay stores, first env)."""
    with np.load(path) as cached:
        n = len(cached["is_first"])
        if n > trainer.replay.cap:
            raise ValueError(f"the cached stream ({n} steps) is longer than replay ({trainer.replay.cap})")
        for key, arr in trainer.replay.data.items():
            arr[:n] = cached[key]
    trainer.replay.counts[0] = n


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


def mean_square(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(..., H, h, w, 3) frames -> (..., H) mean squared difference (0-255 scale)."""
    return ((a.astype(np.float32) - b.astype(np.float32)) ** 2).mean((-3, -2, -1))


@torch.no_grad()
def reencode_pixel_error(agent, features: np.ndarray) -> np.ndarray:
    """(H, F) imagined features -> (H,): decode, encode the uint8 frame, decode the posterior's mode; the mean
    squared difference of the two decoded frames of the first image key (0-255 scale)."""
    m = agent.config.model
    feat = torch.as_tensor(features, device=agent.device)
    states = Latent(feat[:, : m.deter], feat[:, m.deter :].reshape(-1, m.stoch, m.classes))  # (H, D), (H, S, C)
    out, post = confidence.reencoded(agent, states)
    mode = torch.nn.functional.one_hot(post.argmax(-1), m.classes).to(feat.dtype)  # (H, S, C)
    key = agent.image_keys[0]
    again = agent.decoder(states.deter, mode.flatten(-2))[key]  # (H, h, w, c)
    first = (out[key].float().clamp(0, 1) * 255 + 0.5).floor()
    second = (again.float().clamp(0, 1) * 255 + 0.5).floor()
    return ((first - second) ** 2).mean((1, 2, 3)).cpu().numpy()


def candidate_signals(agent, report, batch: dict[str, np.ndarray], seed: int, samples: int,
                      scale_from: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Every candidate of `CANDIDATES` (`VECTOR_CANDIDATES` for a vector model) for the open-loop steps of one report
    (made with `samples` dreams and `recheck=True`): name -> (H,). Vectors are scaled by the spread of `scale_from`
    (N, V), by default the report's real vectors. The open loop's extra futures and its signal are the report's own
    (`openloop_ensemble`, `openloop_signal`): where the report carries the signal, the two must agree."""
    ctx, horizon = report.context_len, len(report.openloop_vectors if report.openloop is None else report.openloop)
    k = agent.config.train.replay_context
    actions = torch.as_tensor(batch["action"][0, k + ctx - 1 : k + ctx - 1 + horizon], device=agent.device)  # (H, A)
    openloop = imagine_from(agent, report.start, horizon, seed, 1, actions)
    pixels = report.openloop is not None
    same = (np.array_equal(openloop.frames[0], report.openloop) if pixels
            else np.array_equal(openloop.vectors[0], report.openloop_vectors))
    if not same:
        raise AssertionError("the re-imagined open loop differs from the report's: seeds or actions do not match")
    ensemble = openloop_ensemble(agent, report.start, actions, seed, samples)
    real = report.real_vectors if scale_from is None else scale_from  # (T or N, V): every vector candidate's scale
    to_openloop = openloop_signal(openloop, ensemble, None if pixels else confidence.vector_scale(real)[1])  # (H,)
    if report.openloop_signal is not None and not np.array_equal(report.openloop_signal, to_openloop):
        raise AssertionError("the report's open-loop signal differs from the one measured here")
    recheck = report.imagined_recheck[0, :horizon]  # (H,)
    context = float(confidence.observed_kl(report.kl)[:ctx].mean())
    prior = openloop.latent_probs[0].astype(np.float64)  # (H, S, C)
    common = dict(
        recheck_kl=recheck, recheck_kl_per_context_kl=recheck / context, context_kl=np.full(horizon, context),
        prior_entropy=-(prior * np.log(np.clip(prior, 1e-12, None))).sum((1, 2)),
        ensemble_feature_var=ensemble.features.var(0).mean(-1), ensemble_reward_std=ensemble.rewards.std(0))
    if not pixels:
        return common | dict(
            ensemble_vector_var=confidence.vector_spread(ensemble.vectors, real),
            ensemble_vector_dist_to_openloop=to_openloop,
            dream_vector_var=confidence.vector_spread(report.imagination.vectors, real))
    return common | dict(
        ensemble_pixel_var=confidence.spread(ensemble.frames),
        ensemble_dist_to_openloop=to_openloop,
        dream_pixel_var=confidence.spread(report.imagination.frames),
        reencode_pixel_error=reencode_pixel_error(agent, openloop.features[0]))


def measure(trainer: Trainer, starts: list[int], seed: int, samples: int,
            stream_scale: bool = False) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """A report per window start: each candidate signal and the open loop's error, each (windows, H): its pixel
    error, or for a model that decodes no frames its vectors' (confidence.vector_error), scaled by each report's
    real vectors or, with `stream_scale`, by every real vector replay holds (as the app's reports are:
    confidence.replay_vector_scale)."""
    length = trainer.config.run.report_length + trainer.config.train.replay_context
    vectors = sorted(trainer.agent.vector_dims)
    scale_from = (np.concatenate([stream(trainer, key) for key in vectors], -1)  # (steps, V)
                  if stream_scale and vectors else None)
    signals: dict[str, list[np.ndarray]] = {}
    error = []
    trainer.agent.eval()
    for i, start in enumerate(starts):
        window = trainer.replay._gather(np.array([0]), np.array([start]), length)
        batch = {k: v for k, v in window.items() if k != "index"}
        r = make_report(trainer.agent, batch, seed=seed + i, samples=samples, updates=trainer.agent.updates,
                        vector_scale=confidence.replay_vector_scale(trainer.replay, vectors) if stream_scale else None,
                        recheck=True)
        if r.openloop is not None:
            error.append(mean_square(r.openloop, r.real[r.context_len :]))  # (H,) against (H, h, w, 3)
        else:
            error.append(confidence.vector_error(r.openloop_vectors, r.real_vectors[r.context_len :],
                                                 r.real_vectors if scale_from is None else scale_from))
        for name, values in candidate_signals(trainer.agent, r, batch, seed + i, samples, scale_from).items():
            signals.setdefault(name, []).append(np.asarray(values, np.float64))
    return {name: np.stack(v) for name, v in signals.items()}, np.stack(error)


def summarise(signal: np.ndarray, error: np.ndarray, threshold: float | None = None) -> dict:
    """The statistics of signal vs error, both (windows, H): correlations, the step baseline, thresholds (and the
    flags at a fixed `threshold`, such as the strip's, when given)."""
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
        best_f1=confidence.best_f1_threshold(signal, high, max_flagged=float(high.mean())),
        step_baseline_best_f1=confidence.best_f1_threshold(step, high, max_flagged=float(high.mean())),
        **(dict(current_threshold=confidence.flag_scores(signal, high, threshold)) if threshold is not None else {}))


def table(candidates: dict[str, dict]) -> str:
    """One line per candidate: the figures that decide (correlations, intervals, the rule's pick)."""
    lines = [f"{'candidate':28} {'rho':>6} {'partial [95%]':>22} {'within [95%]':>22} {'P':>5} {'R':>5} step P"]
    for name, s in candidates.items():
        b, p, w = s["best_f1"], s["partial_95"], s["within_step_95"]
        lines.append(f"{name:28} {s['spearman']:6.3f} {s['partial_spearman_given_step']:6.3f} "
                     f"[{p[0]:6.3f},{p[1]:6.3f}] {s['within_step_spearman']:6.3f} [{w[0]:6.3f},{w[1]:6.3f}] "
                     f"{b['precision']:5.3f} {b['recall']:5.3f} {s['step_baseline_best_f1']['precision']:5.3f}")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=None, help="a model-only checkpoint or model directory (else: train one)")
    ap.add_argument("--episodes", type=int, default=3, help="with --model: fresh episodes to collect")
    ap.add_argument("--context", type=int, default=models.EVAL_CONTEXT, help="context steps (= open-loop steps)")
    ap.add_argument("--samples", type=int, default=8, help="K: futures drawn for the disagreement candidates")
    ap.add_argument("--cache", default="/tmp/confidence_eval_cache", help="with --model: collected streams")
    ap.add_argument("--task", default="dummy_disc")
    ap.add_argument("--preset", default="debug")
    ap.add_argument("--updates", type=int, default=300, help="without --model: updates to train")
    ap.add_argument("--max-minutes", type=float, default=12.0, help="without --model: a cap on training")
    ap.add_argument("--seed", type=int, default=models.EVAL_SEED)
    ap.add_argument("--out", default=None, help="a JSON file for the figures")
    ap.add_argument("--stream-scale", action="store_true",
                    help="vector models: scale every window by the real vector's spread over the whole collected "
                         "stream (replay), not each report's own, as the app's reports do (a check that the scale "
                         "signal and error share per window does not make their correlation)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    began = time.time()
    length = 2 * args.context
    if args.model:
        trainer = model_trainer(args.model, args.seed, length, replay_size=args.episodes * 1000 + 1000)
        cached = cache_file(args.cache, args.model, args.seed, args.episodes)
        if cached.exists():
            load_stream(trainer, cached)
        else:
            collect_episodes(trainer, args.episodes, max_steps=args.episodes * 1000)
            save_stream(trainer, cached)
        source = dict(model=args.model, stream_cache=str(cached))
    else:
        config = make_config(args.task, "vision", args.preset,
                             {"run": {"device": "cpu", "seed": args.seed, "report_length": length}})
        trainer = Trainer(config)
        while trainer.updates < args.updates and time.time() - began < args.max_minutes * 60:
            trainer.step()
        source = dict(trained_from_scratch=True)
    prepared_s = time.time() - began
    starts = window_starts(stream(trainer, "is_first"), length + trainer.config.train.replay_context)
    stream_scale = args.stream_scale and bool(trainer.agent.vector_dims)
    signals, error = measure(trainer, starts, args.seed, args.samples, stream_scale)
    candidates = {name: dict(description=(CANDIDATES | VECTOR_CANDIDATES)[name],
                             **summarise(signal, error, SHOWN.get(name)))
                  for name, signal in signals.items()}
    out = dict(**source, vector_scale="the whole stream" if stream_scale else "each report",
               task=trainer.config.env.task, preset=trainer.config.preset, updates=trainer.agent.updates,
               env_frames=trainer.counters.env_frames, episodes=int(stream(trainer, "is_last").sum()),
               real_steps=len(stream(trainer, "is_last")), seed=args.seed, samples=args.samples,
               prepared_s=round(prepared_s, 1), measured_s=round(time.time() - began - prepared_s, 1),
               error="pixel MSE (0-255)" if STRIP_SIGNAL in signals else "vector_error (normalised per dimension)",
               error_median=float(np.median(error)), high_error_above=float(np.percentile(error, HIGH_PERCENTILE)),
               candidates=candidates)
    print(table(candidates))
    print(json.dumps({k: v for k, v in out.items() if k != "candidates"}, indent=1))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(out, f, indent=1)
        np.savez_compressed(Path(args.out).with_suffix(".npz"), error=error, **signals)  # (windows, H) each
    trainer.close()


if __name__ == "__main__":
    main()
