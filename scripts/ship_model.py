"""Ships a training run's latest checkpoint as a trained model: a run directory with a model-only checkpoint.

    .venv/bin/python scripts/ship_model.py runs/cartpole_vision assets/models/cartpole_balance_vision \\
        --command "dreamer-studio train --headless --task dmc_cartpole_balance --obs vision ..."

writes config.json, model.ckpt (agent weights, return normaliser and counters; no replay, no optimizer state),
README.md (the model card) and preview.png (real frames over the open-loop dream) into the model directory.
`assets/models/<name>` (or a bare name) means the packaged directory dreamer_core/assets/models/<name>, which a
wheel carries as package data.

It then measures the model on a fresh episode (seed 12345) against an untrained agent of the same config and
writes thresholds between the two into the card, which tests/core/test_shipped_models.py checks: the open-loop
image error (16 context steps, 16 imagined under the true actions) and the return of the policy's first
episode from a fresh reset, cut at 200 steps (--eval-steps; CartPole's full episode is 500). A
check where the trained model is not clearly better than the untrained one is left out (null) and reported; a
model whose policy is not clearly better is refused, unless --world-model-only ships a pixel model for its world
model alone (its card and the start page then say that its policy is not trained).
Reading the run's checkpoint never writes to the run, so it is safe while that run trains.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MAX_MODEL_MB = 10.0
MAX_ASSETS_MB = 40.0
PREVIEW_LINES = {  # the card's preview caption: a vector model dreams vectors, so its strip has no dream row
    "vision": "\n![real frames (green) over the model's open-loop dream under the same actions (red)](preview.png)\n",
    "proprio": "\n![real frames of the evaluation episode, rendered for display only: this model reads state vectors "
               "and dreams vectors, not frames](preview.png)\n",
}
WORLD_MODEL_ONLY = """
**World model only: its policy is not trained yet.** Its return from a fresh reset ({eval_return:.1f} over
{eval_steps} steps) is no better than an untrained agent's ({untrained:.1f}); it ships to watch what its world model
sees and dreams, and its card checks the world model alone.
"""
OBS_TEXT = {"vision": "64×64 RGB pixels (camera 0)", "proprio": "proprioceptive state vectors"}


def out_dir(text: str) -> Path:
    """`assets/models/<name>` or `<name>` is the packaged models directory; any other path is used as given."""
    from dreamer_core import models

    parts = Path(text).parts
    if parts[: len(models.CLONE_PREFIX)] == models.CLONE_PREFIX and len(parts) == len(models.CLONE_PREFIX) + 1:
        return models.PACKAGE_MODELS / parts[-1]
    if len(parts) == 1:
        return models.PACKAGE_MODELS / parts[0]
    return Path(text)


def git_commit() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head.stdout.strip()


def size_mb(path: Path) -> float:
    if path.is_file():
        return path.stat().st_size / 2**20
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20


def began_text(f: dict) -> str:
    """The card's sentence on a run that began from a trained model (its origin.json), or nothing."""
    if not f.get("began_from"):
        return ""
    return (f"That run began from the trained model `{f['began_from']}` at {f['began_at_updates']:,} updates "
            f"({f['began_at_frames']:,} env frames) and took over its {f['began_kept']}.\n\n")


def origin_fields(logdir: Path) -> dict:
    """began_from / began_at_updates / began_at_frames / began_kept from the run's origin.json (none: {}). A
    packaged model is named as `assets/models/<name>/model.ckpt`, not by this machine's path."""
    from dreamer_core import models
    from dreamer_core.logdir import read_origin

    origin = read_origin(logdir)
    if origin is None:
        return {}
    source = Path(origin["source"])
    try:
        source = Path("assets/models") / source.resolve().relative_to(models.PACKAGE_MODELS.resolve())
    except ValueError:
        pass
    return {"began_from": source.as_posix(), "began_at_updates": int(origin["updates"]),
            "began_at_frames": int(origin["env_frames"]), "began_kept": str(origin.get("kept", ""))}


def card_body(f: dict, logdir: Path, untrained, preview: bool) -> str:
    name = f["name"]
    ol = "n/a (no images)" if f["openloop_mse"] is None else f"{f['openloop_mse']:.4g}"
    ol_u = "n/a" if untrained.openloop_mse is None else f"{untrained.openloop_mse:.4g}"
    only = WORLD_MODEL_ONLY.format(**f, untrained=untrained.eval_return) if f.get("world_model_only") else ""
    return f"""# {name}

DreamerV3 (preset `{f['preset']}`) trained on `{f['task']}` from {OBS_TEXT.get(f['obs'], f['obs'])}:
{f['env_frames']:,} env frames, {f['updates']:,} updates. Score {f['score']:.1f}: the mean return of its last
{f['score_episodes']} training episodes.
{only}{PREVIEW_LINES.get(f['obs'], PREVIEW_LINES['vision']) if preview else ''}
- Watch it: `dreamer-studio --open assets/models/{name}` (or pick it on the start page of `dreamer-studio`).
- Export its imagination: `dreamer-studio export --logdir assets/models/{name} --out {name}.mp4`.
- Model-only checkpoint (`model.ckpt`, {f['dtype']}): weights and counters; no replay and no optimizer state, so
  *Continue training* starts with an empty replay (and a fresh optimizer) in a new run directory.

Trained with (code version `{f['commit']}`):

```bash
{f['command']}
```

{began_text(f)}Shipped on {f['date']} from `{logdir}` by `scripts/ship_model.py`.

Checks (`tests/core/test_shipped_models.py`, a fresh episode with seed {f['eval_seed']}): the open-loop image error of
16 imagined steps after 16 context steps must stay below `openloop_max` = {json.dumps(f['openloop_max'])} (this model {ol},
an untrained one {ol_u}); the return of the first episode from a fresh reset, cut at {f['eval_steps']} steps, must
exceed `return_min` = {json.dumps(f['return_min'])} (this model {f['eval_return']:.1f}, an untrained one {untrained.eval_return:.1f}). A null
threshold means the trained model was not clearly better than an untrained one on that check.
"""


def ship(args: argparse.Namespace) -> int:
    import torch

    from dreamer_core import checkpoint, models
    from dreamer_core.agent import model_keys
    from dreamer_core.config import Config
    from dreamer_core.envs import make_env

    torch.set_num_threads(1)  # shipping runs beside training runs
    logdir, out = Path(args.logdir), out_dir(args.out)
    ckpt = checkpoint.latest(logdir)
    if ckpt is None:
        raise models.ModelError(f"{logdir} holds no checkpoint (*.ckpt); pass the run directory of a training run")
    if out.exists() and any(out.iterdir()) and not args.force:
        raise models.ModelError(f"{out} already holds files; pass --force to replace that model")
    full = checkpoint.load(ckpt, map_location="cpu")
    config = Config.from_dict(json.loads(full["config"]))
    env = make_env(config.env, 0)  # the model's vector keys, from the env's observation space
    try:
        vector_keys = sorted(model_keys(env.obs_space)[0])
    finally:
        env.close()
    state = models.model_state(full, fp16=args.fp16, vector_scale=models.training_scale(full["replay"], vector_keys))
    if args.display_frames and config.env.obs == "proprio" and not config.env.log_image:
        # Display only: the model reads the state vectors either way, and a viewer's replay starts empty
        config = replace(config, env=replace(config.env, log_image=True))
        state["config"] = config.to_json()
    staging = out.with_name(f".{out.name}.staging")  # written whole, then swapped in: no half-shipped model
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        (staging / "config.json").write_text(config.to_json())
        checkpoint.save(staging / models.MODEL_FILE, state)
        model_mb = size_mb(staging / models.MODEL_FILE)
        if model_mb > MAX_MODEL_MB:
            hint = "" if args.fp16 else "; pass --fp16 to halve it"
            raise models.ModelError(f"the model is {model_mb:.1f} MB, over the {MAX_MODEL_MB:.0f} MB limit{hint}")
        print(f"evaluating on a fresh episode (seed {models.EVAL_SEED}): the model, then an untrained one …",
              flush=True)
        args.eval_steps = args.eval_steps or models.EVAL_STEPS
        trained = _evaluate(models, args.eval_steps, model_dir=staging)
        untrained = _evaluate(models, args.eval_steps, config=config)
        picked = models.pick_thresholds(trained, untrained)
        if args.openloop_max is not None:
            picked["openloop_max"] = args.openloop_max
        if args.return_min is not None:
            picked["return_min"] = args.return_min
        scores = [s[1] for s in state["scores"]][-10:]
        counters = state["counters"]
        fields = {
            "name": out.name, "kind": models.KIND, "model_version": models.MODEL_VERSION,
            "task": config.env.task, "obs": config.env.obs, "preset": config.preset,
            "env_frames": int(counters.get("env_frames", 0)), "updates": state["agent"]["updates"],
            "score": round(sum(scores) / len(scores), 1) if scores else None, "score_episodes": len(scores),
            "command": args.command, "commit": args.commit or git_commit(),
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"), "dtype": state["dtype"],
            "eval_seed": models.EVAL_SEED, "eval_steps": args.eval_steps,
            "openloop_mse": None if trained.openloop_mse is None else round(trained.openloop_mse, 6),
            "eval_return": round(trained.eval_return, 2), "untrained_return": round(untrained.eval_return, 2),
            **picked, **origin_fields(logdir),
        }
        if fields["score"] is None:
            fields["score"] = 0.0
        if args.world_model_only:
            if fields["openloop_max"] is None:
                raise models.ModelError("--world-model-only ships a model for its world model, but this one's "
                                        "open-loop image error is not clearly below an untrained agent's (or it "
                                        "sees no images), so its card would check nothing; train it longer")
            if fields["return_min"] is None:
                fields["world_model_only"] = True
            else:
                print("  its policy beats an untrained one's after all: shipped as a full model, not world-model-only")
        elif fields["return_min"] is None:
            raise models.ModelError(
                f"the policy's return {trained.eval_return:.1f} is not clearly above an untrained agent's "
                f"{untrained.eval_return:.1f} over {args.eval_steps} steps; train it longer, or pass "
                "--world-model-only to ship a pixel model for its world model (its card and the start page say so)")
        strip = models.preview(trained.report)
        if strip is not None:
            import imageio.v3 as iio

            iio.imwrite(staging / models.PREVIEW_FILE, strip)
        models.write_card(staging, fields, card_body(fields, logdir, untrained, strip is not None))
        if out.exists():
            shutil.rmtree(out)
        os.replace(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    total = size_mb(models.PACKAGE_MODELS.parent) if models.PACKAGE_MODELS.is_dir() else 0.0
    print(f"shipped {out} ({model_mb:.1f} MB): {models.read_card(out).summary()}")
    print(f"  open-loop error {trained.openloop_mse} (untrained {untrained.openloop_mse}) -> openloop_max "
          f"{fields['openloop_max']}; return {trained.eval_return:.1f} (untrained {untrained.eval_return:.1f}) -> "
          f"return_min {fields['return_min']}")
    for key in ("openloop_max", "return_min"):
        if key == "openloop_max" and trained.openloop_mse is None:
            print("  no openloop_max: this model sees no images (its card checks the return only)")
        elif fields[key] is None:
            print(f"  warning: no {key}: the model is not clearly better than an untrained one on that check")
    if total > MAX_ASSETS_MB:
        print(f"  warning: the packaged assets now hold {total:.1f} MB, over the {MAX_ASSETS_MB:.0f} MB budget")
    return 0


def _evaluate(models, steps: int, **kwargs):
    trainer = models.eval_trainer(**kwargs)
    try:
        return models.evaluate(trainer, steps)
    finally:
        trainer.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("logdir", help="the training run's directory (its newest *.ckpt is shipped)")
    parser.add_argument("out", help="assets/models/<name> (packaged), or any directory")
    parser.add_argument("--command", required=True, help="the exact command that trained the run (for the card)")
    parser.add_argument("--commit", default=None, help="code version that trained it (default: this clone's HEAD)")
    parser.add_argument("--fp16", action="store_true", help="store the weights as float16 (half the size)")
    parser.add_argument("--openloop-max", type=float, default=None, help="override the picked image-error threshold")
    parser.add_argument("--return-min", type=float, default=None, help="override the picked return threshold")
    parser.add_argument("--force", action="store_true", help="replace a model already in OUT")
    parser.add_argument("--display-frames", action="store_true",
                        help="a proprio run trained with env.log_image=false: render the env's frames when the "
                             "model is watched (display only; the model reads the state vectors)")
    parser.add_argument("--world-model-only", action="store_true",
                        help="ship a pixel model whose policy is not better than an untrained one's, to watch its "
                             "world model; the card (world_model_only: true) and the start page say so")
    parser.add_argument("--eval-steps", type=int, default=None,
                        help="policy steps of the return check: the first episode's return is cut there (default "
                             "models.EVAL_STEPS, 200; 500 holds a whole CartPole-v1 episode)")
    args = parser.parse_args(argv)
    from dreamer_studio.cli import report_user_errors

    return report_user_errors("ship_model", ship, args)


if __name__ == "__main__":
    sys.exit(main())
