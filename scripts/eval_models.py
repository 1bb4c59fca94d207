"""Measures trained models, and optionally an untrained agent of the first one's config, over several fresh
episodes: the model card's two checks (models.evaluate), repeated over seeds, since one episode is noisy.

    .venv/bin/python scripts/eval_models.py assets/models/cartpole_balance_vision runs/<run>/watch.ckpt \\
        --untrained --seeds 10 --first-seed 100

A model is a model directory, a shipped name or a model-only file (a run's watch.ckpt). Per model it prints the
mean, min and max of the return of each episode's first --steps policy steps from a fresh reset, and the mean and
median of the open-loop image error (16 imagined steps under the true actions after 16 context steps; none for a
proprio model). One torch thread: it runs beside training.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def model_dir(source: str, scratch: Path) -> Path:
    """A directory holding the model: itself, a shipped one, or a model-only file copied into `scratch`."""
    from dreamer_core import models

    path = Path(source)
    if path.is_file():
        models.read_model(path)  # a training checkpoint is refused here, in one line
        target = scratch / f"{len(list(scratch.iterdir()))}"
        target.mkdir()
        shutil.copy(path, target / models.MODEL_FILE)
        return target
    return models.resolve(path)


def measure(steps: int, seeds: range, **where) -> tuple[np.ndarray, list[float]]:
    """(returns (S,), open-loop errors) over the seeds, for models.eval_trainer(**where)."""
    from dreamer_core import models

    returns, errors = [], []
    for seed in seeds:
        trainer = models.eval_trainer(seed=seed, **where)
        try:
            evaluation = models.evaluate(trainer, steps)
        finally:
            trainer.close()
        returns.append(evaluation.eval_return)
        if evaluation.openloop_mse is not None:
            errors.append(evaluation.openloop_mse)
    return np.array(returns), errors


def line(name: str, returns: np.ndarray, errors: list[float], steps: int) -> str:
    text = (f"{name}: return over {steps} steps mean {returns.mean():.1f} (min {returns.min():.1f}, max "
            f"{returns.max():.1f}, {len(returns)} episodes)")
    if errors:
        text += f"; open-loop MSE mean {np.mean(errors):.5f}, median {np.median(errors):.5f}"
    return text


def run(args: argparse.Namespace) -> int:
    import torch

    from dreamer_core import models
    from dreamer_core.config import Config

    torch.set_num_threads(1)
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    with tempfile.TemporaryDirectory() as scratch:
        dirs = [model_dir(source, Path(scratch)) for source in args.models]
        for source, directory in zip(args.models, dirs):
            card_updates = models.read_model(directory)["agent"]["updates"]
            returns, errors = measure(args.steps, seeds, model_dir=directory)
            print(line(f"{source} ({card_updates:,} updates)", returns, errors, args.steps), flush=True)
        if args.untrained:
            config = Config.from_dict(json.loads(models.read_model(dirs[0])["config"]))
            returns, errors = measure(args.steps, seeds, config=config)
            print(line("untrained agent of the same config", returns, errors, args.steps), flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+", help="model directories, shipped names or model-only files")
    parser.add_argument("--untrained", action="store_true", help="also an untrained agent of the first model's config")
    parser.add_argument("--seeds", type=int, default=10, help="episodes per model, one env seed each")
    parser.add_argument("--first-seed", type=int, default=100, help="the first env seed (the card's is 12345)")
    parser.add_argument("--steps", type=int, default=200, help="policy steps per episode (the card's: 200)")
    args = parser.parse_args(argv)
    from dreamer_studio.cli import report_user_errors

    return report_user_errors("eval_models", run, args)


if __name__ == "__main__":
    sys.exit(main())
